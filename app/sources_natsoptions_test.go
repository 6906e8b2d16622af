package app

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/stream/decode"
	"github.com/omen-sre/omen/telemetry"
)

// storedTimes returns the times (ms) of the stored samples of pod, sorted.
func storedTimes(t *testing.T, a *App, pod string) []int64 {
	t.Helper()
	var ts []int64
	err := a.Store().ReplayBatches(0, func(b telemetry.Batch) error {
		for _, s := range b.Samples {
			if s.Labels.Get("pod") == pod {
				ts = append(ts, s.T)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// podLinesIn is podLines with timestamps in units of unit.
func podLinesIn(r int, ts time.Time, pods int, unit time.Duration) []byte {
	stamp := ts.UnixNano() / int64(unit)
	var b strings.Builder
	for p := 0; p < pods; p++ {
		fmt.Fprintf(&b, "container,namespace=shop,pod=cart-%d,container=app cpu_usage_seconds_total=%g,memory_working_set_bytes=%d,spec_memory_limit_bytes=1000 %d\n",
			p, float64(r)*0.5*float64(p+1), 100+10*r*p, stamp)
		fmt.Fprintf(&b, "kube_pod_container_status_restarts_total,namespace=shop,pod=cart-%d,container=app value=%d %d\n", p, r/8, stamp)
	}
	return []byte(b.String())
}

// TestNATSInfluxPrecision: with nats.influx_precision: 1s, line protocol
// with timestamps in seconds is stored at the right times and gives the
// right features (TestNATSToFeatures' payloads, in seconds); a reload
// changes the unit from the next batch, a unit the key does not accept
// fails the reload and keeps the running one, and with the default unit
// (nanoseconds) the same seconds are misread and rejected as too_old.
func TestNATSInfluxPrecision(t *testing.T) {
	precision := func(p string) string { return "nats:\n  influx_precision: " + p + "\n" }
	a, write, logs := reloadableApp(t, precision("1s"))

	start := time.Now().Add(-4 * time.Minute).Truncate(5 * time.Second)
	var payloads [][]byte
	for r := 0; r < 40; r++ {
		payloads = append(payloads, podLinesIn(r, start.Add(time.Duration(r)*5*time.Second), 3, time.Second))
	}
	publish(t, a.NATSURL(), "omen.metrics.influx", payloads...)
	var want []int64
	for r := 0; r < 40; r++ {
		want = append(want, start.Add(time.Duration(r)*5*time.Second).UnixMilli())
	}
	waitFor(t, "cart-1's samples stored", 30*time.Second, func() bool { return len(storedTimes(t, a, "cart-1")) >= len(want) })
	if got := storedTimes(t, a, "cart-1"); !slices.Equal(got, want) {
		t.Fatalf("cart-1's samples stored at %v, want %v", got, want)
	}
	waitFor(t, "feature vectors of the last step", 30*time.Second, func() bool {
		n, last := countVectors(t, a.Store(), "shop/cart-1")
		return n > 0 && last.T >= start.Add(190*time.Second).UnixMilli()
	})
	_, last := countVectors(t, a.Store(), "shop/cart-1")
	names := features.Names(a.Config().Config)
	// cart-1's CPU counter grows 1.0 per 5 s round: rate = 0.2/s.
	if got := last.Values[slices.Index(names, "cpu_rate")]; math.Abs(got-0.2) > 1e-9 {
		t.Errorf("cpu_rate = %v, want 0.2", got)
	}

	tooOld := func() float64 { return ingestErrors(t, a, decode.ReasonTooOld) }
	steps := []struct {
		name      string
		file      string // the extra configuration reloaded before sending
		reloadErr string // "" for a reload that succeeds
		unit      time.Duration
		pod       string
		stored    bool // else rejected as too_old
	}{
		{name: "reloaded to 1ms", file: precision("1ms"), unit: time.Millisecond, pod: "ms", stored: true},
		{name: "10ms is refused, 1ms kept", file: precision("10ms"), unit: time.Millisecond, pod: "ms-kept", stored: true,
			reloadErr: `nats.influx_precision must be one of 1ns, 1us (or 1µs), 1ms, 1s, got "10ms"`},
		{name: "microseconds, micro sign", file: precision("1µs"), unit: time.Microsecond, pod: "us", stored: true},
		{name: "the default misreads seconds", file: "", unit: time.Second, pod: "s-as-ns", stored: false},
		{name: "back to seconds", file: precision("s"), unit: time.Second, pod: "s", stored: true},
	}
	for _, st := range steps {
		write(st.file)
		reloadChecked(t, a, logs, st.name, st.reloadErr)
		now := time.Now()
		stamp := now.UnixNano() / int64(st.unit)
		wantT := now.Truncate(st.unit).UnixMilli()
		old := tooOld()
		publish(t, a.NATSURL(), "omen.metrics.influx", fmt.Appendf(nil, "probe,namespace=shop,pod=%s v=1 %d\n", st.pod, stamp))
		if st.stored {
			waitFor(t, st.name+": the probe stored", 20*time.Second, func() bool { return len(storedTimes(t, a, st.pod)) > 0 })
			if got := storedTimes(t, a, st.pod); !slices.Equal(got, []int64{wantT}) {
				t.Errorf("%s: stored at %v, want [%d] (%s)", st.name, got, wantT, now.Truncate(st.unit).UTC())
			}
			if tooOld() != old {
				t.Errorf("%s: too_old went from %v to %v", st.name, old, tooOld())
			}
		} else {
			waitFor(t, st.name+": the probe rejected as too_old", 20*time.Second, func() bool { return tooOld() == old+1 })
			if got := storedTimes(t, a, st.pod); len(got) > 0 {
				t.Errorf("%s: stored at %v, want rejected", st.name, got)
			}
		}
	}
}

// TestNATSRequiredLabels: nats.required_labels drops, at start and after
// a reload, the samples without one of the labels (counted as
// missing_labels) and stores the message's others; a reload to an
// invalid label name fails and keeps the running list.
func TestNATSRequiredLabels(t *testing.T) {
	required := func(l string) string { return "nats:\n  required_labels: " + l + "\n" }
	a, write, _ := reloadableApp(t, required("[container]"))
	missing := func() float64 { return ingestErrors(t, a, decode.ReasonMissingLabels) }
	steps := []struct {
		name      string
		file      string // reloaded before sending; "-" for no reload
		reloadErr string
		missing   float64  // missing_labels after the message
		pods      []string // stored after the message
	}{
		{name: "container required at start", file: "-", missing: 1, pods: []string{"with-0"}},
		{name: "an invalid name is refused", file: required("[k8s-app]"), reloadErr: `nats.required_labels[0]: "k8s-app" is not a valid label name`,
			missing: 2, pods: []string{"with-0", "with-1"}},
		{name: "none required", file: required("[]"), missing: 2, pods: []string{"with-0", "with-1", "with-2", "without-2"}},
		{name: "zone required", file: required("[namespace, zone]"), missing: 4, pods: []string{"with-0", "with-1", "with-2", "without-2"}},
	}
	for round, st := range steps {
		if st.file != "-" {
			write(st.file)
			err := a.Reload()
			switch {
			case st.reloadErr == "" && err != nil:
				t.Fatalf("%s: reload: %v", st.name, err)
			case st.reloadErr != "" && (err == nil || !strings.Contains(err.Error(), st.reloadErr)):
				t.Fatalf("%s: reload = %v, want an error naming %q", st.name, err, st.reloadErr)
			}
		}
		ts := time.Now().UnixNano()
		publish(t, a.NATSURL(), "omen.metrics.influx", fmt.Appendf(nil,
			"m,namespace=shop,pod=with-%d,container=app v=1 %d\nm,namespace=shop,pod=without-%d v=1 %d\n", round, ts, round, ts))
		waitFor(t, st.name+": the message handled", 20*time.Second, func() bool {
			return missing() == st.missing && len(storedPods(t, a)) == len(st.pods)
		})
		if got := storedPods(t, a); !slices.Equal(got, st.pods) {
			t.Fatalf("%s: stored pods %q, want %q", st.name, got, st.pods)
		}
	}
}

// TestNATSDecodeOptionsApplied: a reload hands the consumer a new decoder
// when a decoder option changes (each of the new keys), and not when the
// file only spells the same options differently (1us and 1µs, no list
// and an empty one), which would start its label cache afresh for
// nothing.
func TestNATSDecodeOptionsApplied(t *testing.T) {
	tests := []struct {
		name     string
		from, to string // nats sections
		applied  bool
		check    func(*testing.T, natsDecodeLimits)
	}{
		{name: "precision", from: "", to: "  influx_precision: 1s\n", applied: true,
			check: func(t *testing.T, l natsDecodeLimits) {
				if l.InfluxPrecision != time.Second {
					t.Errorf("precision %v, want 1s", l.InfluxPrecision)
				}
			}},
		{name: "required labels", from: "  required_labels: [pod]\n", to: "  required_labels: [pod, namespace]\n", applied: true,
			check: func(t *testing.T, l natsDecodeLimits) {
				if !slices.Equal(l.RequiredLabels, []string{"pod", "namespace"}) {
					t.Errorf("required labels %q", l.RequiredLabels)
				}
			}},
		{name: "label cache size", from: "", to: "  label_cache_size: 100\n", applied: true,
			check: func(t *testing.T, l natsDecodeLimits) {
				if l.LabelCacheSize != 100 {
					t.Errorf("label cache size %d, want 100", l.LabelCacheSize)
				}
			}},
		{name: "1us and 1µs", from: "  influx_precision: 1us\n", to: "  influx_precision: 1µs\n", applied: false},
		{name: "1ns and the default", from: "  influx_precision: 1ns\n", to: "", applied: false},
		{name: "no list and an empty one", from: "", to: "  required_labels: []\n", applied: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &testenv.SyncBuffer{}
			src := newEmbeddedSources(t, loadConfig(t, testConfigYAML+"nats:\n  stream: S\n"+tt.from),
				slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
			if err := src.setConfig(loadConfig(t, testConfigYAML+"nats:\n  stream: S\n"+tt.to)); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(logs.String(), "NATS decoder options applied"); got != tt.applied {
				t.Errorf("applied %v, want %v; log:\n%s", got, tt.applied, logs.String())
			}
			if tt.check != nil {
				tt.check(t, src.live.NATSDecode)
			}
		})
	}
}
