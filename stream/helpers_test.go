package stream

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metricOf returns the metric name{label=value} in reg, or nil when
// absent.
func metricOf(t testing.TB, reg prometheus.Gatherer, name, label, value string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m
				}
			}
		}
	}
	return nil
}

// counterValue returns the value of the counter name{label=value} in reg,
// or 0 when absent.
func counterValue(t testing.TB, reg prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	return metricOf(t, reg, name, label, value).GetCounter().GetValue()
}

// gaugeValue returns the value of the gauge name{label=value} in reg, and
// whether it is there.
func gaugeValue(t testing.TB, reg prometheus.Gatherer, name, label, value string) (float64, bool) {
	t.Helper()
	m := metricOf(t, reg, name, label, value)
	return m.GetGauge().GetValue(), m != nil
}

func getJSONValue(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", url, err)
	}
}

// runPoller runs p until the test ends (its Run's error then ignored: it
// returns on the cancel).
func runPoller(t testing.TB, p *Poller) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// catchUpPoller is a poller of queries on the Prometheus at url, at step,
// appending to app: it fetches missed steps up to 10s back, with one retry
// a poll (1ms back-off) and a 1s timeout. It returns the poller's
// registry.
func catchUpPoller(t testing.TB, app Appender, url string, queries map[string]string, step time.Duration) (*Poller, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := NewPoller(app, PollerOptions{URL: url, Queries: queries, Step: step,
		CatchUp: 10 * time.Second, RetryBackoff: time.Millisecond, MaxRetries: 1, Timeout: time.Second}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, reg
}
