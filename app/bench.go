package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/omen-sre/omen/config"
)

// BenchIngestOptions configure BenchIngest.
type BenchIngestOptions struct {
	// Pods × 10 fields = series. Default 10,000 (100,000 series).
	Pods int
	// Rounds of samples per series (one per 15 s of data time). Default 20.
	Rounds int
	// LinesPerMessage is the number of line-protocol lines (10 samples
	// each) in one NATS message. Default 500.
	LinesPerMessage int
	// Dir holds the store and the embedded NATS server; default a temp dir.
	Dir string
	// Progress receives progress lines; nil discards.
	Progress io.Writer
	// AfterMeasure, if set, is called after the memory figures are taken,
	// while the daemon still runs (e.g. to write a heap profile).
	AfterMeasure func()
	// Ingested, if set, is called when the last sample is acknowledged
	// (e.g. to stop a CPU profile of the ingest phase alone).
	Ingested func()
	// MemoryLimit, when positive, is set as the Go runtime's soft memory
	// limit (debug.SetMemoryLimit, as GOMEMLIMIT does) for the run, and
	// restored afterwards.
	MemoryLimit int64
	// Config is the daemon's configuration; nil: config.Default().
	Config *config.Config
	// MemoryReleaseInterval overrides the daemon's
	// runtime.memory_release_interval (default 10s); negative disables
	// the release of freed heap memory.
	MemoryReleaseInterval time.Duration
	// Trace prints the progress every 100 ms to Progress.
	Trace bool
	// Settle, when positive, is how long the daemon idles after the run
	// before the memory is measured a second time ("settled" figures):
	// the embedded NATS server's block caches (10 s) and Badger's pooled
	// flush buffers (2 s a buffer) are released only after some idle time.
	Settle time.Duration
}

// BenchIngestResult is what "omen bench ingest --json" prints. Memory
// figures are taken after the run, after a garbage collection, with the
// daemon still running; "idle" figures right after the daemon started,
// before anything was published.
type BenchIngestResult struct {
	Series            int     `json:"series"`
	Samples           int     `json:"samples"`
	Messages          int     `json:"messages"`
	PublishSeconds    float64 `json:"publish_seconds"`
	IngestSeconds     float64 `json:"ingest_seconds"`
	SamplesPerSecond  float64 `json:"samples_per_s"`
	FeaturesSeconds   float64 `json:"features_seconds"`
	EndToEndPerSecond float64 `json:"end_to_end_samples_per_s"`
	StepsEvaluated    int     `json:"steps_evaluated"`
	// CPU time of the whole process (publisher, NATS server, omen) from
	// the first publish to the last acknowledged sample, and to the last
	// step's features.
	IngestCPUSeconds    float64 `json:"ingest_cpu_seconds"`
	SamplesPerCPUSecond float64 `json:"samples_per_cpu_s"`
	FeaturesCPUSeconds  float64 `json:"features_cpu_seconds"`
	// Go heap in use (runtime.MemStats.HeapInuse) and resident set size
	// (/proc/self/status VmRSS, split into anonymous and file-backed
	// pages: Badger memory-maps its files).
	HeapBytesPerSeries float64 `json:"heap_bytes_per_series"`
	RSSBytesPerSeries  float64 `json:"rss_bytes_per_series"`
	HeapBytes          int64   `json:"heap_bytes"`
	RSSBytes           int64   `json:"rss_bytes"`
	RSSAnonBytes       int64   `json:"rss_anon_bytes"`
	RSSFileBytes       int64   `json:"rss_file_bytes"`
	PeakRSSBytes       int64   `json:"peak_rss_bytes"`
	IdleHeapBytes      int64   `json:"idle_heap_bytes"`
	IdleRSSBytes       int64   `json:"idle_rss_bytes"`
	IdleRSSAnonBytes   int64   `json:"idle_rss_anon_bytes"`
	// (RSS − idle RSS) / series and (heap − idle heap) / series: what the
	// series and their data added to an idle daemon.
	RSSDeltaBytesPerSeries  float64 `json:"rss_delta_bytes_per_series"`
	HeapDeltaBytesPerSeries float64 `json:"heap_delta_bytes_per_series"`
	// The same after Settle (zero when not settled).
	SettleSeconds                 float64 `json:"settle_seconds,omitempty"`
	SettledHeapBytes              int64   `json:"settled_heap_bytes,omitempty"`
	SettledRSSBytes               int64   `json:"settled_rss_bytes,omitempty"`
	SettledRSSAnonBytes           int64   `json:"settled_rss_anon_bytes,omitempty"`
	SettledRSSBytesPerSeries      float64 `json:"settled_rss_bytes_per_series,omitempty"`
	SettledRSSDeltaBytesPerSeries float64 `json:"settled_rss_delta_bytes_per_series,omitempty"`
	// (anonymous RSS − idle anonymous RSS) / series: the process-private
	// memory the series added, without the file pages Badger and the
	// binary map (page cache the kernel may reclaim).
	SettledRSSAnonDeltaBytesPerSeries float64 `json:"settled_rss_anon_delta_bytes_per_series,omitempty"`
	SettledHeapDeltaBytesPerSeries    float64 `json:"settled_heap_delta_bytes_per_series,omitempty"`
	// Go runtime memory after Settle (runtime.MemStats): heap spans
	// freed but not yet returned to the OS (HeapIdle − HeapReleased),
	// and memory the runtime obtained for other than heap objects
	// (stacks, GC metadata, span structures, …).
	SettledHeapUnreleasedBytes int64 `json:"settled_heap_unreleased_bytes,omitempty"`
	SettledRuntimeOtherBytes   int64 `json:"settled_runtime_other_bytes,omitempty"`
	// The live heap after Settle (/gc/heap/live:bytes: the objects the
	// last collection marked) and the unused bytes of in-use heap spans
	// (/memory/classes/heap/unused:bytes: free slots between live objects,
	// the allocator's fragmentation).
	SettledHeapLiveBytes   int64 `json:"settled_heap_live_bytes,omitempty"`
	SettledHeapUnusedBytes int64 `json:"settled_heap_unused_bytes,omitempty"`
	MemoryLimit            int64 `json:"memory_limit,omitempty"`
	// MemoryReleaseInterval is the daemon's runtime.memory_release_interval
	// in seconds (negative: off), and MemoryReleases how often it returned
	// freed heap memory during the run and the settling;
	// FileMappingsPagedOut how many mappings of the store's files it paged
	// out, summed over its passes (runtime.keep_file_pages false).
	MemoryReleaseInterval float64 `json:"memory_release_interval_s"`
	MemoryReleases        int     `json:"memory_releases"`
	FileMappingsPagedOut  int     `json:"file_mappings_paged_out"`
	// MajorFaults are the page faults that read from disk from the first
	// publish until the features of the last step were stored, and
	// SettledMajorFaults those while settling (the cost of pages read
	// again after being paged out).
	MajorFaults        int64 `json:"major_faults"`
	SettledMajorFaults int64 `json:"settled_major_faults"`
	GOMAXPROCS         int   `json:"gomaxprocs"`
	// LoadAverage is the 1-minute load average before the run (the
	// machine may be shared).
	LoadAverage float64 `json:"load_average"`
}

