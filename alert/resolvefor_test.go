package alert

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/store"
)

// TestHysteresisResolveFor: with ResolveFor n, a firing alert resolves
// only after n consecutive steps below ResolveRatio × threshold, at the
// last of them (ResolvedAt, and the resolution's prediction); a step at
// or over the resolve threshold starts the count again, steps without a
// prediction neither count nor reset it, and the entity's absence still
// resolves after MissingSteps. Before, the first step below resolved: at
// a calibrated threshold one dip resolved the alert (an SRE saw a demo
// alert resolve 45 s before the failure it predicted, and a new one fire).
func TestHysteresisResolveFor(t *testing.T) {
	// Threshold 0.7, resolve ratio 0.8 → resolve below 0.56; For 1.
	tests := []struct {
		name       string
		resolveFor int
		probs      []float64
		want       string // as TestHysteresisStep's
		final      string
		count      int     // Count after the last step
		resolvedP  float64 // probability the alert resolved with (0: none)
	}{
		{"0 means 1", 0, []float64{0.9, 0.5}, "FR", store.AlertResolved, 0, 0.5},
		{"1 resolves at the first step below", 1, []float64{0.9, 0.5}, "FR", store.AlertResolved, 0, 0.5},
		{"3 keeps firing after 2 below", 3, []float64{0.9, 0.5, 0.4}, "F..", store.AlertFiring, 2, 0},
		{"3 resolves at the 3rd below", 3, []float64{0.9, 0.5, 0.4, 0.3, 0.2}, "F..R.", store.AlertResolved, 0, 0.3},
		{"a step at the resolve threshold resets", 3, []float64{0.9, 0.5, 0.4, 0.56, 0.5, 0.4}, "F.....", store.AlertFiring, 2, 0},
		{"counting again after a reset", 2, []float64{0.9, 0.5, 0.6, 0.5, 0.1}, "F...R", store.AlertResolved, 0, 0.1},
		{"between the thresholds resets", 2, []float64{0.9, 0.5, 0.65, 0.5}, "F...", store.AlertFiring, 1, 0},
		{"a gap neither counts nor resets", 3, []float64{0.9, 0.5, absent, 0.4, 0.3}, "F...R", store.AlertResolved, 0, 0.3},
		{"absence still resolves after missing steps", 3, []float64{0.9, 0.5, absent, absent, absent}, "F...R", store.AlertResolved, 0, 0},
		{"a refire starts from 0", 2, []float64{0.9, 0.5, 0.5, 0.9, 0.5}, "F.RF.", store.AlertFiring, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := hysteresis{For: 1, ResolveRatio: 0.8, ResolveFor: tc.resolveFor, MissingSteps: 2}
			s := &entityState{Entity: "e"}
			t0 := time.Unix(1e9, 0)
			var got strings.Builder
			var resolvedAt time.Time
			for i, pr := range tc.probs {
				ts := t0.Add(time.Duration(i) * time.Minute)
				var p *Prediction
				if pr != absent {
					q := pred("e", ts, pr)
					p = &q
				}
				tr := h.step(s, p, ts)
				got.WriteByte(".pFRD"[tr])
				if tr == trResolved {
					resolvedAt = ts
				}
			}
			if got.String() != tc.want {
				t.Errorf("transitions %q, want %q", got.String(), tc.want)
			}
			if s.State != tc.final || s.Count != tc.count {
				t.Errorf("final state %q, count %d; want %q, %d", s.State, s.Count, tc.final, tc.count)
			}
			if s.State != store.AlertResolved {
				return
			}
			if !s.ResolvedAt.Equal(resolvedAt) || s.Resolution == nil {
				t.Fatalf("ResolvedAt %v, resolution %+v; want %v", s.ResolvedAt, s.Resolution, resolvedAt)
			}
			if r := s.Resolution; tc.resolvedP != 0 && (r.Missing || math.Abs(r.Prob-tc.resolvedP) > 1e-12) {
				t.Errorf("resolved with %+v, want probability %g (the resolving step's)", r, tc.resolvedP)
			}
		})
	}
}

