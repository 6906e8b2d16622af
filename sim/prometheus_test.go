package sim

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestScrapedByPrometheus lets Debian Prometheus 2.42 scrape the handler
// (honor_timestamps) while the fleet advances, and checks that the stored
// samples carry the simulated tick times, not the scrape times.
func TestScrapedByPrometheus(t *testing.T) {
	start := time.Now().Add(-30 * time.Minute).Truncate(15 * time.Second)
	f := newFleet(t, Options{Seed: 6, Start: start})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sim
    honor_timestamps: true
    honor_labels: true
    static_configs:
      - targets: [%q]
`, ln.Addr().String())
	prom := testenv.Prometheus(t, cfg)

	query := func(expr string, at int64) []struct {
		Metric map[string]string `json:"metric"`
		Value  []any             `json:"value"`
		Values [][]any           `json:"values"`
	} {
		t.Helper()
		u := prom + "/api/v1/query?query=" + url.QueryEscape(expr) + "&time=" + strconv.FormatFloat(float64(at)/1000, 'f', 3, 64)
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Value  []any             `json:"value"`
					Values [][]any           `json:"values"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
			t.Fatalf("query %s: %v %s", expr, err, body.Error)
		}
		return body.Data.Result
	}

	const ticks = 4
	var times []int64
	scraped := func() bool { // the latest tick is in Prometheus
		at := times[len(times)-1]
		r := query(fmt.Sprintf("count(timestamp(kube_pod_info) >= %.3f)", float64(at)/1000), at)
		return len(r) == 1
	}
	for range ticks {
		times = append(times, f.Advance().Time.UnixMilli())
		// Prometheus applies new targets after up to 5s; then it scrapes
		// every second.
		deadline := time.Now().Add(20 * time.Second)
		for !scraped() {
			if time.Now().After(deadline) {
				t.Fatalf("tick at %v not scraped within 20s", time.UnixMilli(times[len(times)-1]))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	last := times[len(times)-1]

	if r := query("count(kube_pod_info)", last); len(r) != 1 || r[0].Value[1] != strconv.Itoa(len(f.Pods())) {
		t.Fatalf("count(kube_pod_info) at the last tick: %v, want %d", r, len(f.Pods()))
	}
	// Raw samples of one series over the whole run: exactly the tick times.
	r := query(`kube_pod_container_status_restarts_total{service="cartservice"}[10m]`, last)
	if len(r) == 0 {
		t.Fatal("no restarts series")
	}
	got := map[int64]bool{}
	for _, v := range r[0].Values {
		ts := int64(v[0].(float64)*1000 + 0.5)
		got[ts] = true
	}
	for ts := range got {
		found := false
		for _, w := range times {
			found = found || ts == w
		}
		if !found {
			t.Errorf("sample at %v is not a tick time (ticks %v)", time.UnixMilli(ts), times)
		}
	}
	if len(got) != ticks {
		t.Errorf("%d distinct sample times for %d ticks", len(got), ticks)
	}
}
