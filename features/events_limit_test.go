package features

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// Module events with ever-new pods created one event-store entity each
// without bound (500k events: 500k entities, +282 MiB), beyond max_series.
// The event store now holds at most the Head's MaxSeries entities and UIDs;
// events beyond are dropped as cardinality.
func TestEventEntitiesBounded(t *testing.T) {
	h := newTestHead(t, nil, HeadOptions{MaxSeries: 100})
	cfg := Config{
		Features:      []Feature{{Name: "f", Expr: `sum by (${entity}) (x)`}},
		EventFeatures: []EventFeature{{Name: "m", Reasons: []string{"ModuleLoadError"}, Window: model.Duration(time.Minute)}},
	}
	e := newTestExtractor(t, h, nil, cfg)
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	ev := func(pod, uid string, t int64) telemetry.Event {
		return telemetry.Event{T: t, Reason: "ModuleLoadError", Count: 1, UID: uid,
			Labels: labels.FromStrings("namespace", "x", "pod", pod)}
	}
	var evs []telemetry.Event
	for i := range 500 {
		evs = append(evs, ev(fmt.Sprintf("p-%d", i), fmt.Sprintf("uid-%d", i), at-1000))
	}
	e.AddEvents(evs)
	card := e.dropped.WithLabelValues(ReasonCardinality)
	if n, u := len(e.events.entities), len(e.events.uids); n != 100 || u != 100 {
		t.Fatalf("%d entities, %d uids held, want 100 each", n, u)
	}
	if got := testutil.ToFloat64(card); got != 400 {
		t.Errorf("cardinality drops %v, want 400", got)
	}
	// A known entity still takes events without a UID; new UIDs do not fit.
	e.AddEvents([]telemetry.Event{ev("p-1", "", at-500), ev("p-2", "uid-new", at-500)})
	if got := testutil.ToFloat64(card); got != 401 {
		t.Errorf("cardinality drops %v, want 401", got)
	}
	vs := evaluate(t, e, at)
	if len(vs) != 100 || vs["x/p-1"].Values[1] != 2 {
		t.Errorf("%d vectors, p-1 counted %v, want 100 and 2", len(vs), vs["x/p-1"].Values)
	}
	// Once the old events expire (UIDs after uidTTL), new ones fit again.
	later := at + uidTTL + 2*time.Hour.Milliseconds()
	e.AddEvents([]telemetry.Event{ev("q-0", "uid-q", later)})
	e.AddEvents([]telemetry.Event{ev("q-1", "uid-q1", later+1)})
	if _, ok := e.events.entities["x/q-1"]; !ok {
		t.Errorf("no room after expiry: %d entities, %d uids", len(e.events.entities), len(e.events.uids))
	}
}