// BenchIngest measures the ingest path end to end: line-protocol samples
// are first published to the embedded NATS server's stream (timed
// separately), then an omen daemon drains the stream: decode, commit to
// the Badger ingest log, acknowledge, append to the PromQL head, and the
// evaluator computes the default features of every pod at every step and
// stores them in Badger. IngestSeconds ends when the last sample is
// acknowledged; FeaturesSeconds when the last step's vectors are stored.
func BenchIngest(ctx context.Context, o BenchIngestOptions) (BenchIngestResult, error) {
	if o.Pods <= 0 {
		o.Pods = 10000
	}
	if o.Rounds <= 0 {
		o.Rounds = 20
	}
	if o.LinesPerMessage <= 0 {
		o.LinesPerMessage = 500
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "omen-bench-ingest-")
		if err != nil {
			return BenchIngestResult{}, fmt.Errorf("create temp dir: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	const fields = 10
	res := BenchIngestResult{Series: o.Pods * fields, Samples: o.Pods * fields * o.Rounds, GOMAXPROCS: runtime.GOMAXPROCS(0), MemoryLimit: o.MemoryLimit}
	res.LoadAverage = loadAverage()
	if o.MemoryLimit > 0 {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(o.MemoryLimit))
	}

	reg := prometheus.NewRegistry()
	cfg := config.Default()
	if o.Config != nil {
		c := *o.Config
		cfg = &c
	}
	if o.MemoryReleaseInterval != 0 {
		cfg.Runtime.MemoryReleaseInterval = model.Duration(o.MemoryReleaseInterval)
	}
	res.MemoryReleaseInterval = time.Duration(cfg.Runtime.MemoryReleaseInterval).Seconds()
	a, err := New(Options{
		Config:        cfg,
		ListenAddress: "127.0.0.1:0", StoragePath: dir, NATSListenAddress: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler), Registerer: reg, Gatherer: reg,
	})
	if err != nil {
		return res, err
	}
	if err := a.Start(ctx); err != nil {
		return res, err
	}
	defer a.Stop(context.Background()) //nolint:errcheck // best effort in a benchmark
	res.IdleHeapBytes, res.IdleRSSBytes = heapAndRSS()
	if st, err := procStatus(); err == nil {
		res.IdleRSSAnonBytes = st["RssAnon"]
	}

	// Stop the consumer's effect from being measured during publishing:
	// the stream is filled first, with omen's consumer already attached,
	// so what is measured is omen draining a backlog as fast as it can.
	nc, err := nats.Connect(a.NATSURL())
	if err != nil {
		return res, fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return res, fmt.Errorf("jetstream: %w", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now().Add(-time.Duration(o.Rounds) * 15 * time.Second).Truncate(15 * time.Second)
	buf := make([]byte, 0, o.LinesPerMessage*300)
	fmt.Fprintf(o.Progress, "publishing %d samples of %d series\n", res.Samples, res.Series)
	pubStart, cpuStart, faultStart := time.Now(), processCPUSeconds(), processMajorFaults()
	var futures []jetstream.PubAckFuture
	for r := 0; r < o.Rounds; r++ {
		ts := strconv.FormatInt(start.Add(time.Duration(r)*15*time.Second).UnixNano(), 10)
		for p := 0; p < o.Pods; p++ {
			buf = appendPodLine(buf, p, r, ts, rng)
			if (p+1)%o.LinesPerMessage == 0 || p == o.Pods-1 {
				f, err := js.PublishAsync("omen.metrics.influx", append([]byte(nil), buf...))
				if err != nil {
					return res, fmt.Errorf("publish: %w", err)
				}
				futures = append(futures, f)
				res.Messages++
				buf = buf[:0]
			}
		}
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return res, fmt.Errorf("publish ack: %w", err)
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	res.PublishSeconds = time.Since(pubStart).Seconds()
	fmt.Fprintf(o.Progress, "published in %.1fs; draining\n", res.PublishSeconds)

	// The consumer drains concurrently with publishing; time from the
	// first publish to the last acknowledged sample.
	lastStep := start.Add(time.Duration(o.Rounds-2) * 15 * time.Second).UnixMilli()
	lastCPU, lastT := cpuStart, pubStart
	for {
		got, step := a.Progress()
		if o.Trace {
			now, cpu := time.Now(), processCPUSeconds()
			fmt.Fprintf(o.Progress, "%.2fs: %d samples, step %d, %.2f cores busy\n", now.Sub(pubStart).Seconds(), got,
				(step-start.UnixMilli())/15000, (cpu-lastCPU)/now.Sub(lastT).Seconds())
			lastCPU, lastT = cpu, now
		}
		if res.IngestSeconds == 0 && got >= int64(res.Samples) {
			res.IngestSeconds = time.Since(pubStart).Seconds()
			res.IngestCPUSeconds = processCPUSeconds() - cpuStart
			fmt.Fprintf(o.Progress, "ingested in %.2fs (%.2f CPU-s)\n", res.IngestSeconds, res.IngestCPUSeconds)
			if o.Ingested != nil {
				o.Ingested()
			}
		}
		if res.IngestSeconds > 0 && step >= lastStep {
			res.FeaturesSeconds = time.Since(pubStart).Seconds()
			res.FeaturesCPUSeconds = processCPUSeconds() - cpuStart
			break
		}
		wait := 5 * time.Millisecond
		if o.Trace {
			wait = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(wait):
		}
	}
	res.StepsEvaluated = int(counterValue(reg, "omen_evaluator_steps_total"))
	res.SamplesPerSecond = float64(res.Samples) / res.IngestSeconds
	res.EndToEndPerSecond = float64(res.Samples) / res.FeaturesSeconds

	if res.IngestCPUSeconds > 0 {
		res.SamplesPerCPUSecond = float64(res.Samples) / res.IngestCPUSeconds
	}

	res.MajorFaults = processMajorFaults() - faultStart
	res.HeapBytes, res.RSSBytes = heapAndRSS()
	st, _ := procStatus()
	res.RSSAnonBytes, res.RSSFileBytes, res.PeakRSSBytes = st["RssAnon"], st["RssFile"], st["VmHWM"]
	n := float64(res.Series)
	res.HeapBytesPerSeries = float64(res.HeapBytes) / n
	res.RSSBytesPerSeries = float64(res.RSSBytes) / n
	res.HeapDeltaBytesPerSeries = float64(res.HeapBytes-res.IdleHeapBytes) / n
	res.RSSDeltaBytesPerSeries = float64(res.RSSBytes-res.IdleRSSBytes) / n
	if o.Settle > 0 {
		fmt.Fprintf(o.Progress, "settling for %v\n", o.Settle)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(o.Settle):
		}
		res.SettledMajorFaults = processMajorFaults() - faultStart - res.MajorFaults
		res.SettleSeconds = o.Settle.Seconds()
		res.SettledHeapBytes, res.SettledRSSBytes = heapAndRSS()
		st, _ := procStatus()
		res.SettledRSSAnonBytes = st["RssAnon"]
		res.SettledRSSAnonDeltaBytesPerSeries = float64(res.SettledRSSAnonBytes-res.IdleRSSAnonBytes) / n
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		res.SettledHeapUnreleasedBytes = int64(ms.HeapIdle - ms.HeapReleased)
		res.SettledRuntimeOtherBytes = int64(ms.StackSys + ms.MSpanSys + ms.MCacheSys + ms.BuckHashSys + ms.GCSys + ms.OtherSys)
		rm := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		metrics.Read(rm)
		res.SettledHeapLiveBytes, res.SettledHeapUnusedBytes = int64(rm[0].Value.Uint64()), int64(rm[1].Value.Uint64())
		res.SettledRSSBytesPerSeries = float64(res.SettledRSSBytes) / n
		res.SettledRSSDeltaBytesPerSeries = float64(res.SettledRSSBytes-res.IdleRSSBytes) / n
		res.SettledHeapDeltaBytesPerSeries = float64(res.SettledHeapBytes-res.IdleHeapBytes) / n
	}
	res.MemoryReleases = int(counterValue(reg, "omen_memory_releases_total"))
	res.FileMappingsPagedOut = int(counterValue(reg, "omen_memory_file_mappings_paged_out_total"))
	if o.AfterMeasure != nil {
		o.AfterMeasure()
	}
	return res, nil
}

// appendPodLine appends one Telegraf-style line of 10 cAdvisor and
// kube-state-metrics fields for pod p.
func appendPodLine(b []byte, p, round int, ts string, rng *rand.Rand) []byte {
	b = append(b, "container,namespace=ns"...)
	b = strconv.AppendInt(b, int64(p%50), 10)
	b = append(b, ",pod=pod-"...)
	b = strconv.AppendInt(b, int64(p), 10)
	b = append(b, ",container=app cpu_usage_seconds_total="...)
	b = strconv.AppendFloat(b, float64(round)*1.5+rng.Float64(), 'f', 3, 64)
	b = append(b, ",cpu_cfs_periods_total="...)
	b = strconv.AppendInt(b, int64(round*150), 10)
	b = append(b, ",cpu_cfs_throttled_periods_total="...)
	b = strconv.AppendInt(b, int64(round*rng.IntN(10)), 10)
	b = append(b, ",memory_working_set_bytes="...)
	b = strconv.AppendInt(b, 200e6+int64(rng.IntN(1e6)), 10)
	b = append(b, ",spec_memory_limit_bytes=536870912,oom_events_total=0"...)
	b = append(b, ",fs_reads_total="...)
	b = strconv.AppendInt(b, int64(round*10), 10)
	b = append(b, ",fs_writes_total="...)
	b = strconv.AppendInt(b, int64(round*7), 10)
	b = append(b, ",network_receive_bytes_total="...)
	b = strconv.AppendInt(b, int64(round*4096), 10)
	b = append(b, ",network_transmit_bytes_total="...)
	b = strconv.AppendInt(b, int64(round*2048), 10)
	b = append(b, ' ')
	b = append(b, ts...)
	return append(b, '\n')
}

func counterValue(g prometheus.Gatherer, name string) float64 { return metricSum(g, name) }

// metricSum sums every series of a metric family.
func metricSum(g prometheus.Gatherer, name string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	var s float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			s += metricValue(mf.GetType(), m)
		}
	}
	return s
}

func metricValue(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// heapAndRSS collects garbage and returns the Go heap in use and the
// resident set size.
func heapAndRSS() (heap, rss int64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st, _ := procStatus()
	return int64(ms.HeapInuse), st["VmRSS"]
}

// procStatus returns the kB fields of /proc/self/status in bytes.
func procStatus() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			out[k] = n << 10
		}
	}
	return out, nil
}

// loadAverage returns the 1-minute load average, or 0 when unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
