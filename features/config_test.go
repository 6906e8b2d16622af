package features

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"gopkg.in/yaml.v3"

	"github.com/omen-sre/omen/telemetry"
)

// TestValidateFeatureExpr: Validate accepts a feature expression that
// gives an instant vector or a scalar, the entity placeholder included, and
// rejects any other (these were the cases of the removed ValidateExpr).
func TestValidateFeatureExpr(t *testing.T) {
	tests := []struct {
		expr string
		ok   bool
	}{
		{`sum by (${entity}) (rate(x[5m]))`, true},
		{`scalar(up)`, true},
		{`1`, true},
		{`x[5m]`, false},  // matrix
		{`"text"`, false}, // string
		{`rate(x[5m]`, false},
		{``, false},
		{`sum by (${entity} (x)`, false},
	}
	for _, tc := range tests {
		c := validConfig()
		c.Features[0].Expr = tc.expr
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate with feature expr %q = %v, want ok=%v", tc.expr, err, tc.ok)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"defaults fill zero fields", func(*Config) {}, ""},
		{"bad expr names the feature", func(c *Config) { c.Features[0].Expr = `rate(x[5m]` }, `feature "f"`},
		{"constant feature", func(c *Config) { c.Features[0].Expr = `1` }, ""},
		{"scalar function feature", func(c *Config) { c.Features[0].Expr = `time()` }, ""},
		{"range beyond lookback", func(c *Config) { c.Features[0].Expr = `rate(x[20m])` }, `reads 20m0s of history`},
		{"offset beyond lookback", func(c *Config) { c.Features[0].Expr = `x offset 11m` }, `feature "f"`},
		{"matrix expr", func(c *Config) { c.Features[0].Expr = `x[5m]` }, `need an instant vector`},
		{"duplicate name", func(c *Config) { c.EventFeatures[0].Name = "f" }, `event feature "f": name already used by a feature`},
		{"invalid name", func(c *Config) { c.Labels[0].Name = "bad-name" }, `label "bad-name"`},
		{"event feature without reasons", func(c *Config) { c.EventFeatures[0].Reasons = nil }, `event feature "e": no reasons`},
		{"negative window", func(c *Config) { c.EventFeatures[0].Window = -1 }, `event feature "e": window`},
		{"label without expr or reasons", func(c *Config) { c.Labels[0].Reasons = nil }, `label "l": needs expr or reasons`},
		{"label with bad expr", func(c *Config) { c.Labels[0].Expr = `(` }, `label "l"`},
		{"bad entity label", func(c *Config) { c.EntityLabels = []string{"a-b"} }, `entity_labels`},
		{"entity label twice", func(c *Config) { c.EntityLabels = []string{"pod", "pod"} }, `given twice`},
		{"lookback shorter than step", func(c *Config) { c.Step = model.Duration(2 * time.Minute); c.Lookback = model.Duration(time.Minute) }, `must be shorter than lookback`},
		{"no features", func(c *Config) { c.Features, c.EventFeatures = nil, nil }, `features: none given`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// validConfig is a Config that Validate accepts: one feature, one event
// feature, one label, the other fields defaulted.
func validConfig() Config {
	return Config{
		Features:      []Feature{{Name: "f", Expr: `sum by (${entity}) (rate(x[5m]))`}},
		EventFeatures: []EventFeature{{Name: "e", Reasons: []string{"BackOff"}}},
		Labels:        []LabelDef{{Name: "l", Reasons: []string{"CrashLoopBackOff"}}},
	}
}

// validateErrorKinds has one row per kind of error Validate reports, with
// where it must say the error is and the start of its message (FieldError.Err,
// printed after the key path: users and the config tests read it).
var validateErrorKinds = []struct {
	name    string
	mutate  func(*Config)
	section string
	index   int
	field   string
	msg     string // prefix of the message
}{
	{"invalid entity label", func(c *Config) { c.EntityLabels = []string{"pod", "a-b"} }, "entity_labels", 1, "", `invalid label name "a-b"`},
	{"entity label twice", func(c *Config) { c.EntityLabels = []string{"pod", "pod"} }, "entity_labels", 1, "", `"pod" given twice`},
	{"step not positive", func(c *Config) { c.Step = -1 }, "step", -1, "", `must be positive, got -1ns`},
	{"lookback below 1m", func(c *Config) { c.Lookback = model.Duration(30 * time.Second); c.Features = nil }, "lookback", -1, "", `must be at least 1m, got 30s`},
	{"step not shorter than lookback", func(c *Config) {
		c.Step, c.Lookback = model.Duration(2*time.Minute), model.Duration(time.Minute)
		c.Features = nil
	}, "step", -1, "", `must be shorter than lookback 1m0s, got 2m0s`},
	{"negative max_series", func(c *Config) { c.MaxSeries = -1 }, "max_series", -1, "", `must be positive, got -1`},
	{"no features", func(c *Config) { c.Features, c.EventFeatures = nil, nil }, "features", -1, "", `none given: give features or event_features`},
	{"invalid feature name", func(c *Config) { c.Features[0].Name = "1f" }, "features", 0, "name", `feature "1f": name must match`},
	{"invalid event feature name", func(c *Config) { c.EventFeatures[0].Name = "e-1" }, "event_features", 0, "name", `event feature "e-1": name must match`},
	{"invalid label name", func(c *Config) { c.Labels[0].Name = "bad-name" }, "labels", 0, "name", `label "bad-name": name must match`},
	{"name already used", func(c *Config) { c.Labels[0].Name = "e" }, "labels", 0, "name", `label "e": name already used by a event feature`},
	{"feature expr does not parse", func(c *Config) { c.Features[0].Expr = `rate(x[5m]` }, "features", 0, "expr", `feature "f": parse "rate(x[5m]"`},
	{"feature expr not a vector", func(c *Config) { c.Features[0].Expr = `x[5m]` }, "features", 0, "expr", `feature "f": expression "x[5m]" gives a matrix`},
	{"feature expr empty", func(c *Config) { c.Features[0].Expr = "" }, "features", 0, "expr", `feature "f": empty expression`},
	{"feature expr drops entity labels", func(c *Config) { c.Features[0].Expr = `sum(x)` }, "features", 0, "expr", `feature "f": its result cannot carry the entity label(s)`},
	{"feature expr beyond lookback", func(c *Config) { c.Features[0].Expr = `rate(x[20m])` }, "features", 0, "expr", `feature "f": expression reads 20m0s of history`},
	{"event feature without reasons", func(c *Config) { c.EventFeatures[0].Reasons = nil }, "event_features", 0, "reasons", `event feature "e": no reasons`},
	{"event feature empty reason", func(c *Config) { c.EventFeatures[0].Reasons = []string{"A", ""} }, "event_features", 0, "reasons", `event feature "e": empty reason`},
	{"event feature negative window", func(c *Config) { c.EventFeatures[0].Window = -1 }, "event_features", 0, "window", `event feature "e": window 0s must be positive`},
	{"label without expr or reasons", func(c *Config) { c.Labels[0].Reasons = nil }, "labels", 0, "", `label "l": needs expr or reasons`},
	{"label empty reason", func(c *Config) { c.Labels[0].Reasons = []string{""} }, "labels", 0, "reasons", `label "l": empty reason`},
	{"label expr does not parse", func(c *Config) { c.Labels[0].Expr = `(` }, "labels", 0, "expr", `label "l": parse "("`},
	{"label expr beyond lookback", func(c *Config) { c.Labels[0].Expr = `x offset 11m` }, "labels", 0, "expr", `label "l": expression reads 16m0s of history`},
}

// TestValidateErrorLocations: each kind of error Validate reports says
// where it is (a *FieldError: section, item, key), with its message
// unchanged; the message does not start with its own key (a caller prints
// the key path before it), and Error gives the path then the message.
func TestValidateErrorLocations(t *testing.T) {
	for _, tc := range validateErrorKinds {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			var found bool
			for _, e := range joined(err) {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("%q carries no *FieldError", e)
				}
				if !strings.HasPrefix(fe.Err.Error(), tc.msg) {
					continue
				}
				found = true
				if fe.Section != tc.section || fe.Index != tc.index || fe.Field != tc.field {
					t.Errorf("%q at %s (section %q index %d field %q), want section %q index %d field %q",
						e, fe.Path(), fe.Section, fe.Index, fe.Field, tc.section, tc.index, tc.field)
				}
				if fe.Unwrap() == nil || fe.Error() != fe.Path()+": "+fe.Unwrap().Error() {
					t.Errorf("FieldError message %q, path %q, wrapped %v", fe.Error(), fe.Path(), fe.Unwrap())
				}
				for _, key := range []string{fe.Section, fe.Field} {
					if key != "" && strings.HasPrefix(fe.Err.Error(), key) {
						t.Errorf("message %q repeats its key %q", fe.Err, key)
					}
				}
			}
			if !found {
				t.Fatalf("error %q has no part starting %q", err, tc.msg)
			}
		})
	}
}

