package features

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/telemetry"
)

// randomFleet returns kube-state-metrics, cAdvisor and HTTP series for pods
// with random counter increments (and resets), gauges and waiting reasons:
// steps samples every 15s from start.
func randomFleet(rng *rand.Rand, start int64, steps, pods int) [][]telemetry.Sample {
	var out [][]telemetry.Sample
	add := func(gen func(k int, prev float64) float64, ls ...string) {
		s := make([]telemetry.Sample, steps)
		l := labels.FromStrings(ls...)
		prev := 0.0
		for k := range steps {
			prev = gen(k, prev)
			s[k] = telemetry.Sample{Labels: l, T: start + int64(k)*15*sec, V: prev}
		}
		out = append(out, s)
	}
	counter := func(maxInc float64, resetEvery int) func(int, float64) float64 {
		return func(k int, prev float64) float64 {
			if resetEvery > 0 && k > 0 && rng.IntN(resetEvery) == 0 {
				return rng.Float64() * maxInc
			}
			return prev + rng.Float64()*maxInc
		}
	}
	intCounter := func(p float64) func(int, float64) float64 {
		return func(_ int, prev float64) float64 {
			if rng.Float64() < p {
				return prev + 1
			}
			return prev
		}
	}
	flag := func(p float64) func(int, float64) float64 {
		return func(int, float64) float64 {
			if rng.Float64() < p {
				return 1
			}
			return 0
		}
	}
	gauge := func(lo, hi float64) func(int, float64) float64 {
		return func(int, float64) float64 { return lo + rng.Float64()*(hi-lo) }
	}
	for p := range pods {
		pod := fmt.Sprintf("api-%d", p)
		id := func(name string, extra ...string) []string {
			return append([]string{"__name__", name, "namespace", "shop", "pod", pod, "job", "ksm"}, extra...)
		}
		add(intCounter(0.1*float64(p%3)), id("kube_pod_container_status_restarts_total", "container", "app")...)
		add(intCounter(0.02), id("kube_pod_init_container_status_restarts_total", "container", "init")...)
		for _, r := range []string{"CrashLoopBackOff", "ErrImagePull", "CreateContainerConfigError"} {
			add(flag(0.2), id("kube_pod_container_status_waiting_reason", "container", "app", "reason", r)...)
			add(flag(0.1), id("kube_pod_init_container_status_waiting_reason", "container", "init", "reason", r)...)
		}
		add(flag(0.3), id("kube_pod_container_status_last_terminated_reason", "container", "app", "reason", "Error")...)
		add(flag(0.8), id("kube_pod_status_ready", "condition", "true")...)
		add(flag(0.1), id("kube_pod_status_phase", "phase", "Pending")...)
		for _, ctr := range []string{"app", "sidecar", "POD"} {
			cad := func(name string) []string {
				return []string{"__name__", name, "namespace", "shop", "pod", pod, "container", ctr, "job", "kubelet"}
			}
			add(gauge(50e6, 250e6), cad("container_memory_working_set_bytes")...)
			add(gauge(256e6, 256e6), cad("container_spec_memory_limit_bytes")...)
			add(counter(10, 0), cad("container_cpu_usage_seconds_total")...)
			add(counter(150, 0), cad("container_cpu_cfs_periods_total")...)
			add(counter(40, 0), cad("container_cpu_cfs_throttled_periods_total")...)
			add(intCounter(0.05), cad("container_oom_events_total")...)
		}
		for _, code := range []string{"200", "500"} {
			add(counter(300, 30), id("http_requests_total", "code", code)...)
		}
		for _, le := range []string{"0.05", "0.1", "0.5", "1", "+Inf"} {
			add(counter(50, 0), id("http_client_request_duration_seconds_bucket", "le", le)...) // made cumulative below
		}
		add(counter(100, 0), id("http_client_requests_total", "code", "200")...)
		add(counter(5, 0), id("http_client_requests_total", "code", "503")...)
	}
	// Make the histogram buckets cumulative.
	byPod := map[string][][]telemetry.Sample{}
	for _, s := range out {
		if s[0].Labels.Get("__name__") == "http_client_request_duration_seconds_bucket" {
			byPod[s[0].Labels.Get("pod")] = append(byPod[s[0].Labels.Get("pod")], s)
		}
	}
	for _, bs := range byPod {
		for i := 1; i < len(bs); i++ {
			for k := range bs[i] {
				bs[i][k].V += bs[i-1][k].V
			}
		}
	}
	return out
}

