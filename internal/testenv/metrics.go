package testenv

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// GaugeValue returns the value of the gauge name in g, which must have
// one series without labels, and whether g has it.
func GaugeValue(t testing.TB, g prometheus.Gatherer, name string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		if len(mf.GetMetric()) != 1 || len(mf.GetMetric()[0].GetLabel()) != 0 {
			t.Fatalf("%s: %v, want one series without labels", name, mf.GetMetric())
		}
		return mf.GetMetric()[0].GetGauge().GetValue(), true
	}
	return 0, false
}
