package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkDiskPerRecord measures the disk blocks one feature vector (26
// features, as the daemon's default feature set) and one prediction take
// in the LSM tree, as flushed tables (no compaction overhead): 1,000
// entities × 240 steps of each, the store closed (memtables flushed)
// after each kind. Reported as B/vector and B/prediction. Run with
// -benchtime 1x; figures in docs/PERFORMANCE.md (Disk).
func BenchmarkDiskPerRecord(b *testing.B) {
	const (
		features = 26
		entities = 1000
		steps    = 240
	)
	for range b.N {
		dir := b.TempDir()
		open := func() *Store {
			s, err := Open(Options{Path: dir, NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
		used := func() int64 {
			var n int64
			for _, v := range dirUsage(dir) {
				n += v
			}
			return n
		}
		names := make([]string, features)
		for i := range names {
			names[i] = fmt.Sprintf("f%d", i)
		}
		id := func(e int) string { return fmt.Sprintf("payments-%02d/checkout-7d9f8c6b5-%05d", e%20, e) }
		rng := rand.New(rand.NewPCG(1, 2))
		t0 := int64(1_780_000_000_000)
		s := open()
		if err := s.PutSchema(names, []string{"a", "b"}); err != nil {
			b.Fatal(err)
		}
		empty := used()
		for st := range steps {
			vs := make([]Vector, entities)
			for e := range vs {
				vals := make([]float64, features)
				for i := range vals {
					switch i % 3 { // a third real-valued, a third small counts, a third 0
					case 0:
						vals[i] = rng.Float64()
					case 1:
						vals[i] = float64(rng.IntN(3))
					}
				}
				vs[e] = Vector{Entity: id(e), T: t0 + int64(st)*15000, Values: vals, Failure: []bool{false, false}}
			}
			if err := s.PutVectors(vs); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		withVectors := used()
		s = open()
		for st := range steps {
			ps := make([]Prediction, entities)
			for e := range ps {
				ps[e] = Prediction{Entity: id(e), T: t0 + int64(st)*15000, Prob: rng.Float64(), Anomaly: rng.Float64(),
					Threshold: 0.5, ModelVersion: "20261126T101500Z-3f2a"}
			}
			if err := s.PutPredictions(ps); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		n := float64(entities * steps)
		b.ReportMetric(float64(withVectors-empty)/n, "B/vector")
		b.ReportMetric(float64(used()-withVectors)/n, "B/prediction")
	}
}