// TestValidateErrorsAllLocated: every error Validate returns, for every
// kind at once, is a *FieldError naming a known section, an index within
// it (or -1) and a key its items have.
func TestValidateErrorsAllLocated(t *testing.T) {
	for _, tc := range validateErrorKinds {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			for _, e := range joined(c.Validate()) {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("error without a location: %q", e)
				}
				n := map[string]int{"entity_labels": len(c.EntityLabels), "features": len(c.Features),
					"event_features": len(c.EventFeatures), "labels": len(c.Labels), "step": 0, "lookback": 0, "max_series": 0}
				size, ok := n[fe.Section]
				switch {
				case !ok:
					t.Errorf("%q: unknown section %q", e, fe.Section)
				case fe.Index < -1 || fe.Index >= size:
					t.Errorf("%q: index %d outside %s (%d items)", e, fe.Index, fe.Section, size)
				case fe.Field != "" && !slices.Contains([]string{"name", "expr", "reasons", "window"}, fe.Field):
					t.Errorf("%q: unknown field %q", e, fe.Field)
				}
			}
		})
	}
}

// TestValidateEntityLabelErrorsOnce: an invalid or repeated entity label
// is reported once, at entity_labels, not again in every expression that
// uses ${entity} (the default configuration has about twenty), while a
// real mistake in an expression is still reported.
func TestValidateEntityLabelErrorsOnce(t *testing.T) {
	withFeature := func(expr string) func(*Config) {
		return func(c *Config) { c.Features = []Feature{{Name: "f", Expr: expr}} }
	}
	tests := []struct {
		name   string
		entity []string
		mutate func(*Config) // nil: the default configuration
		want   []string      // the paths and messages of the errors, in order
	}{
		{name: "invalid label, default expressions", entity: []string{"namespace", "a-b"},
			want: []string{`entity_labels[1]: invalid label name "a-b"`}},
		{name: "only invalid labels, default expressions", entity: []string{"a-b", model.MetricNameLabel},
			want: []string{`entity_labels[0]: invalid label name "a-b"`, `entity_labels[1]: invalid label name "__name__"`}},
		{name: "label twice, default expressions", entity: []string{"namespace", "pod", "pod"},
			want: []string{`entity_labels[2]: "pod" given twice`}},
		{name: "label twice, expression drops it", entity: []string{"namespace", "pod", "pod"}, mutate: withFeature(`sum by (namespace) (x)`),
			want: []string{`entity_labels[2]: "pod" given twice`,
				`features[0].expr: feature "f": its result cannot carry the entity label(s) ["pod"], so`}},
		{name: "invalid label, expression does not parse", entity: []string{"pod", "a-b"}, mutate: withFeature(`sum by (${entity}) (rate(x[5m])`),
			want: []string{`entity_labels[1]: invalid label name "a-b"`,
				`features[0].expr: feature "f": parse "sum by (pod) (rate(x[5m])"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.EntityLabels = tc.entity
			if tc.mutate != nil {
				tc.mutate(&c)
			}
			got := located(t, &c)
			if len(got) != len(tc.want) {
				t.Fatalf("%d errors, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("error %d is %q, want it to start with %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestValidateStepLookbackOnce: a step not shorter than lookback is one
// error, at step and naming both, not followed by one "more than lookback
// minus step" error per expression (about twenty in the default
// configuration).
func TestValidateStepLookbackOnce(t *testing.T) {
	tests := []struct {
		name           string
		step, lookback time.Duration // 0: the default
		want           []string      // the paths and messages of the errors, in order
	}{
		{name: "step over the default lookback", step: 2 * time.Hour,
			want: []string{`step: must be shorter than lookback 15m0s, got 2h0m0s`}},
		{name: "step equal to lookback", step: 5 * time.Minute, lookback: 5 * time.Minute,
			want: []string{`step: must be shorter than lookback 5m0s, got 5m0s`}},
		{name: "lookback under 1m and under step", step: 30 * time.Second, lookback: 20 * time.Second,
			want: []string{`lookback: must be at least 1m, got 20s`}},
		// Not one error per feature.
		{name: "lookback under 1m", step: 10 * time.Second, lookback: 30 * time.Second,
			want: []string{`lookback: must be at least 1m, got 30s`}},
		{name: "lookback too short for several features", step: 15 * time.Second, lookback: 5 * time.Minute,
			want: []string{`lookback: 5m0s is too short for 18 expressions, which read more history than lookback minus step (15s); the most is feature "container_restarts_10m", 10m0s: lookback must be at least 10m15s (a selector without a range, e.g. go_goroutines, reads the 5m0s before its step: PromQL's instant lookback; a range [d] reads d plus any offset)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Step, c.Lookback = model.Duration(tc.step), model.Duration(tc.lookback)
			got := located(t, &c)
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// located returns Validate's errors as "path: message", failing t on one
// without a location.
func located(t *testing.T, c *Config) []string {
	t.Helper()
	var got []string
	for _, e := range joined(c.Validate()) {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error without a location: %q", e)
		}
		got = append(got, fe.Path()+": "+fe.Err.Error())
	}
	return got
}

// joined splits an errors.Join error into its parts.
func joined(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestConfigYAML(t *testing.T) {
	src := `
entity_labels: [service]
step: 30s
lookback: 10m
max_series: 1000
features:
  - name: req
    expr: sum by (${entity}) (rate(http_requests_total[5m]))
    help: requests
event_features:
  - name: backoff
    reasons: [BackOff]
    window: 5m
labels:
  - name: crash
    reasons: [CrashLoopBackOff]
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Step) != 30*time.Second || c.EventFeatures[0].Window != model.Duration(5*time.Minute) || c.MaxSeries != 1000 {
		t.Errorf("decoded %+v", c)
	}
	r := c.Resolved()
	if r.Features[0].Expr != "sum by (service) (rate(http_requests_total[5m]))" {
		t.Errorf("resolved expr %q", r.Features[0].Expr)
	}
	if c.Features[0].Expr == r.Features[0].Expr {
		t.Error("Resolved modified the original")
	}
	dec = yaml.NewDecoder(strings.NewReader("features:\n  - name: x\n    exp: y\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err == nil {
		t.Error("unknown field accepted")
	}
	// The default configuration round-trips through YAML.
	var buf bytes.Buffer
	if err := yaml.NewEncoder(&buf).Encode(DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	var back Config
	dec = yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate(); err != nil || len(back.Features) != len(DefaultConfig().Features) {
		t.Errorf("round trip: %v", err)
	}
}

// ksmCadvisor returns a synthetic kube-state-metrics + cAdvisor series set
// for pods "good" and "bad" in namespace "shop", 10m at 15s, labelled also
// with service.
func ksmCadvisor() [][]telemetry.Sample {
	var out [][]telemetry.Sample
	add := func(f func(k int) float64, ls ...string) {
		out = append(out, series(labels.FromStrings(ls...), base, 41, f))
	}
	c := func(v float64) func(int) float64 { return func(int) float64 { return v } }
	for _, pod := range []string{"good", "bad"} {
		bad := pod == "bad"
		svc := "svc-" + pod
		id := func(name string, extra ...string) []string {
			return append([]string{"__name__", name, "namespace", "shop", "pod", pod, "service", svc, "job", "kube-state-metrics", "instance", "10.0.0.1:8080"}, extra...)
		}
		restarts := c(2)
		if bad {
			restarts = func(k int) float64 { return float64(k / 8) } // +1 per 2m
		}
		add(restarts, id("kube_pod_container_status_restarts_total", "container", "app")...)
		add(c(0), id("kube_pod_init_container_status_restarts_total", "container", "init")...)
		waiting := c(0)
		if bad {
			waiting = c(1)
		}
		add(waiting, id("kube_pod_container_status_waiting_reason", "container", "app", "reason", "CrashLoopBackOff")...)
		add(c(0), id("kube_pod_container_status_waiting_reason", "container", "app", "reason", "ErrImagePull")...)
		add(c(0), id("kube_pod_init_container_status_waiting_reason", "container", "init", "reason", "CrashLoopBackOff")...)
		add(waiting, id("kube_pod_container_status_last_terminated_reason", "container", "app", "reason", "Error")...)
		ready := c(1)
		if bad {
			ready = c(0)
		}
		add(ready, id("kube_pod_status_ready", "condition", "true")...)
		add(func(k int) float64 { return 1 - ready(k) }, id("kube_pod_status_ready", "condition", "false")...)
		add(c(0), id("kube_pod_status_phase", "phase", "Pending")...)
		add(ready, id("kube_pod_status_phase", "phase", "Running")...)
		for _, ctr := range []string{"app", "sidecar", "POD", ""} {
			cad := func(name string) []string {
				return []string{"__name__", name, "namespace", "shop", "pod", pod, "service", svc, "container", ctr, "id", "/kubepods/" + pod + "/" + ctr, "job", "kubelet"}
			}
			ws := 100e6
			if ctr == "app" && bad {
				ws = 240e6
			}
			add(c(ws), cad("container_memory_working_set_bytes")...)
			add(c(256e6), cad("container_spec_memory_limit_bytes")...)
			add(func(k int) float64 { return 0.5 * 15 * float64(k) }, cad("container_cpu_usage_seconds_total")...)
			add(func(k int) float64 { return 150 * float64(k) }, cad("container_cpu_cfs_periods_total")...)
			add(func(k int) float64 { return 30 * float64(k) }, cad("container_cpu_cfs_throttled_periods_total")...)
			add(c(0), cad("container_oom_events_total")...)
		}
		for _, code := range []string{"200", "500"} {
			per := 15.0 * 10
			if code == "500" {
				per = 15.0 * 1
			}
			add(func(k int) float64 { return per * float64(k) }, id("http_requests_total", "code", code)...)
		}
		for _, le := range []string{"0.1", "0.5", "+Inf"} {
			add(func(k int) float64 {
				switch le {
				case "0.1":
					return 15 * 5 * float64(k)
				case "0.5":
					return 15 * 9 * float64(k)
				}
				return 15 * 10 * float64(k)
			}, id("http_client_request_duration_seconds_bucket", "le", le)...)
		}
	}
	return out
}

func TestDefaultConfig(t *testing.T) {
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for _, entity := range [][]string{{"namespace", "pod"}, {"service"}, {"module"}} {
		t.Run(strings.Join(entity, ","), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.EntityLabels = entity
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			h := newTestHead(t, reg, HeadOptions{})
			appendAll(t, h, ksmCadvisor()...)
			e := newTestExtractor(t, h, reg, cfg)
			e.AddEvents([]telemetry.Event{
				ev("BackOff", base+9*60*sec, 3, "u", "namespace", "shop", "pod", "bad", "service", "svc-bad"),
				ev(EventModuleLoadError, base+10*60*sec, 1, "", "namespace", "shop", "pod", "bad", "service", "svc-bad"),
			})
			got := evaluate(t, e, base+10*60*sec)
			names := e.FeatureNames()
			col := func(n string) int {
				for i, x := range names {
					if x == n {
						return i
					}
				}
				t.Fatalf("no feature %q", n)
				return -1
			}
			lab := func(n string) int {
				for i, x := range e.LabelNames() {
					if x == n {
						return i
					}
				}
				t.Fatalf("no label %q", n)
				return -1
			}
			if entity[0] == "module" {
				if len(got) != 0 {
					t.Errorf("entities without a module label: %v", keys(got))
				}
				return
			}
			key := func(pod string) string {
				if entity[0] == "service" {
					return "svc-" + pod
				}
				return "shop/" + pod
			}
			bad, good := got[key("bad")], got[key("good")]
			if bad.Values == nil || good.Values == nil {
				t.Fatalf("entities %v", keys(got))
			}
			checks := []struct {
				feature   string
				bad, good float64
			}{
				// k=1..40 in (t-10m, t]: floor(k/8) goes 0 → 5 over 585s;
				// a counter is not extrapolated below zero, and the first
				// sample is 0, so no extrapolation at the start.
				{"container_restarts_10m", 5, 0},
				{"container_waiting_failure", 1, 0},
				{"container_last_terminated_error", 1, 0},
				{"pod_not_ready", 1, 0},
				{"pod_pending", 0, 0},
				{"memory_limit_ratio", 240e6 / 256e6, 100e6 / 256e6},
				{"memory_working_set_bytes", 340e6, 200e6},
				{"cpu_throttled_ratio", 0.2, 0.2},
				{"cpu_usage_cores", 1, 1},
				{"oom_events_10m", 0, 0},
				{"request_rate", 11, 11},
				{"error_ratio", 1.0 / 11, 1.0 / 11},
				{"dependency_latency_p99_seconds", 0.5 + (0.5-0.1)*0, math.NaN()},
				{"events_backoff", 3, 0},
				{"events_module_load_error", 1, 0},
				{"events_failed_mount", 0, 0},
			}
			for _, c := range checks {
				i := col(c.feature)
				if c.feature == "dependency_latency_p99_seconds" {
					// Quantile 0.99 lies in the +Inf bucket: the upper
					// bound of the highest finite bucket.
					if !near(bad.Values[i], 0.5) || !near(good.Values[i], 0.5) {
						t.Errorf("%s: bad %v good %v, want 0.5", c.feature, bad.Values[i], good.Values[i])
					}
					continue
				}
				if !near(bad.Values[i], c.bad) || !near(good.Values[i], c.good) {
					t.Errorf("%s: bad %v good %v, want %v %v", c.feature, bad.Values[i], good.Values[i], c.bad, c.good)
				}
			}
			if !bad.Failure[lab("crashloop_failure")] || good.Failure[lab("crashloop_failure")] {
				t.Errorf("crashloop_failure: bad %v good %v", bad.Failure, good.Failure)
			}
			if !bad.Failure[lab("module_load_failure")] || bad.Failure[lab("mount_failure")] {
				t.Errorf("module/mount failure: %v", bad.Failure)
			}
		})
	}
}

func TestInstantFeatures(t *testing.T) {
	c := Config{EntityLabels: []string{"namespace", "pod"}, Features: []Feature{
		{Name: "ready", Expr: `max by (${entity}) (1 - kube_pod_status_ready{condition="true"})`},
		{Name: "restarts", Expr: `sum by (${entity}) (increase(kube_pod_container_status_restarts_total[10m]))`},
		{Name: "sub", Expr: `max by (${entity}) (max_over_time(up[5m:1m]))`},
		{Name: "either", Expr: `max by (${entity}) (up) or sum by (${entity}) (rate(x[1m]))`},
		{Name: "bad", Expr: `sum(`},
	}}
	got := c.InstantFeatures()
	want := []bool{true, false, false, false, false}
	if !slices.Equal(got, want) {
		t.Errorf("InstantFeatures = %v, want %v", got, want)
	}
}

// TestValidateSelectorless: an expression that reads no series is a
// feature like any other (scalar(hour()), a daily covariate, goes to every
// entity), but as a failure
// label it would mark every entity or none; one expression beyond
// lookback is reported at that expression.
func TestValidateSelectorless(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{name: "hour of day feature", edit: func(c *Config) {
			c.Features = append(c.Features, Feature{Name: "hour_of_day", Expr: "scalar(hour())"})
		}},
		{name: "constant label", edit: func(c *Config) {
			c.Labels = append(c.Labels, LabelDef{Name: "always", Expr: "1"})
		}, want: []string{`labels[7].expr: label "always": reads no series, so it would mark every entity or none as failing`}},
		{name: "vector(1) label", edit: func(c *Config) {
			c.Labels = append(c.Labels, LabelDef{Name: "always", Expr: "vector(1)"})
		}, want: []string{`labels[7].expr: label "always": reads no series, so it would mark every entity or none as failing`}},
		{name: "one feature beyond lookback", edit: func(c *Config) {
			c.Features = append(c.Features, Feature{Name: "slow", Expr: "sum by (${entity}) (rate(x[1h]))"})
		}, want: []string{`features[17].expr: feature "slow": expression reads 1h0m0s of history, more than lookback 15m0s minus step 15s (a selector without a range, e.g. go_goroutines, reads the 5m0s before its step: PromQL's instant lookback; a range [d] reads d plus any offset)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			got := located(t, &c)
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
