package features

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// TestAddEventsLate: an event for a step already evaluated (at or before
// the last step Evaluate ran at, or the evaluated step the caller passes)
// is counted late, and the failure labels it sets are returned with the
// step it belongs to, (T−step, T] holding its time; the evaluations after
// it never set them (an evaluation labels only its own step's events).
// Before, such an event's label was lost and nothing counted it.
func TestAddEventsLate(t *testing.T) {
	pod := labels.FromStrings("namespace", "n", "pod", "a")
	ev := func(t int64, reason string) telemetry.Event {
		return telemetry.Event{T: t, Reason: reason, Count: 1, Labels: pod}
	}
	const step = 15 * sec
	tests := []struct {
		name      string
		evaluated int64 // passed to AddEventsLate
		before    bool  // step base is evaluated before the events arrive
		evs       []telemetry.Event
		wantLate  int
		want      []LateFailure
		// wantNext: the failure label at step base+15s.
		wantNext bool
	}{
		{name: "in the evaluated step", before: true, evs: []telemetry.Event{ev(base-2*sec, "BackOff")},
			wantLate: 1, want: []LateFailure{{Entity: "n/a", T: base, Label: "crash"}}},
		{name: "at the evaluated step's time", before: true, evs: []telemetry.Event{ev(base, "BackOff")},
			wantLate: 1, want: []LateFailure{{Entity: "n/a", T: base, Label: "crash"}}},
		{name: "in an older step", before: true, evs: []telemetry.Event{ev(base-step-sec, "BackOff")},
			wantLate: 1, want: []LateFailure{{Entity: "n/a", T: base - step, Label: "crash"}}},
		{name: "a label of two reasons, and two labels", before: true,
			evs:      []telemetry.Event{ev(base-sec, "OOMKilled"), ev(base-3*sec, "BackOff")},
			wantLate: 2, want: []LateFailure{{Entity: "n/a", T: base, Label: "crash"}, {Entity: "n/a", T: base, Label: "oom"}, {Entity: "n/a", T: base, Label: "crash"}}},
		{name: "a reason only a feature uses", before: true, evs: []telemetry.Event{ev(base-2*sec, "Unhealthy")}, wantLate: 1},
		{name: "in the next step: not late", before: true, evs: []telemetry.Event{ev(base+sec, "BackOff")}, wantNext: true},
		{name: "nothing evaluated", evs: []telemetry.Event{ev(base-2*sec, "BackOff")}},
		{name: "evaluated by a previous process", evaluated: base, evs: []telemetry.Event{ev(base-2*sec, "BackOff")},
			wantLate: 1, want: []LateFailure{{Entity: "n/a", T: base, Label: "crash"}}},
		{name: "without the entity labels", before: true,
			evs: []telemetry.Event{{T: base - 2*sec, Reason: "BackOff", Labels: labels.FromStrings("namespace", "n", "kind", "ReplicaSet", "name", "web")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			h := newTestHead(t, reg, HeadOptions{})
			appendAll(t, h, series(labels.FromStrings("__name__", "up", "namespace", "n", "pod", "a"), base-60*sec, 8, func(int) float64 { return 1 }))
			e := newTestExtractor(t, h, reg, Config{
				Features:      []Feature{{Name: "up", Expr: "up"}},
				EventFeatures: []EventFeature{{Name: "backoff", Reasons: []string{"BackOff", "Unhealthy"}}},
				Labels: []LabelDef{
					{Name: "crash", Reasons: []string{"BackOff", "OOMKilled"}},
					{Name: "oom", Reasons: []string{"OOMKilled"}},
				},
			})
			if tt.before {
				evaluate(t, e, base)
			}
			late, got := e.AddEventsLate(tt.evs, tt.evaluated)
			if late != tt.wantLate || !slices.Equal(got, tt.want) {
				t.Errorf("AddEventsLate = %d, %v; want %d, %v", late, got, tt.wantLate, tt.want)
			}
			for _, at := range []int64{base + step, base + 2*step} {
				v := evaluate(t, e, at)["n/a"]
				if want := at == base+step && tt.wantNext; v.Failure[0] != want {
					t.Errorf("crash at base+%ds: %v, want %v", (at-base)/sec, v.Failure[0], want)
				}
			}
		})
	}
}

// TestAddEventsLateRedelivery: a Kubernetes event re-sent with the same
// UID and count is not late again (nothing new happened), while a rise of
// its count is.
func TestAddEventsLateRedelivery(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newTestHead(t, reg, HeadOptions{})
	e := newTestExtractor(t, h, reg, Config{
		EventFeatures: []EventFeature{{Name: "backoff", Reasons: []string{"BackOff"}}},
		Labels:        []LabelDef{{Name: "crash", Reasons: []string{"BackOff"}}},
	})
	ev := telemetry.Event{T: base - 2*sec, Reason: "BackOff", Count: 1, UID: "u1", Labels: labels.FromStrings("namespace", "n", "pod", "a")}
	for i, tt := range []struct {
		count, wantLate int
	}{{1, 1}, {1, 0}, {3, 1}} {
		ev.Count = tt.count
		if late, _ := e.AddEventsLate([]telemetry.Event{ev}, base); late != tt.wantLate {
			t.Errorf("delivery %d (count %d): late %d, want %d", i+1, tt.count, late, tt.wantLate)
		}
	}
}