// TestResolveForRestart: the count of steps below the resolve threshold
// is persisted with the alert state, so a firing alert restarted in the
// middle of the count resolves at the step it would have resolved at
// without the restart: the step re-evaluated after the restart (the same
// prediction) is not counted twice, a step back over the resolve
// threshold resets the restored count, and a state persisted before the
// count was kept (firing, no count) starts from 0.
func TestResolveForRestart(t *testing.T) {
	tests := []struct {
		name   string
		before []float64 // steps 0.. before the restart
		redo   bool      // the restarted daemon evaluates the last step again
		after  []float64 // steps after
		want   int       // index in before+after of the step it resolves at (-1: still firing)
	}{
		{"restart after 2 below", []float64{0.9, 0.5, 0.5}, false, []float64{0.5, 0.5}, 3},
		{"last step evaluated again", []float64{0.9, 0.5, 0.5}, true, []float64{0.5, 0.5}, 3},
		{"over the resolve threshold after the restart", []float64{0.9, 0.5, 0.5}, false, []float64{0.6, 0.5, 0.5}, -1},
		{"over, then 3 below", []float64{0.9, 0.5, 0.5}, false, []float64{0.6, 0.5, 0.5, 0.5}, 6},
		{"restart while over", []float64{0.9, 0.5, 0.6}, false, []float64{0.5, 0.5, 0.5}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := openStore(t, dir)
			o := testOptions(st)
			o.For, o.ResolveFor = 1, 3
			o.Explainer = nil
			m, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
			resolvedAt := -1
			step := func(m *Manager, i int, prob float64) {
				t.Helper()
				if err := m.Process(ctx, at(i), []Prediction{pred("checkout-7f9c", at(i), prob)}); err != nil {
					t.Fatal(err)
				}
				if as := m.Alerts(); len(as) == 1 && as[0].State == store.AlertResolved && resolvedAt < 0 {
					resolvedAt = i
					if !as[0].ResolvedAt.Equal(at(i)) {
						t.Errorf("resolved at %v, want %v", as[0].ResolvedAt, at(i))
					}
				}
			}
			for i, p := range tc.before {
				step(m, i, p)
			}
			m.Close()
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st = openStore(t, dir)
			o.Store, o.Registerer = st, prometheus.NewRegistry()
			if m, err = New(o); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
			n := len(tc.before)
			if tc.redo {
				step(m, n-1, tc.before[n-1])
			}
			for j, p := range tc.after {
				step(m, n+j, p)
			}
			if resolvedAt != tc.want {
				t.Errorf("resolved at step %d, want %d", resolvedAt, tc.want)
			}
		})
	}
}

// TestResolveForOldState: a firing state persisted before the resolve
// count was kept (by a daemon that reset Count to 0 on firing, as this
// one does) decodes with Count 0: it needs ResolveFor steps below.
func TestResolveForOldState(t *testing.T) {
	s := &entityState{Key: "k", Entity: "e", Labels: map[string]string{"alertname": AlertName, "pod": "e"},
		State: store.AlertFiring, ActiveAt: time.Unix(1e9, 0)}
	st, err := s.encode()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(st.Data), `"count"`) {
		t.Fatalf("a count of 0 is encoded: %s (states written before the resolve count have none)", st.Data)
	}
	d, err := decodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	h := hysteresis{For: 1, ResolveRatio: 0.8, ResolveFor: 2, MissingSteps: 2}
	t1 := time.Unix(1e9+60, 0)
	p := pred("e", t1, 0.1)
	if tr := h.step(d, &p, t1); tr != trNone || d.Count != 1 {
		t.Errorf("first step below: %v, count %d; want none, 1", tr, d.Count)
	}
}

// TestResolveForReload: Reconfigure changes ResolveFor from the next
// step, counting the steps already below; the resolved description says
// how many steps resolved the alert; a ResolveFor below 1 is refused.
func TestResolveForReload(t *testing.T) {
	st := openStore(t, "")
	o := testOptions(st, fakeAM)
	o.For, o.ResolveFor = 1, 4
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	for i, p := range []float64{0.9, 0.5, 0.45} {
		if err := m.Process(ctx, at(i), []Prediction{pred("checkout-7f9c", at(i), p)}); err != nil {
			t.Fatal(err)
		}
	}
	r := Reload{Alertmanagers: []string{fakeAM}, ResendDelay: o.ResendDelay, EvalInterval: o.EvalInterval,
		For: o.For, ResolveRatio: o.ResolveRatio, ResolveFor: -1, ExternalURL: o.ExternalURL}
	if err := m.CheckReload(r); err == nil || !strings.Contains(err.Error(), "resolve for must be at least 1 step, got -1") {
		t.Errorf("CheckReload with ResolveFor -1: %v", err)
	}
	r.ResolveFor = 3
	if err := m.Reconfigure(r); err != nil {
		t.Fatal(err)
	}
	if err := m.Process(ctx, at(3), []Prediction{pred("checkout-7f9c", at(3), 0.4)}); err != nil {
		t.Fatal(err)
	}
	as := m.Alerts()
	if len(as) != 1 || as[0].State != store.AlertResolved || !as[0].ResolvedAt.Equal(at(3)) || as[0].Probability != 0.4 {
		t.Fatalf("Alerts() = %+v, want resolved at %v with 0.4", as, at(3))
	}
	d := as[0].Annotations["description"]
	if !strings.Contains(d, "resolved after 3 steps in a row below 56.00%") || !strings.Contains(d, "probability 40.00% when it resolved") {
		t.Errorf("resolved description %q", d)
	}
}
