package app

import (
	"context"
	"testing"
)

// TestBenchIngestSmoke runs a small "omen bench ingest" so the benchmark
// path cannot rot; the figures are reported in docs/PERFORMANCE.md.
func TestBenchIngestSmoke(t *testing.T) {
	res, err := BenchIngest(context.Background(), BenchIngestOptions{Pods: 200, Rounds: 6, LinesPerMessage: 50, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Samples != 200*10*6 || res.SamplesPerSecond <= 0 || res.StepsEvaluated == 0 {
		t.Fatalf("unexpected result %+v", res)
	}
}

// BenchmarkIngest runs "omen bench ingest" (100,000 series, 2,000,000
// samples) b.N times and reports the mean figures; use -benchtime=3x.
func BenchmarkIngest(b *testing.B) {
	var sum BenchIngestResult
	for range b.N {
		res, err := BenchIngest(context.Background(), BenchIngestOptions{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		sum.SamplesPerSecond += res.SamplesPerSecond
		sum.SamplesPerCPUSecond += res.SamplesPerCPUSecond
		sum.EndToEndPerSecond += res.EndToEndPerSecond
		sum.HeapBytesPerSeries += res.HeapBytesPerSeries
		sum.RSSBytesPerSeries += res.RSSBytesPerSeries
		sum.RSSDeltaBytesPerSeries += res.RSSDeltaBytesPerSeries
	}
	n := float64(b.N)
	b.ReportMetric(sum.SamplesPerSecond/n, "samples/s")
	b.ReportMetric(sum.SamplesPerCPUSecond/n, "samples/cpu-s")
	b.ReportMetric(sum.EndToEndPerSecond/n, "e2e-samples/s")
	b.ReportMetric(sum.HeapBytesPerSeries/n, "heap-B/series")
	b.ReportMetric(sum.RSSBytesPerSeries/n, "rss-B/series")
	b.ReportMetric(sum.RSSDeltaBytesPerSeries/n, "rss-delta-B/series")
}
