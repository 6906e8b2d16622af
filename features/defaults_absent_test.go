package features

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// TestDefaultFeaturesAbsentMeansZero: the default features whose source
// series are absent when their count or condition is zero (a pod without
// init containers, a container that never terminated, no 5xx series, no
// CPU limit) read 0 for a pod their exporter reports, evaluated by the
// embedded engine; with their series present they read what the
// expression before the zero fallback read (old, evaluated alongside);
// without the exporter's evidence of the pod they still have no value.
// Training refused every one of them on a healthy cluster ("no value in
// the training part of the history"); without the fallbacks the "absent"
// cases read NaN.
func TestDefaultFeaturesAbsentMeansZero(t *testing.T) {
	const (
		lastTerm   = `max by (${entity}) (kube_pod_container_status_last_terminated_reason{reason=~"Error|OOMKilled|ContainerCannotRun|StartError|DeadlineExceeded"})`
		waitReason = `"CrashLoopBackOff|CreateContainerConfigError|CreateContainerError|ErrImagePull|ImagePullBackOff|InvalidImageName|RunContainerError"`
	)
	old := map[string]string{
		"init_container_restarts_10m":     `sum by (${entity}) (increase(kube_pod_init_container_status_restarts_total[10m]))`,
		"init_container_waiting_failure":  `max by (${entity}) (kube_pod_init_container_status_waiting_reason{reason=~` + waitReason + `})`,
		"container_waiting_failure":       `max by (${entity}) (kube_pod_container_status_waiting_reason{reason=~` + waitReason + `})`,
		"container_last_terminated_error": lastTerm,
		"cpu_throttled_ratio":             `max by (${entity}) (rate(container_cpu_cfs_throttled_periods_total{` + cadvisor + `}[2m]) / (rate(container_cpu_cfs_periods_total{` + cadvisor + `}[2m]) > 0))`,
		"error_ratio":                     `sum by (${entity}) (rate(http_requests_total{code=~"5.."}[5m])) / (sum by (${entity}) (rate(http_requests_total[5m])) > 0)`,
	}
	// A series of pod p in namespace ns, 41 samples (10m at 15s) ending
	// at the evaluation time.
	type src struct {
		ls []string
		f  func(k int) float64
	}
	c := func(v float64) func(int) float64 { return func(int) float64 { return v } }
	per := func(v float64) func(int) float64 { return func(k int) float64 { return v * float64(k) } }
	info := src{[]string{"__name__", "kube_pod_info", "node", "n1", "uid", "u"}, c(1)}
	ctr := func(name, container string, extra ...string) []string {
		return append([]string{"__name__", name, "container", container}, extra...)
	}
	cpu := src{ctr("container_cpu_usage_seconds_total", "app", "id", "/kubepods/p/app"), per(7.5)}
	tests := []struct {
		feature, name string
		series        []src
		want          float64 // NaN: no value
		sameAsOld     bool    // the expression before the fallback reads want too
	}{
		{"init_container_restarts_10m", "restarting", []src{info, {ctr("kube_pod_init_container_status_restarts_total", "init"), func(k int) float64 { return float64(k / 8) }}}, 5, true},
		{"init_container_restarts_10m", "init container, no restart", []src{info, {ctr("kube_pod_init_container_status_restarts_total", "init"), c(0)}}, 0, true},
		{"init_container_restarts_10m", "no init container", []src{info}, 0, false},
		{"init_container_restarts_10m", "no kube_pod_info", nil, math.NaN(), true},

		{"init_container_waiting_failure", "crash loop", []src{info, {ctr("kube_pod_init_container_status_waiting_reason", "init", "reason", "CrashLoopBackOff"), c(1)}}, 1, true},
		{"init_container_waiting_failure", "waits for no failure", []src{info, {ctr("kube_pod_init_container_status_waiting_reason", "init", "reason", "PodInitializing"), c(1)}}, 0, false},
		{"init_container_waiting_failure", "no init container", []src{info}, 0, false},
		{"init_container_waiting_failure", "no kube_pod_info", nil, math.NaN(), true},

		// kube-state-metrics 2 exposes a waiting reason only while the
		// container waits.
		{"container_waiting_failure", "crash loop", []src{info, {ctr("kube_pod_container_status_waiting_reason", "app", "reason", "CrashLoopBackOff"), c(1)}}, 1, true},
		{"container_waiting_failure", "v1-style zero series", []src{info, {ctr("kube_pod_container_status_waiting_reason", "app", "reason", "ErrImagePull"), c(0)}}, 0, true},
		{"container_waiting_failure", "running", []src{info}, 0, false},
		{"container_waiting_failure", "no kube_pod_info", nil, math.NaN(), true},

		{"container_last_terminated_error", "OOM killed", []src{info, {ctr("kube_pod_container_status_last_terminated_reason", "app", "reason", "OOMKilled"), c(1)}}, 1, true},
		{"container_last_terminated_error", "completed", []src{info, {ctr("kube_pod_container_status_last_terminated_reason", "app", "reason", "Completed"), c(1)}}, 0, false},
		{"container_last_terminated_error", "never terminated", []src{info}, 0, false},
		{"container_last_terminated_error", "no kube_pod_info", nil, math.NaN(), true},

		{"cpu_throttled_ratio", "throttled", []src{cpu,
			{ctr("container_cpu_cfs_periods_total", "app", "id", "/kubepods/p/app"), per(150)},
			{ctr("container_cpu_cfs_throttled_periods_total", "app", "id", "/kubepods/p/app"), per(30)}}, 0.2, true},
		{"cpu_throttled_ratio", "no CPU limit", []src{cpu}, 0, false},
		// kube-state-metrics alone says nothing of cAdvisor's series.
		{"cpu_throttled_ratio", "no cAdvisor series", []src{info}, math.NaN(), true},

		{"error_ratio", "5xx", []src{{[]string{"__name__", "http_requests_total", "code", "200"}, per(150)}, {[]string{"__name__", "http_requests_total", "code", "500"}, per(15)}}, 1.0 / 11, true},
		{"error_ratio", "requests, no 5xx series", []src{{[]string{"__name__", "http_requests_total", "code", "200"}, per(150)}}, 0, false},
		{"error_ratio", "no request in 5m", []src{{[]string{"__name__", "http_requests_total", "code", "200"}, c(40)}}, math.NaN(), true},
		{"error_ratio", "no http_requests_total", []src{info}, math.NaN(), true},
		// An application that labels its requests' status otherwise
		// (status, status_code): no value, for omen train to name, not a
		// 0 that hides its errors.
		{"error_ratio", "requests without a code label", []src{{[]string{"__name__", "http_requests_total", "status", "200"}, per(150)}, {[]string{"__name__", "http_requests_total", "status", "500"}, per(15)}}, math.NaN(), true},
	}
	def := map[string]string{}
	for _, f := range DefaultConfig().Features {
		def[f.Name] = f.Expr
	}
	for _, tc := range tests {
		t.Run(tc.feature+"/"+tc.name, func(t *testing.T) {
			expr, ok := def[tc.feature]
			if !ok {
				t.Fatalf("no default feature %q", tc.feature)
			}
			// anchor makes the entity exist whatever the case leaves out.
			cfg := Config{EntityLabels: []string{"namespace", "pod"}, Features: []Feature{
				{Name: "new", Expr: expr}, {Name: "old", Expr: old[tc.feature]}, {Name: "anchor", Expr: `max by (${entity}) (anchor)`},
			}}
			cfg.SetDefaults()
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			h := newTestHead(t, reg, HeadOptions{})
			all := [][]telemetry.Sample{series(labels.FromStrings("__name__", "anchor", "namespace", "ns", "pod", "p"), base, 41, c(1))}
			for _, s := range tc.series {
				all = append(all, series(labels.FromStrings(append([]string{"namespace", "ns", "pod", "p"}, s.ls...)...), base, 41, s.f))
			}
			appendAll(t, h, all...)
			got, ok := evaluate(t, newTestExtractor(t, h, reg, cfg), base+40*15*sec)["ns/p"]
			if !ok {
				t.Fatal("no entity ns/p")
			}
			if !near(got.Values[0], tc.want) {
				t.Errorf("%s = %v, want %v", tc.feature, got.Values[0], tc.want)
			}
			if oldWant := tc.want; tc.sameAsOld != near(got.Values[1], oldWant) {
				t.Errorf("the expression before the fallback reads %v, the default %v: same %v, want same %v", got.Values[1], got.Values[0], !tc.sameAsOld, tc.sameAsOld)
			}
		})
	}
}
