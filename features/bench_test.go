package features

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

var benchMetrics = []string{
	"container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
	"container_cpu_cfs_periods_total", "container_cpu_cfs_throttled_periods_total",
	"kube_pod_container_status_restarts_total", "kube_pod_status_ready",
	"kube_pod_container_status_waiting_reason", "http_requests_total",
	"container_spec_memory_limit_bytes", "container_oom_events_total",
}

// benchLabels returns n cAdvisor-like label sets (9 labels, ~230 bytes).
func benchLabels(n int) []labels.Labels {
	out := make([]labels.Labels, n)
	for i := range out {
		pod := fmt.Sprintf("checkout-%06d-x7k2p", i/len(benchMetrics))
		out[i] = labels.FromStrings(
			"__name__", benchMetrics[i%len(benchMetrics)],
			"container", "app",
			"id", "/kubepods/burstable/pod"+pod+"/3f2a9c",
			"image", "registry.example.com/shop/checkout:1.42.0",
			"instance", "10.1.2.3:10250",
			"job", "kubelet",
			"name", "k8s_app_"+pod,
			"namespace", fmt.Sprintf("shop-%02d", i%17),
			"pod", pod,
		)
	}
	return out
}

// sampleValue gives a realistic mix: integer counters, 0/1 gauges, float
// counters (CPU seconds) and slowly changing byte gauges.
func sampleValue(series, k int, rng *rand.Rand, prev float64) float64 {
	switch series % 4 {
	case 0:
		return prev + float64(rng.IntN(100))
	case 1:
		return float64(series / 4 % 2)
	case 2:
		return prev + rng.Float64()*0.25
	default:
		if rng.IntN(10) == 0 {
			return prev + float64(rng.IntN(1<<20))
		}
		return prev
	}
}