// remoteWrite sends the series to Prometheus's remote-write receiver.
func remoteWrite(t *testing.T, promURL string, series [][]telemetry.Sample) {
	t.Helper()
	var req prompb.WriteRequest
	for _, s := range series {
		ts := prompb.TimeSeries{}
		s[0].Labels.Range(func(l labels.Label) { ts.Labels = append(ts.Labels, prompb.Label{Name: l.Name, Value: l.Value}) })
		for _, x := range s {
			ts.Samples = append(ts.Samples, prompb.Sample{Value: x.V, Timestamp: x.T})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	hr, _ := http.NewRequest(http.MethodPost, promURL+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, raw)))
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("remote write: %s %s", resp.Status, b.String())
	}
}

// promQuery runs an instant query and returns value per entity (or "" for a
// scalar).
func promQuery(t *testing.T, promURL, expr string, at int64, entity []string) map[string]float64 {
	t.Helper()
	u := promURL + "/api/v1/query?" + url.Values{"query": {expr}, "time": {strconv.FormatFloat(float64(at)/1000, 'f', 3, 64)}}.Encode()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Error  string
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "success" {
		t.Fatalf("query %q: %s", expr, r.Error)
	}
	parse := func(v [2]any) float64 {
		f, err := strconv.ParseFloat(v[1].(string), 64)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	out := map[string]float64{}
	switch r.Data.ResultType {
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(r.Data.Result, &v); err != nil {
			t.Fatal(err)
		}
		out[""] = parse(v)
	case "vector":
		var vs []struct {
			Metric map[string]string
			Value  [2]any
		}
		if err := json.Unmarshal(r.Data.Result, &vs); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			var parts []string
			for _, l := range entity {
				parts = append(parts, v.Metric[l])
			}
			out[strings.Join(parts, "/")] = parse(v.Value)
		}
	default:
		t.Fatalf("query %q: result type %s", expr, r.Data.ResultType)
	}
	return out
}

// TestAgainstPrometheus242 evaluates the default features and a few more
// over random data both in omen and in a real Prometheus 2.42 fed the same
// samples by remote write, at times off the 15s sample grid (where the
// left-closed ranges of Prometheus 2 and the left-open ones of Prometheus 3
// select the same samples), and requires agreement within 1e-9 relative.
func TestAgainstPrometheus242(t *testing.T) {
	promURL := testenv.Prometheus(t, "")
	now := time.Now().UnixMilli() / (15 * sec) * (15 * sec)
	start := now - 20*60*sec
	rng := rand.New(rand.NewPCG(42, 7))
	fleet := randomFleet(rng, start, 81, 6)
	remoteWrite(t, promURL, fleet)

	cfg := DefaultConfig()
	cfg.Features = append(cfg.Features,
		Feature{Name: "avg_mem_1m", Expr: `avg by (${entity}) (avg_over_time(container_memory_working_set_bytes[1m]))`},
		Feature{Name: "max_over_time_ready", Expr: `max by (${entity}) (max_over_time(kube_pod_status_ready[3m]))`},
		Feature{Name: "deriv_mem", Expr: `max by (${entity}) (deriv(container_memory_working_set_bytes{container="app"}[5m]))`},
	)
	reg := prometheus.NewRegistry()
	h := newTestHead(t, reg, HeadOptions{})
	appendAll(t, h, fleet...)
	e := newTestExtractor(t, h, reg, cfg)
	res := cfg.Resolved()

	compared := 0
	for _, off := range []int64{7 * sec, 2*60*sec + 3*sec, 4*60*sec + 11*sec} {
		at := now - 5*60*sec + off
		got := evaluate(t, e, at)
		for i, f := range res.Features {
			want := promQuery(t, promURL, f.Expr, at, res.EntityLabels)
			for ent, w := range want {
				v, ok := got[ent]
				if !ok {
					t.Errorf("t%+d %s: entity %s missing in omen", at-now, f.Name, ent)
					continue
				}
				if !near9(v.Values[i], w) {
					t.Errorf("t%+d %s %s: omen %v, Prometheus 2.42 %v", at-now, f.Name, ent, v.Values[i], w)
				}
				compared++
			}
			for ent, v := range got {
				if _, ok := want[ent]; !ok && !math.IsNaN(v.Values[i]) {
					t.Errorf("t%+d %s %s: omen %v, Prometheus has no value", at-now, f.Name, ent, v.Values[i])
				}
			}
		}
		for i, l := range res.Labels {
			if l.Expr == "" {
				continue
			}
			want := promQuery(t, promURL, l.Expr, at, res.EntityLabels)
			for ent, w := range want {
				if got[ent].Failure[i] != (w > 0) {
					t.Errorf("t%+d label %s %s: omen %v, Prometheus %v", at-now, l.Name, ent, got[ent].Failure[i], w)
				}
				compared++
			}
		}
	}
	t.Logf("%d values compared", compared)
	if compared < 100 {
		t.Errorf("only %d values compared", compared)
	}
}

func near9(got, want float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	if got == want {
		return true
	}
	return math.Abs(got-want) <= 1e-9*math.Max(math.Abs(got), math.Abs(want))
}
