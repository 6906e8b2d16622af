package stream

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/stream/decode"
	"github.com/omen-sre/omen/telemetry"
)

// TestRemoteWriteFromPrometheus has a real Prometheus 2.42 scrape a tiny
// exporter and remote-write to omen's receiver.
func TestRemoteWriteFromPrometheus(t *testing.T) {
	verifyNoLeaks(t)
	// The exporter.
	ereg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "omen_test_module_load_seconds", Help: "h"}, []string{"module"})
	g.WithLabelValues("payments").Set(42.5)
	g.WithLabelValues("auth").Set(-3.25)
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "omen_test_restarts_total", Help: "h"})
	c.Add(7)
	ereg.MustRegister(g, c)
	exporter := httptest.NewServer(promhttp.HandlerFor(ereg, promhttp.HandlerOpts{}))
	t.Cleanup(exporter.Close)

	// omen's receiver.
	app := &MemAppender{}
	h, reg := newTestReceiver(t, app, RemoteWriteOptions{})
	mux := http.NewServeMux()
	mux.Handle(RemoteWritePath, h)
	receiver := httptest.NewServer(mux)
	t.Cleanup(receiver.Close)

	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: exporter
    static_configs:
      - targets: [%q]
        labels:
          namespace: shop
remote_write:
  - url: %s%s
    queue_config:
      batch_send_deadline: 200ms
      min_backoff: 50ms
      max_backoff: 500ms
