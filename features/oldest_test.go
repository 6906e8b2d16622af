package features

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// TestOldest: Extractor.Oldest is the oldest evaluation time whose whole
// history the in-memory window still holds. Evaluations from there on
// give what an unbounded window gives; Oldest follows the longest
// expression (a reload that adds a longer range raises it), and is not
// known while nothing is held.
func TestOldest(t *testing.T) {
	const minute = 60 * sec
	short := Config{Features: []Feature{{Name: "temp", Expr: `max by (${entity}) (temp)`}}}
	long := Config{Features: []Feature{
		{Name: "temp", Expr: `max by (${entity}) (temp)`},
		{Name: "temp_rise", Expr: `max by (${entity}) (delta(temp[10m]))`},
	}}
	reg := prometheus.NewRegistry()
	h := newTestHead(t, reg, HeadOptions{}) // lookback 15m
	e := newTestExtractor(t, h, reg, short)
	if o, ok := e.Oldest(); ok {
		t.Fatalf("Oldest %v with nothing held, want not ok", o)
	}
	// 40 minutes of one pod's temperature, rising by one a step.
	pod := labels.FromStrings("__name__", "temp", "namespace", "ns", "pod", "a")
	ss := series(pod, base, 161, func(k int) float64 { return float64(k) })
	appendAll(t, h, ss)
	newest := ss[len(ss)-1].T
	// Instant selectors read the 5m lookback delta: (t-5m, t].
	if o, ok := e.Oldest(); !ok || o != newest-10*minute {
		t.Errorf("Oldest %v, %v; want %v (15m window, 5m lookback delta)", o, ok, newest-10*minute)
	}
	if err := e.SetConfig(long); err != nil {
		t.Fatal(err)
	}
	o, ok := e.Oldest()
	if !ok || o != newest-5*minute {
		t.Fatalf("after a reload adding a 10m range: Oldest %v, %v; want %v", o, ok, newest-5*minute)
	}
	// The same over a window that kept everything.
	reg2 := prometheus.NewRegistry()
	full := newTestHead(t, reg2, HeadOptions{Lookback: time.Hour})
	appendAll(t, full, ss)
	ref := newTestExtractor(t, full, reg2, long)
	step := 15 * sec
	for at := (o + step - 1) / step * step; at <= newest; at += step {
		got, want := evaluate(t, e, at)["ns/a"], evaluate(t, ref, at)["ns/a"]
		if len(got.Values) != 2 || len(want.Values) != 2 {
			t.Fatalf("at newest−%v: values %v and %v, want 2 each", time.Duration(newest-at)*time.Millisecond, got.Values, want.Values)
		}
		for i := range want.Values {
			if !near(got.Values[i], want.Values[i]) {
				t.Errorf("at newest−%v: %s = %v, want %v (the whole window's)", time.Duration(newest-at)*time.Millisecond, e.FeatureNames()[i], got.Values[i], want.Values[i])
			}
		}
	}
	// A step older than Oldest reads part of its 10m range.
	at := newest - 15*minute
	if got, want := evaluate(t, e, at)["ns/a"], evaluate(t, ref, at)["ns/a"]; near(got.Values[1], want.Values[1]) {
		t.Errorf("at newest−15m: temp_rise %v as over the whole window; the test does not reach past the window", got.Values[1])
	}
}

// TestOldestEvents: events are kept their window and a lookback before
// the newest, so with events only Oldest is the newest event's time minus
// the lookback.
func TestOldestEvents(t *testing.T) {
	cfg := Config{
		Features:      []Feature{{Name: "temp", Expr: `max by (${entity}) (temp)`}},
		EventFeatures: []EventFeature{{Name: "backoff", Reasons: []string{"BackOff"}, Window: model.Duration(10 * time.Minute)}},
	}
	reg := prometheus.NewRegistry()
	e := newTestExtractor(t, newTestHead(t, reg, HeadOptions{}), reg, cfg)
	t0 := base + 3600*sec
	e.AddEvents([]telemetry.Event{{T: t0, Source: telemetry.SourceKubernetes, Reason: "BackOff", Count: 1,
		Labels: labels.FromStrings("namespace", "ns", "pod", "a")}})
	if o, ok := e.Oldest(); !ok || o != t0-15*60*sec {
		t.Errorf("Oldest %v, %v; want %v", o, ok, t0-15*60*sec)
	}
}