// fillHead appends n series × steps samples at 15s and returns the time of
// the last step.
func fillHead(tb testing.TB, h *Head, lsets []labels.Labels, steps int) int64 {
	rng := rand.New(rand.NewPCG(1, 2))
	prev := make([]float64, len(lsets))
	batch := make([]telemetry.Sample, 0, 1000)
	var at int64
	for k := range steps {
		at = base + int64(k)*15*sec
		for i, l := range lsets {
			prev[i] = sampleValue(i, k, rng, prev[i])
			batch = append(batch, telemetry.Sample{Labels: l, T: at, V: prev[i]})
			if len(batch) == cap(batch) {
				if _, err := h.Append(batch); err != nil {
					tb.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	}
	if _, err := h.Append(batch); err != nil {
		tb.Fatal(err)
	}
	return at
}

// cpuTime returns the process's user+system CPU time: on a shared machine
// samples per CPU-second is steadier than samples per wall-clock second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportRates(b *testing.B, samples int, start time.Time, cpu0 time.Duration) {
	b.ReportMetric(float64(samples)/time.Since(start).Seconds(), "samples/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(samples)/cpu.Seconds(), "samples/cpu-s")
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// headBytesPerSeries measures the heap held by a Head with n series filled
// with the lookback (15m) plus the next chunk's worth of 15s samples.
func headBytesPerSeries(tb testing.TB, n int) float64 {
	before := heapInUse()
	h, err := NewHead(HeadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	fillHead(tb, h, benchLabels(n), 80) // 20m: the window plus GC slack
	h.GC()
	after := heapInUse()
	if h.NumSeries() != n {
		tb.Fatalf("series %d, want %d", h.NumSeries(), n)
	}
	runtime.KeepAlive(h)
	return float64(after-before) / float64(n)
}

// TestHeadMemoryPerSeries checks the ≤ 1 KiB per active series target
// (labels included) on 25k series; BenchmarkHeadMemory measures 100k.
func TestHeadMemoryPerSeries(t *testing.T) {
	b := headBytesPerSeries(t, 25_000)
	t.Logf("%.0f bytes per series (25k series, 15m window at 15s, labels included)", b)
	if b > 1024 {
		t.Errorf("%.0f bytes per series, want ≤ 1024", b)
	}
}

func BenchmarkHeadMemory(b *testing.B) {
	for range b.N {
		b.ReportMetric(headBytesPerSeries(b, 100_000), "bytes/series")
	}
}

// BenchmarkHeadAppend appends batches of 1000 samples over 100k series at
// 15s steps; it reports samples/s.
func BenchmarkHeadAppend(b *testing.B) {
	for _, immutable := range []bool{false, true} {
		b.Run(fmt.Sprintf("immutable=%v", immutable), func(b *testing.B) { benchHeadAppend(b, immutable) })
	}
}

// BenchmarkHeadAppendConcurrent appends 10 batches of 5000 samples per
// op (one ingest commit of "omen bench ingest") with AppendConcurrent on
// GOMAXPROCS goroutines, label sets kept (ImmutableLabels).
func BenchmarkHeadAppendConcurrent(b *testing.B) {
	b.Run("AppendConcurrent", func(b *testing.B) { benchHeadAppendConcurrent(b, false) })
	// Each goroutine calls AppendPart for every batch: every goroutine
	// resolves every sample's series.
	b.Run("AppendPart", func(b *testing.B) { benchHeadAppendConcurrent(b, true) })
}

func benchHeadAppendConcurrent(b *testing.B, byPart bool) {
	lsets := benchLabels(100_000)
	h, err := NewHead(HeadOptions{Registerer: prometheus.NewRegistry(), ImmutableLabels: true, Lookback: 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	fillHead(b, h, lsets, 1)
	batches := make([][]telemetry.Sample, 10)
	for i := range batches {
		batches[i] = make([]telemetry.Sample, 5000)
	}
	next, step := 0, 1
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for range b.N {
		for _, batch := range batches {
			for j := range batch {
				batch[j] = telemetry.Sample{Labels: lsets[next], T: base + int64(step)*15*sec, V: float64(step)}
				if next++; next == len(lsets) {
					next, step = 0, step+1
				}
			}
		}
		parts := runtime.GOMAXPROCS(0)
		if !byPart {
			if _, err := h.AppendConcurrent(batches, parts); err != nil {
				b.Fatal(err)
			}
			continue
		}
		var wg sync.WaitGroup
		for p := range parts {
			wg.Go(func() {
				for _, batch := range batches {
					if _, err := h.AppendPart(batch, p, parts); err != nil {
						b.Error(err)
					}
				}
			})
		}
		wg.Wait()
	}
	reportRates(b, b.N*50000, start, cpu0)
}

func benchHeadAppend(b *testing.B, immutable bool) {
	lsets := benchLabels(100_000)
	h, err := NewHead(HeadOptions{Registerer: prometheus.NewRegistry(), ImmutableLabels: immutable})
	if err != nil {
		b.Fatal(err)
	}
	fillHead(b, h, lsets, 2) // create the series
	rng := rand.New(rand.NewPCG(3, 4))
	batch := make([]telemetry.Sample, 1000)
	prev := make([]float64, len(lsets))
	next, step := 0, 2
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for range b.N {
		at := base + int64(step)*15*sec
		for j := range batch {
			prev[next] = sampleValue(next, step, rng, prev[next])
			batch[j] = telemetry.Sample{Labels: lsets[next], T: at, V: prev[next]}
			next++
			if next == len(lsets) {
				next, step = 0, step+1
				at = base + int64(step)*15*sec
			}
		}
		if _, err := h.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	reportRates(b, b.N*len(batch), start, cpu0)
}

// BenchmarkHeadAppendParallel appends from GOMAXPROCS goroutines, each with
// its own series.
func BenchmarkHeadAppendParallel(b *testing.B) {
	lsets := benchLabels(100_000)
	h, err := NewHead(HeadOptions{Lookback: 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	fillHead(b, h, lsets, 1)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	part := make(chan int, 64)
	for i := range 64 {
		part <- i
	}
	b.RunParallel(func(pb *testing.PB) {
		p := <-part
		mine := lsets[p*len(lsets)/64 : (p+1)*len(lsets)/64]
		batch := make([]telemetry.Sample, 1000)
		next, step := 0, 1
		for pb.Next() {
			at := base + int64(step)*15*sec
			for j := range batch {
				batch[j] = telemetry.Sample{Labels: mine[next], T: at, V: float64(step)}
				next++
				if next == len(mine) {
					next, step = 0, step+1
					at = base + int64(step)*15*sec
				}
			}
			if _, err := h.Append(batch); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRates(b, b.N*1000, start, cpu0)
}

// BenchmarkEvaluate evaluates the default features over 1000 pods of
// synthetic kube-state-metrics and cAdvisor data.
func BenchmarkEvaluate(b *testing.B) {
	h, err := NewHead(HeadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var all [][]telemetry.Sample
	for p := range 500 {
		for _, s := range ksmCadvisor() {
			c := make([]telemetry.Sample, len(s))
			for i := range s {
				c[i] = s[i]
				bl := labels.NewBuilder(s[i].Labels)
				bl.Set("pod", fmt.Sprintf("%s-%d", s[i].Labels.Get("pod"), p))
				c[i].Labels = bl.Labels()
			}
			all = append(all, c)
		}
	}
	appendAll(b, h, all...)
	cfg := DefaultConfig()
	cfg.Lookback = model.Duration(15 * time.Minute)
	e := newTestExtractor(b, h, nil, cfg)
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		vs, err := e.Evaluate(context.Background(), time.UnixMilli(base+10*60*sec))
		if err != nil || len(vs) != 1000 || math.IsNaN(vs[0].Values[0]) {
			b.Fatalf("%d vectors, %v", len(vs), err)
		}
	}
	b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(h.NumSeries()), "series")
}
