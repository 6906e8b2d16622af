package alert

import (
	"context"
	"testing"
	"time"

	"github.com/omen-sre/omen/store"
)

// TestMissingAndUnscored: steps with no predictions at all advance the
// missing count and resolve a firing alert after MissingSteps; an entity
// passed as Unscored keeps its state however long it stays unscored.
func TestMissingAndUnscored(t *testing.T) {
	st := openStore(t, "")
	o := testOptions(st)
	o.For = 1
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 5 * time.Second) }
	if err := m.Process(ctx, at(0), []Prediction{pred("a", at(0), 0.9), pred("b", at(0), 0.9)}); err != nil {
		t.Fatal(err)
	}
	state := func() map[string]string {
		out := map[string]string{}
		for _, a := range m.Alerts() {
			out[a.Entity] = a.State
		}
		return out
	}
	if s := state(); s["a"] != store.AlertFiring || s["b"] != store.AlertFiring {
		t.Fatalf("after the first step: %v, want both firing", s)
	}
	// "a" is still there but not scored (e.g. its window is refilling);
	// "b" is gone. Steps go on with no prediction.
	unscoredA := pred("a", at(0), 0)
	unscoredA.Unscored, unscoredA.Prob, unscoredA.Threshold = true, 0, 0
	for i := 1; i <= 20; i++ {
		if err := m.Process(ctx, at(i), []Prediction{unscoredA}); err != nil {
			t.Fatal(err)
		}
		s := state()
		if s["a"] != store.AlertFiring {
			t.Fatalf("step %d: unscored a is %q, want firing", i, s["a"])
		}
		want := store.AlertFiring
		if i > DefaultMissingSteps { // testOptions leave the default
			want = store.AlertResolved
		}
		if s["b"] != want {
			t.Fatalf("step %d: vanished b is %q, want %q", i, s["b"], want)
		}
	}
	// With nothing at all (not even unscored), a resolves too.
	for i := 21; i <= 21+DefaultMissingSteps; i++ {
		if err := m.Process(ctx, at(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if s := state(); s["a"] != store.AlertResolved {
		t.Fatalf("after %d empty steps: a is %q, want resolved", DefaultMissingSteps+1, s["a"])
	}
	// A scored prediction wins over an Unscored one of the same entity.
	p := pred("c", at(30), 0.9)
	u := pred("c", at(30), 0)
	u.Unscored = true
	if err := m.Process(ctx, at(30), []Prediction{u, p}); err != nil {
		t.Fatal(err)
	}
	if s := state(); s["c"] != store.AlertFiring {
		t.Fatalf("c with a scored and an unscored prediction: %q, want firing", s["c"])
	}
}

// TestMissingSaturates: the missing count stops at MissingSteps+1, so the
// state of a resolved alert whose entity is gone does not change (and is
// not rewritten to the store) at every further step.
func TestMissingSaturates(t *testing.T) {
	h := hysteresis{For: 1, ResolveRatio: 0.8, MissingSteps: 3}
	s := &entityState{State: store.AlertFiring}
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var trs []transition
	for i := range 10 {
		trs = append(trs, h.step(s, nil, t0.Add(time.Duration(i)*time.Second)))
	}
	if s.State != store.AlertResolved || s.Missing != 4 || !s.ResolvedAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("after 10 missing steps: state %q missing %d resolved at %v (transitions %v), want resolved, 4, t0+3s",
			s.State, s.Missing, s.ResolvedAt, trs)
	}
}
