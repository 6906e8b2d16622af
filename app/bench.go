package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
}

// BenchIngestResult is what "omen bench ingest --json" prints.
type BenchIngestResult struct {
	Series             int     `json:"series"`
	Samples            int     `json:"samples"`
	Messages           int     `json:"messages"`
	PublishSeconds     float64 `json:"publish_seconds"`
	IngestSeconds      float64 `json:"ingest_seconds"`
	SamplesPerSecond   float64 `json:"samples_per_s"`
	FeaturesSeconds    float64 `json:"features_seconds"`
	EndToEndPerSecond  float64 `json:"end_to_end_samples_per_s"`
	StepsEvaluated     int     `json:"steps_evaluated"`
	HeapBytesPerSeries float64 `json:"heap_bytes_per_series"`
	RSSBytesPerSeries  float64 `json:"rss_bytes_per_series"`
	GOMAXPROCS         int     `json:"gomaxprocs"`
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
	res := BenchIngestResult{Series: o.Pods * fields, Samples: o.Pods * fields * o.Rounds, GOMAXPROCS: runtime.GOMAXPROCS(0)}

	reg := prometheus.NewRegistry()
	a, err := New(Options{
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
	pubStart := time.Now()
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
	for {
		got, step := a.Progress()
		if res.IngestSeconds == 0 && got >= int64(res.Samples) {
			res.IngestSeconds = time.Since(pubStart).Seconds()
			fmt.Fprintf(o.Progress, "ingested in %.1fs\n", res.IngestSeconds)
		}
		if res.IngestSeconds > 0 && step >= lastStep {
			res.FeaturesSeconds = time.Since(pubStart).Seconds()
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	res.StepsEvaluated = int(counterValue(reg, "omen_evaluator_steps_total"))
	res.SamplesPerSecond = float64(res.Samples) / res.IngestSeconds
	res.EndToEndPerSecond = float64(res.Samples) / res.FeaturesSeconds

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapBytesPerSeries = float64(ms.HeapInuse) / float64(res.Series)
	if rss, err := readRSS(); err == nil {
		res.RSSBytesPerSeries = float64(rss) / float64(res.Series)
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

// readRSS returns the process's resident set size from /proc.
func readRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	var size, rss int64
	if _, err := fmt.Sscan(string(b), &size, &rss); err != nil {
		return 0, err
	}
	return rss * int64(os.Getpagesize()), nil
}
