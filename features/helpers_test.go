package features

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// base is a step-aligned time, in milliseconds.
const base = int64(1_800_000_000_000)

const sec = int64(1000)

// series returns n samples of lset every 15s from start, value f(k).
func series(lset labels.Labels, start int64, n int, f func(k int) float64) []telemetry.Sample {
	out := make([]telemetry.Sample, n)
	for k := range n {
		out[k] = telemetry.Sample{Labels: lset, T: start + int64(k)*15*sec, V: f(k)}
	}
	return out
}

func newTestHead(t testing.TB, reg prometheus.Registerer, opts HeadOptions) *Head {
	t.Helper()
	opts.Registerer = reg
	h, err := NewHead(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func appendAll(t testing.TB, h *Head, samples ...[]telemetry.Sample) {
	t.Helper()
	for _, s := range samples {
		if _, err := h.Append(s); err != nil {
			t.Fatal(err)
		}
	}
}

func newTestExtractor(t testing.TB, h *Head, reg prometheus.Registerer, cfg Config) *Extractor {
	t.Helper()
	e, err := NewExtractor(ExtractorOptions{Config: cfg, Head: h, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func evaluate(t testing.TB, e *Extractor, at int64) map[string]Vector {
	t.Helper()
	vs, err := e.Evaluate(context.Background(), time.UnixMilli(at))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Vector{}
	for _, v := range vs {
		out[v.Entity] = v
	}
	return out
}

func dropped(t testing.TB, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	c, err := droppedCounter(reg)
	if err != nil {
		t.Fatal(err)
	}
	return testutil.ToFloat64(c.WithLabelValues(reason))
}

// near reports whether got equals want within 1e-12 relative (NaN equals NaN).
func near(got, want float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	if got == want {
		return true
	}
	return math.Abs(got-want) <= 1e-12*math.Max(math.Abs(got), math.Abs(want))
}
