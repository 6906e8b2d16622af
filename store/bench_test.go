package store

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/telemetry"
)

// BenchmarkAppendBatches measures the ingest log with realistic batches:
// 1000 samples each, from 100 series of 10 labels (10 samples per series),
// on disk with fsync (group commit) unless noted. samples/s counts stored
// samples.
func BenchmarkAppendBatches(b *testing.B) {
	rng := newTestRand()
	pool := make([]telemetry.Batch, 64)
	for i := range pool {
		pool[i] = makeBatch(rng, "bench", 0, 1_700_000_000_000+int64(i)*150_000, 100, 10)
	}
	cases := []struct {
		perCall  int
		parallel bool
		noSync   bool
	}{
		{1, false, false},
		{10, false, false},
		{1, true, false},
		{10, true, false},
		{100, false, false},
		{10, false, true},
	}
	for _, c := range cases {
		name := fmt.Sprintf("batches_per_call=%d/parallel=%v/sync=%v", c.perCall, c.parallel, !c.noSync)
		b.Run(name, func(b *testing.B) {
			s := openTest(b, Options{NoSync: c.noSync})
			var seq atomic.Uint64
			call := func(bs []telemetry.Batch, k *int) {
				for j := range bs {
					bs[j] = pool[*k%len(pool)]
					bs[j].Seq = seq.Add(1)
					*k++
				}
				n, err := s.AppendBatches(bs)
				if err != nil || n != len(bs) {
					b.Errorf("AppendBatches = %d, %v", n, err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			if c.parallel {
				b.SetParallelism(4) // 4 × GOMAXPROCS appenders
				b.RunParallel(func(pb *testing.PB) {
					bs := make([]telemetry.Batch, c.perCall)
					k := 0
					for pb.Next() {
						call(bs, &k)
					}
				})
			} else {
				bs := make([]telemetry.Batch, c.perCall)
				k := 0
				for i := 0; i < b.N; i++ {
					call(bs, &k)
				}
			}
			b.ReportMetric(float64(seq.Load())*1000/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(seq.Load())/testutil.ToFloat64(s.m.commits), "batches/commit")
			b.ReportMetric(float64(seq.Load())*1000/(cpuTime(b)-cpu0).Seconds(), "samples/cpu-s")
		})
	}
}

// BenchmarkReplayBatches measures rebuilding the window from the ingest log.
func BenchmarkReplayBatches(b *testing.B) {
	rng := newTestRand()
	s := openTest(b, Options{NoSync: true})
	const n = 200
	bs := make([]telemetry.Batch, n)
	for i := range bs {
		bs[i] = makeBatch(rng, "bench", uint64(i+1), int64(i)*150_000, 100, 10)
	}
	if _, err := s.AppendBatches(bs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		if err := s.ReplayBatches(0, func(telemetry.Batch) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*n*1000/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(b.N)*n*1000/(cpuTime(b)-cpu0).Seconds(), "samples/cpu-s")
}

// BenchmarkEncodeBatchDistinct encodes a batch of 5000 samples of 5000
// distinct series (one Telegraf payload of "omen bench ingest").
func BenchmarkEncodeBatchDistinct(b *testing.B) {
	rng := newTestRand()
	bt := makeBatch(rng, "bench", 1, 1_700_000_000_000, 5000, 1)
	b.ReportAllocs()
	b.ResetTimer()
	var out []byte
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		out = encodeBatch(out[:0], &bt, true)
	}
	b.ReportMetric(float64(b.N*len(bt.Samples))/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(b.N*len(bt.Samples))/(cpuTime(b)-cpu0).Seconds(), "samples/cpu-s")
}
