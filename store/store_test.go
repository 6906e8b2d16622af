package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/goleak"

	"github.com/omen-sre/omen/telemetry"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
	}
	if op := os.Getenv(verifyChildEnv); op != "" {
		verifyChild(op)
	}
	goleak.VerifyTestMain(m)
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(ms int64) *fakeClock { return &fakeClock{t: time.UnixMilli(ms)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(ms int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = time.UnixMilli(ms)
}

// openTest opens a store and closes it in t.Cleanup. With an empty
// opts.Path and !opts.InMemory it uses a fresh temp dir.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	if !opts.InMemory && opts.Path == "" {
		opts.Path = t.TempDir()
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// makeBatch returns a realistic batch: nSeries series of 10 labels, each
// with perSeries samples at a 15 s step starting at t0, counters and
// gauges mixed.
func makeBatch(rng *rand.Rand, source string, seq uint64, t0 int64, nSeries, perSeries int) telemetry.Batch {
	b := telemetry.Batch{Source: source, Seq: seq, Received: t0 + int64(perSeries)*15000}
	series := make([]labels.Labels, nSeries)
	for i := range series {
		series[i] = labels.FromStrings(
			"__name__", []string{"container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "kube_pod_container_status_restarts_total", "up"}[i%4],
			"cluster", "prod-eu-1",
			"container", fmt.Sprintf("app-%d", i%7),
			"image", "registry.example.com/team/app:v1.2.3",
			"instance", fmt.Sprintf("10.0.%d.%d:9100", i/250, i%250),
			"job", "kubernetes-pods",
			"namespace", fmt.Sprintf("ns-%d", i%5),
			"node", fmt.Sprintf("node-%d", i%13),
			"pod", fmt.Sprintf("app-%d-7d9f8c6b5-%05d", i%7, i),
			"service", fmt.Sprintf("svc-%d", i%7),
		)
	}
	vals := make([]float64, nSeries)
	for i := range vals {
		vals[i] = float64(rng.IntN(1 << 20))
	}
	b.Samples = make([]telemetry.Sample, 0, nSeries*perSeries)
	for j := 0; j < perSeries; j++ {
		for i := range series {
			switch i % 4 {
			case 0:
				vals[i] += rng.Float64() * 3
			case 1:
				vals[i] = float64(200<<20 + rng.IntN(1<<20))
			case 2:
				if rng.IntN(50) == 0 {
					vals[i]++
				}
			case 3:
				vals[i] = 1
			}
			b.Samples = append(b.Samples, telemetry.Sample{Labels: series[i], T: t0 + int64(j)*15000 + int64(rng.IntN(50)), V: vals[i]})
		}
	}
	return b
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no path", Options{}},
		{"path and in-memory", Options{Path: t.TempDir(), InMemory: true}},
		{"negative retention", Options{InMemory: true, Retention: -time.Hour}},
		{"negative ingest retention", Options{InMemory: true, IngestLogRetention: -time.Hour}},
		{"sync and no-sync", Options{InMemory: true, SyncWrites: true, NoSync: true}},
		{"tiny memtable", Options{InMemory: true, MemTableSize: 1 << 10}},
		{"too many memtables", Options{InMemory: true, NumMemtables: 100}},
		{"negative block cache", Options{InMemory: true, BlockCacheSize: -1}},
		{"huge value log files", Options{InMemory: true, ValueLogFileSize: 4 << 30}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want error")
			}
		})
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.AppendBatches([]telemetry.Batch{{Source: "a", Seq: 1}}); err != ErrClosed {
		t.Fatalf("AppendBatches after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Checkpoint("a"); err != ErrClosed {
		t.Fatalf("Checkpoint after Close: %v, want ErrClosed", err)
	}
}

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(11, 12)) }

// cpuTime returns the process's user+system CPU time, to report
// throughput per CPU-second: wall-clock figures are meaningless on a
// shared, overloaded machine.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestSyncDefaults(t *testing.T) {
	tests := []struct {
		opts Options
		want bool
	}{
		{Options{}, true},
		{Options{SyncWrites: true}, true},
		{Options{NoSync: true}, false},
	}
	for _, tc := range tests {
		s := openTest(t, tc.opts)
		if got := s.db.Opts().SyncWrites; got != tc.want {
			t.Errorf("%+v: Badger SyncWrites = %v, want %v", tc.opts, got, tc.want)
		}
		if s.opts.Retention != DefaultRetention || s.opts.IngestLogRetention != DefaultIngestLogRetention {
			t.Errorf("defaults not applied: %v %v", s.opts.Retention, s.opts.IngestLogRetention)
		}
	}
}
