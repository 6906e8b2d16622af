package features

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/telemetry"
)

// After a churn (100,000 series sent once, gone after the lookback) a Head
// with 100 live series holds about what one that never saw the churn
// does: its shards' maps and name lists and its series-ref cache are
// rebuilt when they shrink, where Go maps keep the buckets of deleted
// entries (≈ 4 MB here, 16 bytes a series plus the ref cache's slots).
func TestHeadShrinksAfterChurn(t *testing.T) {
	const keep, churn = 100, 100_000
	lset := func(prefix string, i int) labels.Labels {
		return labels.FromStrings("__name__", "kube_pod_info", "namespace", "ns", "pod", fmt.Sprintf("%s-%d", prefix, i))
	}
	keepers := make([]labels.Labels, keep)
	for i := range keepers {
		keepers[i] = lset("keep", i)
	}
	step := func(h *Head, t0 int64) {
		t.Helper()
		batch := make([]telemetry.Sample, keep)
		for i, ls := range keepers {
			batch[i] = telemetry.Sample{Labels: ls, T: t0, V: 1}
		}
		appendAll(t, h, batch)
	}
	run := func(withChurn bool) (*Head, uint64) {
		before := testenv.LiveHeapBytes()
		h, err := NewHead(HeadOptions{Lookback: 5 * time.Minute, ImmutableLabels: true, Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		step(h, base)
		if withChurn {
			batch := make([]telemetry.Sample, churn)
			for i := range batch {
				batch[i] = telemetry.Sample{Labels: lset("churn", i), T: base, V: 1}
			}
			appendAll(t, h, batch)
		}
		// The keepers go on for 10m, every 15s; the churned series are
		// garbage-collected after 5m.
		for k := 1; k <= 40; k++ {
			step(h, base+int64(k)*15*sec)
		}
		h.GC()
		if n := h.NumSeries(); n != keep {
			t.Fatalf("series %d, want %d", n, keep)
		}
		after := testenv.LiveHeapBytes()
		return h, after - min(before, after)
	}
	fresh, want := run(false)
	churned, got := run(true)
	runtime.KeepAlive(fresh)
	runtime.KeepAlive(churned)
	t.Logf("heap of a head with %d series: %d bytes without churn, %d after %d churned series", keep, want, got, churn)
	if got > want+512<<10 {
		t.Errorf("after the churn the head holds %d bytes more than one that never saw it (%d vs %d bytes)", got-want, got, want)
	}
}
