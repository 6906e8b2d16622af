package model

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func ensembleFixture(t *testing.T) (a, b, e *Model, x, next []float32, n int) {
	t.Helper()
	feats := []string{"a", "b", "c"}
	var err error
	if a, err = New(Config{Features: feats, Window: 5, Hidden: 6, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if b, err = New(Config{Features: feats, Window: 5, Hidden: 4, Layers: 2, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetNormalization([]float32{1, 2, 3}, []float32{2, 1, 0.5}); err != nil {
		t.Fatal(err)
	}
	a.SetThresholds(Thresholds{Failure: 0.7, Anomaly: 3})
	if e, err = NewEnsemble(a, b); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	n = 7
	x = make([]float32, n*5*3)
	for i := range x {
		x[i] = float32(r.NormFloat64()) + 1
	}
	x[4] = float32(math.NaN())
	next = make([]float32, n*3)
	for i := range next {
		next[i] = float32(r.NormFloat64())
	}
	return a, b, e, x, next, n
}

func TestEnsembleAverages(t *testing.T) {
	a, b, e, x, next, n := ensembleFixture(t)
	if e.Members() != 2 || a.Members() != 1 || e.Thresholds() != a.Thresholds() {
		t.Fatalf("members %d, %d; thresholds %v", e.Members(), a.Members(), e.Thresholds())
	}
	pa, pb, pe := make([]float64, n), make([]float64, n), make([]float64, n)
	fa, fb, fe := make([]float32, n*3), make([]float32, n*3), make([]float32, n*3)
	for _, c := range []struct {
		m *Model
		p []float64
		f []float32
	}{{a, pa, fa}, {b, pb, fb}, {e, pe, fe}} {
		if err := c.m.Forecast(x, n, c.p, c.f); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if math.Abs(pe[i]-(pa[i]+pb[i])/2) > 1e-12 {
			t.Fatalf("window %d: ensemble %v, members %v and %v", i, pe[i], pa[i], pb[i])
		}
	}
	for i := range fe {
		if math.Abs(float64(fe[i]-(fa[i]+fb[i])/2)) > 1e-5 {
			t.Fatalf("forecast %d: ensemble %v, members %v and %v", i, fe[i], fa[i], fb[i])
		}
	}
	// Anomaly scores: the residual of the mean forecast, in the first
	// network's normalised units.
	score := make([]float64, n)
	per := make([]float32, n*3)
	if err := e.AnomalyScores(x, next, n, score, per); err != nil {
		t.Fatal(err)
	}
	_, std := a.Normalization()
	for i := range n {
		sum := 0.0
		for j := range 3 {
			d := float64(fe[i*3+j]-next[i*3+j]) / float64(std[j])
			if math.Abs(float64(per[i*3+j])-d*d) > 1e-4*(1+d*d) {
				t.Fatalf("window %d feature %d: residual %v, want %v", i, j, per[i*3+j], d*d)
			}
			sum += d * d
		}
		if math.Abs(score[i]-sum/3) > 1e-4*(1+sum) {
			t.Fatalf("window %d: score %v, want %v", i, score[i], sum/3)
		}
	}
	// Streaming: stepping through a window gives Predict's value, and
	// StepBatch what Step gives.
	st := e.NewState()
	states := []*State{e.NewState(), e.NewState()}
	var p float64
	bp := make([]float64, 2)
	for t0 := range 5 {
		row := x[t0*3 : (t0+1)*3]
		p = e.Step(st, row)
		if err := e.StepBatch(states, append(append([]float32{}, row...), row...), bp); err != nil {
			t.Fatal(err)
		}
	}
	if math.Abs(p-pe[0]) > 1e-5 || math.Abs(bp[0]-p) > 1e-6 || math.Abs(bp[1]-p) > 1e-6 {
		t.Fatalf("streaming %v, batch %v, Predict %v", p, bp, pe[0])
	}
	if !math.IsNaN(a.Step(st, x[:3])) || a.StepBatch(states, x[:6], bp) == nil {
		t.Error("an ensemble's state accepted by a single network")
	}
	if err := e.GorgoniaForecast(x, n, pe, nil); err == nil {
		t.Error("gorgonia reference path ran an ensemble")
	}
}

func TestEnsembleFile(t *testing.T) {
	a, _, e, x, _, n := ensembleFixture(t)
	data, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	single, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if v1, v2 := binary.LittleEndian.Uint16(single[7:]), binary.LittleEndian.Uint16(data[7:]); v1 != 1 || v2 != 2 {
		t.Fatalf("format versions: single %d, ensemble %d; want 1 and 2", v1, v2)
	}
	back, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := make([]float64, n), make([]float64, n)
	if err := e.Predict(x, n, p1); err != nil {
		t.Fatal(err)
	}
	if err := back.Predict(x, n, p2); err != nil {
		t.Fatal(err)
	}
	if back.Members() != 2 || back.Thresholds() != e.Thresholds() {
		t.Fatalf("loaded %d members, thresholds %v", back.Members(), back.Thresholds())
	}
	for i := range p1 {
		if p1[i] != p2[i] {
			t.Fatalf("window %d: %v after the round trip, %v before", i, p2[i], p1[i])
		}
	}
	for i := 0; i < len(data); i += 97 {
		if _, err := Unmarshal(data[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v", i, err)
		}
	}
}

func TestNewEnsembleErrors(t *testing.T) {
	a, _, e, _, _, _ := ensembleFixture(t)
	other, err := New(Config{Features: []string{"a", "b", "c"}, Window: 6, Hidden: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for name, ms := range map[string][]*Model{"none": nil, "window": {a, other}, "nested": {a, e}, "nil": {a, nil}} {
		if _, err := NewEnsemble(ms...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
