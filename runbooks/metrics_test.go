package runbooks

import (
	"regexp"
	"strings"
	"testing"

	"github.com/omen-sre/omen/features"
)

// kubeStateMetrics are kube-state-metrics series the runbooks query that
// no default feature does.
var kubeStateMetrics = []string{
	"kube_node_status_allocatable",
	"kube_persistentvolumeclaim_status_phase",
	"kube_pod_container_info",
	"kube_pod_container_resource_requests",
	"kube_pod_status_phase",
	"kube_pod_status_ready",
	"kube_pod_status_unschedulable",
}

// TestRunbooksNameExistingMetrics: every metric or feature a runbook names
// exists in a cluster running the default features: a default feature,
// a metric a default feature's expression reads, or a kube-state-metrics
// series listed above. config-propagation watched
// config_propagation_delay_seconds, which only omen demo's simulator
// publishes, while the default events_config_error linked to it; that
// page may name it, as the simulator's.
func TestRunbooksNameExistingMetrics(t *testing.T) {
	known := map[string]bool{
		"histogram_quantile": true,                     // PromQL function
		"explanation_url":    true, "top_causes": true, // alert annotations
	}
	for _, m := range kubeStateMetrics {
		known[m] = true
	}
	ident := regexp.MustCompile(`\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b`)
	cfg := features.DefaultConfig()
	for _, f := range cfg.Features {
		known[f.Name] = true
		for _, id := range ident.FindAllString(f.Expr, -1) {
			known[id] = true
		}
	}
	for _, f := range cfg.EventFeatures {
		known[f.Name] = true
	}
	for _, slug := range Slugs() {
		b, err := pages.ReadFile("pages/" + slug + ".md")
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ident.FindAllString(string(b), -1) {
			if known[id] || slug == "config-propagation" && id == "config_propagation_delay_seconds" && strings.Contains(string(b), "only the simulator publishes") {
				continue
			}
			t.Errorf("runbook %s names %s: no default feature, no metric of one, no listed kube-state-metrics series", slug, id)
		}
	}
}
