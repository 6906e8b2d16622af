package app

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// BenchmarkAppendCommits measures the ingest-log throughput of concurrent
// Appends (64 sources, each batch 100 series × 1 sample, as a NATS
// consumer's or a remote-write request's) against an on-disk store with
// fsync, for several bounds on the commits in flight (maxCommits is 16).
// Compare the samples/s of the sub-benchmarks:
//
//	go test -run XXX -bench AppendCommits -benchtime 2000x -count 5 ./app
func BenchmarkAppendCommits(b *testing.B) {
	for _, slots := range []int{1, 4, maxCommits, 64} {
		b.Run(fmt.Sprintf("slots=%d", slots), func(b *testing.B) {
			in, _ := newTestIngesterOn(b, store.Options{Path: b.TempDir()})
			in.commits = make(chan struct{}, slots)

			const sources, series = 64, 100
			sets := make([]labels.Labels, sources*series)
			for i := range sets {
				sets[i] = labels.FromStrings("__name__", "kube_pod_container_status_restarts_total",
					"namespace", fmt.Sprintf("ns%d", i/series), "pod", fmt.Sprintf("p%d", i%series))
			}
			t0 := int64(1_700_000_000_000)
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, sources)
			b.ResetTimer()
			for src := range sources {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for seq := uint64(1); ; seq++ {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						batch := telemetry.Batch{Source: fmt.Sprintf("src%d", src), Seq: seq, Received: t0}
						for i := range series {
							batch.Samples = append(batch.Samples, telemetry.Sample{Labels: sets[src*series+i], T: t0 + int64(seq)*15_000, V: float64(seq)})
						}
						if err := in.Append(context.Background(), []telemetry.Batch{batch}); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N*series)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
