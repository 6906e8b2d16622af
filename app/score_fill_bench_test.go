package app

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// BenchmarkFillWindows measures filling the windows of 2,000 entities
// (the default configuration's 26 features, W = 32) from an on-disk store
// holding 34 steps of their vectors: what a daemon starting with a model
// does at its first step. Per op: one fill of every entity.
func BenchmarkFillWindows(b *testing.B) {
	const entities, w = 2000, 32
	cfg := config.Default()
	names := features.Names(cfg.Config)
	st, err := store.Open(store.Options{Path: b.TempDir(), DiskReserve: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	if err := st.PutSchema(names, cfg.LabelNames()); err != nil {
		b.Fatal(err)
	}
	step := time.Duration(cfg.Step).Milliseconds()
	rng := rand.New(rand.NewPCG(64, 1))
	for k := range int64(w + 2) {
		recs := make([]store.Vector, entities)
		seen := make([]store.EntityInfo, entities)
		for i := range entities {
			vals := make([]float64, len(names))
			for j := range vals {
				vals[j] = rng.NormFloat64()
			}
			id := fmt.Sprintf("ns/pod-%06d", i)
			recs[i] = store.Vector{Entity: id, T: k * step, Values: vals, Failure: make([]bool, len(cfg.LabelNames()))}
			seen[i] = store.EntityInfo{ID: id, Labels: map[string]string{"namespace": "ns", "pod": id}, FirstSeen: k * step, LastSeen: k * step}
		}
		if err := st.PutEntities(seen); err != nil {
			b.Fatal(err)
		}
		if err := st.PutVectors(recs); err != nil {
			b.Fatal(err)
		}
	}
	m, err := model.New(model.Config{Features: names, Window: w, Hidden: 8, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	data, err := m.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	v, err := RegisterModel(st, m, data, "bench")
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Promote(v); err != nil {
		b.Fatal(err)
	}
	s, err := newScorer(scorerOptions{Store: st, Config: cfg, Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	t := int64(w+2) * step
	b.ReportAllocs()
	for b.Loop() {
		s.mu.Lock()
		s.fill, s.windows = true, map[string]*history{}
		s.mu.Unlock()
		s.fillWindows(b.Context(), t)
		if len(s.windows) != entities {
			b.Fatalf("%d windows filled, want %d", len(s.windows), entities)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/entities, "µs/entity")
}