`, exporter.Listener.Addr().String(), receiver.URL, RemoteWritePath)
	testenv.Prometheus(t, cfg)

	want := map[string]float64{
		`{__name__="omen_test_module_load_seconds", instance="` + exporter.Listener.Addr().String() + `", job="exporter", module="payments", namespace="shop"}`: 42.5,
		`{__name__="omen_test_module_load_seconds", instance="` + exporter.Listener.Addr().String() + `", job="exporter", module="auth", namespace="shop"}`:     -3.25,
		`{__name__="omen_test_restarts_total", instance="` + exporter.Listener.Addr().String() + `", job="exporter", namespace="shop"}`:                         7,
		`{__name__="up", instance="` + exporter.Listener.Addr().String() + `", job="exporter", namespace="shop"}`:                                               1,
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		got := map[string]float64{}
		for _, s := range app.Samples() {
			got[s.Labels.String()] = s.V
		}
		missing := 0
		for k, v := range want {
			gv, ok := got[k]
			if !ok {
				missing++
				continue
			}
			if gv != v {
				t.Fatalf("%s = %v, want %v", k, gv, v)
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d series not received; got %v", missing, len(want), got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v := counterValue(t, reg, "omen_remote_write_requests_total", "code", "204"); v < 1 {
		t.Fatalf("no 204 responses counted")
	}
	for _, s := range app.Samples() {
		if s.T < time.Now().Add(-time.Minute).UnixMilli() || s.T > time.Now().UnixMilli() {
			t.Fatalf("sample time %d not recent", s.T)
		}
		if s.Labels.Get(pmodel.MetricNameLabel) == "" {
			t.Fatalf("sample without name %s", s.Labels)
		}
	}
}

// throughputRequests builds, for each of workers, reqs pre-encoded
// requests of series samples each. Worker w owns its series (label
// worker=w) and its timestamps rise by 100ms per request, so that a real
// TSDB accepts every sample in order.
func throughputRequests(t testing.TB, workers, reqs, series int) ([][][]byte, int, int64) {
	base := time.Now().Add(-30 * time.Minute).UnixMilli()
	out := make([][][]byte, workers)
	total := 0
	for w := range workers {
		for r := range reqs {
			wr := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, series)}
			for s := range series {
				wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{
					Labels: []prompb.Label{
						{Name: "__name__", Value: fmt.Sprintf("omen_bench_metric_%d", s%20)},
						{Name: "container", Value: "app"},
						{Name: "job", Value: "kubernetes-pods"},
						{Name: "namespace", Value: fmt.Sprintf("ns-%d", s%7)},
						{Name: "pod", Value: fmt.Sprintf("pod-%d", s)},
						{Name: "worker", Value: strconv.Itoa(w)},
					},
					Samples: []prompb.Sample{{Value: float64(r), Timestamp: base + int64(r)*100}},
				})
			}
			out[w] = append(out[w], encodeWriteRequest(t, &wr))
			total += series
		}
	}
	return out, total, base
}

// postAll sends every worker's requests to url in order, workers in
// parallel, and returns the elapsed time.
func postAll(t *testing.T, url string, reqs [][][]byte) time.Duration {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(reqs)}, Timeout: time.Minute}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make(chan error, len(reqs))
	start := time.Now()
	for _, wreqs := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, body := range wreqs {
				req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				req.Header.Set("Content-Type", "application/x-protobuf")
				req.Header.Set("Content-Encoding", "snappy")
				req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var msg bytes.Buffer
				_, _ = msg.ReadFrom(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					errs <- fmt.Errorf("POST %s: %s: %s", url, resp.Status, msg.String())
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return elapsed
}

// TestRemoteWriteThroughputVsPrometheus posts the same pre-encoded
// remote-write requests, with the same concurrency, to omen's receiver (on
// an httptest server, in-memory appender) and to a real Prometheus 2.42
// with --web.enable-remote-write-receiver, and reports samples/s for each.
// With OMEN_BENCH=1 it sends 2×100 requests of 2000 samples; otherwise a
// tiny version of the same code path runs.
func TestRemoteWriteThroughputVsPrometheus(t *testing.T) {
	verifyNoLeaks(t)
	workers, reqs, series := 2, 4, 200
	if os.Getenv("OMEN_BENCH") == "1" {
		workers, reqs, series = 2, 100, 2000
	}
	requests, total, base := throughputRequests(t, workers, reqs, series)

	app := &MemAppender{CountOnly: true}
	h, _ := newTestReceiver(t, app, RemoteWriteOptions{})
	receiver := httptest.NewServer(h)
	t.Cleanup(receiver.Close)
	promURL := testenv.Prometheus(t, "")

	omenD := postAll(t, receiver.URL+RemoteWritePath, requests)
	promD := postAll(t, promURL+"/api/v1/write", requests)

	if s, _, _ := app.Counts(); s != total {
		t.Fatalf("omen stored %d samples, want %d", s, total)
	}
	// Prometheus stored them too: every sample of one series.
	var res struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	q := url.Values{
		"query": {`count_over_time(omen_bench_metric_0{worker="0",pod="pod-0"}[1h])`},
		"time":  {strconv.FormatFloat(float64(base+int64(reqs)*100)/1000, 'f', 3, 64)},
	}
	getJSONValue(t, promURL+"/api/v1/query?"+q.Encode(), &res)
	if len(res.Data.Result) != 1 || len(res.Data.Result[0].Value) != 2 || res.Data.Result[0].Value[1] != strconv.Itoa(reqs) {
		t.Fatalf("prometheus holds %+v samples of one series, want %d", res, reqs)
	}
	omenRate := float64(total) / omenD.Seconds()
	promRate := float64(total) / promD.Seconds()
	t.Logf("remote-write %d samples, %d workers × %d requests × %d series", total, workers, reqs, series)
	t.Logf("omen receiver:      %10.0f samples/s (%s)", omenRate, omenD)
	t.Logf("prometheus 2.42:    %10.0f samples/s (%s)", promRate, promD)
	t.Logf("ratio omen/prometheus: %.2f", omenRate/promRate)
}

// TestRemoteWriteFromPrometheusSelfScrape has a real Prometheus 2.42
// scrape its own metrics (through a proxy that can fail the scrape) and
// remote-write them to omen's receiver. Its summaries without
// observations (prometheus_engine_query_duration_seconds: nothing queries
// this Prometheus) expose NaN quantiles: they are samples, not
// ingest errors. When the scrape then fails, Prometheus ends the series
// with stale markers, which arrive as value.StaleNaN.
func TestRemoteWriteFromPrometheusSelfScrape(t *testing.T) {
	verifyNoLeaks(t)
	app := &MemAppender{}
	h, reg := newTestReceiver(t, app, RemoteWriteOptions{})
	mux := http.NewServeMux()
	mux.Handle(RemoteWritePath, h)
	receiver := httptest.NewServer(mux)
	t.Cleanup(receiver.Close)

	// The scrape target: Prometheus' own /metrics once it is up and until
	// down is set, 503 otherwise.
	var target atomic.Pointer[url.URL]
	var down atomic.Bool
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target.Load()) },
		Transport: transport,
	}
	self := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if target.Load() == nil || down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(self.Close)

	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: [%q]
remote_write:
  - url: %s%s
    queue_config:
      batch_send_deadline: 200ms
      min_backoff: 50ms
      max_backoff: 500ms
`, self.Listener.Addr().String(), receiver.URL, RemoteWritePath)
	u, err := url.Parse(testenv.Prometheus(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	target.Store(u)

	// wait polls the received samples until found reports true.
	wait := func(what string, found func(s telemetry.Sample) bool) {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		for {
			if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", decode.ReasonInvalidValue); v != 0 {
				t.Fatalf("waiting for %s: omen_ingest_errors_total{reason=%q} = %v, want 0", what, decode.ReasonInvalidValue, v)
			}
			if slices.ContainsFunc(app.Samples(), found) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s received in 45s (%d samples)", what, len(app.Samples()))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	isBuildInfo := func(s telemetry.Sample) bool {
		return s.Labels.Get(pmodel.MetricNameLabel) == "prometheus_build_info" && s.Labels.Get("job") == "prometheus"
	}
	wait("NaN quantile", func(s telemetry.Sample) bool {
		return s.Labels.Get(pmodel.MetricNameLabel) == "prometheus_engine_query_duration_seconds" &&
			s.Labels.Get("quantile") != "" && math.IsNaN(s.V) && !value.IsStaleNaN(s.V)
	})
	wait("prometheus_build_info 1", func(s telemetry.Sample) bool { return isBuildInfo(s) && s.V == 1 })
	// A few more scrapes: every one holds NaN quantiles.
	time.Sleep(3 * time.Second)
	nans := 0
	for _, s := range app.Samples() {
		if math.IsNaN(s.V) && !value.IsStaleNaN(s.V) {
			nans++
		}
	}
	if nans < 3 {
		t.Fatalf("%d NaN samples received, want several", nans)
	}

	down.Store(true)
	wait("stale marker", func(s telemetry.Sample) bool { return isBuildInfo(s) && value.IsStaleNaN(s.V) })
	if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", decode.ReasonInvalidValue); v != 0 {
		t.Fatalf("omen_ingest_errors_total{reason=%q} = %v after the stale markers, want 0", decode.ReasonInvalidValue, v)
	}
}
