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
