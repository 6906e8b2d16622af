package features

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// workloadReasons are event reasons Kubernetes' controllers report on the
// workload object (ReplicaSet, Job, StatefulSet, DaemonSet, Deployment),
// never on a pod: no pod label can be derived from such an event.
var workloadReasons = []string{
	"FailedCreate", "SuccessfulCreate", "FailedDelete", "SuccessfulDelete",
	"ScalingReplicaSet", "BackoffLimitExceeded", "DeadlineExceeded",
}

// usedReasons returns the reasons cfg's event features and labels list.
func usedReasons(cfg Config) []string {
	var used []string
	for _, f := range cfg.EventFeatures {
		used = append(used, f.Reasons...)
	}
	for _, l := range cfg.Labels {
		used = append(used, l.Reasons...)
	}
	return used
}

// TestDefaultReasonsMatchPods: with the default entity labels [namespace,
// pod], the default event features and labels list no reason Kubernetes
// reports only on a workload: every such event would be dropped
// (missing_labels), the feature never counting one. The default
// events_config_error listed FailedCreate, and every FailedCreate of a
// ReplicaSet was counted in omen_feature_dropped_total{reason="missing_labels"}.
func TestDefaultReasonsMatchPods(t *testing.T) {
	cfg := DefaultConfig()
	if !slices.Equal(cfg.EntityLabels, []string{"namespace", "pod"}) {
		t.Fatalf("default entity labels %v: the test assumes [namespace pod]", cfg.EntityLabels)
	}
	for _, r := range usedReasons(cfg) {
		if slices.Contains(workloadReasons, r) {
			t.Errorf("default configuration uses %s, which Kubernetes reports on a workload, not a pod", r)
		}
	}

	reg := prometheus.NewRegistry()
	e := newTestExtractor(t, newTestHead(t, reg, HeadOptions{}), reg, cfg)
	var evs []telemetry.Event
	for _, kind := range []string{"ReplicaSet", "Job", "StatefulSet", "DaemonSet"} {
		for _, r := range workloadReasons {
			evs = append(evs, telemetry.Event{T: base - sec, Reason: r, Count: 1,
				Labels: labels.FromStrings("namespace", "n", "kind", kind, "name", "web-7f9c")})
		}
	}
	e.AddEvents(evs)
	if n := dropped(t, reg, ReasonMissingLabels); n != 0 {
		t.Errorf("%v workload events dropped as missing_labels, want 0 (no default feature uses their reasons)", n)
	}
}

// TestWorkloadEventEntity: a workload's event counts for an entity label
// its kind names, as the comment on the default events_config_error says
// FailedCreate can be used.
func TestWorkloadEventEntity(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newTestExtractor(t, newTestHead(t, reg, HeadOptions{}), reg, Config{
		EntityLabels:  []string{"namespace", "replicaset"},
		EventFeatures: []EventFeature{{Name: "failed_create", Reasons: []string{"FailedCreate"}}},
	})
	e.AddEvents([]telemetry.Event{{T: base - sec, Reason: "FailedCreate", Count: 2,
		Labels: labels.FromStrings("namespace", "n", "kind", "ReplicaSet", "name", "web-7f9c")}})
	v, ok := evaluate(t, e, base)["n/web-7f9c"]
	if !ok || v.Values[len(v.Values)-1] != 2 {
		t.Errorf("vector of n/web-7f9c %+v (found %v), want failed_create 2", v, ok)
	}
}
