package alert

import (
	"testing"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/runbooks"
	"github.com/omen-sre/omen/sim"
)

// defaultFeatureRunbooks is the runbook intended for each feature of the
// shipped set (features.DefaultConfig). A feature added there must be
// added here: a glob of the built-in table may give it another failure's
// advice (events_config_error got "Configuration propagates slowly" and
// config_propagation_delay_seconds, a metric only the simulator has;
// dependency_latency_p99_seconds the cross-zone-latency runbook).
var defaultFeatureRunbooks = map[string]string{
	"container_restarts_10m":          "container-failures",
	"init_container_restarts_10m":     "container-failures",
	"container_waiting_failure":       "container-failures",
	"init_container_waiting_failure":  "container-failures",
	"container_last_terminated_error": "container-failures",
	"pod_not_ready":                   "probes",
	"pod_terminating":                 "module-load-failure",
	"pod_pending":                     "scheduling",
	"memory_limit_ratio":              "memory",
	"memory_working_set_bytes":        "memory",
	"cpu_throttled_ratio":             "cpu-saturation",
	"cpu_usage_cores":                 "cpu-saturation",
	"oom_events_10m":                  "memory",
	"request_rate":                    "traffic",
	"error_ratio":                     "traffic",
	"dependency_latency_p99_seconds":  "dependency",
	"dependency_error_ratio":          "dependency",
	"events_backoff":                  "container-failures",
	"events_crashloop":                "container-failures",
	"events_failed_mount":             "volume-provisioner",
	"events_image_pull":               "image-pull",
	"events_oom_killed":               "memory",
	"events_unhealthy":                "probes",
	"events_failed_scheduling":        "scheduling",
	"events_config_error":             "container-config",
	"events_module_load_error":        "module-load-failure",
}

// TestDefaultFeatureRemediations: every feature of the shipped set gets
// the built-in remediation meant for it, and the simulator's own features
// (omen demo) keep theirs.
func TestDefaultFeatureRemediations(t *testing.T) {
	r, err := newRemedies(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := features.DefaultConfig()
	var causes []Cause
	for _, f := range cfg.Features {
		causes = append(causes, Cause{Name: f.Name, Kind: "metric"})
	}
	for _, f := range cfg.EventFeatures {
		causes = append(causes, Cause{Name: f.Name, Kind: "event"})
	}
	if len(causes) != len(defaultFeatureRunbooks) {
		t.Errorf("%d default features, %d in defaultFeatureRunbooks: add the new ones", len(causes), len(defaultFeatureRunbooks))
	}
	for _, c := range causes {
		want, ok := defaultFeatureRunbooks[c.Name]
		if !ok {
			t.Errorf("default feature %s has no intended runbook in defaultFeatureRunbooks", c.Name)
			continue
		}
		if action, rb := r.pick([]Cause{c}); rb != want {
			t.Errorf("default feature %s: runbook %q (%q), want %q", c.Name, rb, action, want)
		}
	}
	for name, want := range map[string]string{
		sim.FeatureConfigDelay:        "config-propagation",
		sim.FeatureMountLatency:       "volume-provisioner",
		sim.FeatureMemoryLimitRatio:   "memory",
		sim.FeatureCPUThrottled:       "cpu-saturation",
		sim.FeatureDependencyLatency:  "dependency",
		sim.FeatureConnectionPool:     "dependency",
		sim.FeatureDependencyNotFound: "dependency",
		"cross_zone_latency_ms":       "cross-zone-latency",
	} {
		if action, rb := r.pick([]Cause{{Name: name, Kind: "metric"}}); rb != want {
			t.Errorf("feature %s: runbook %q (%q), want %q", name, rb, action, want)
		}
	}
}

// TestSimFeaturesHaveRemediation: every feature omen demo and omen eval
// sim use (sim.FeatureConfig: the shipped set and the simulator's own) is
// matched by a built-in rule of its own, not given the generic fallback,
// and its runbook is one omen serves. dependency_not_found_ratio and
// connection_pool_usage_ratio matched none: their alerts took the next
// cause's action.
func TestSimFeaturesHaveRemediation(t *testing.T) {
	r, err := newRemedies(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, s := range runbooks.Slugs() {
		served[s] = true
	}
	cfg := sim.FeatureConfig()
	var causes []Cause
	for _, f := range cfg.Features {
		causes = append(causes, Cause{Name: f.Name, Kind: "metric"})
	}
	for _, f := range cfg.EventFeatures {
		causes = append(causes, Cause{Name: f.Name, Kind: "event"})
	}
	for _, c := range causes {
		t.Run(c.Name, func(t *testing.T) {
			action, rb := r.pick([]Cause{c})
			if action == fallbackAction {
				t.Errorf("no built-in remediation: the fallback (%q, runbook %q)", action, rb)
			}
			if !served[rb] {
				t.Errorf("runbook %q is not served (runbooks.Slugs)", rb)
			}
		})
	}
}
