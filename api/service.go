package api

import (
	"regexp"
	"sort"
)

// ServiceLabels are the labels that name an entity's service, in order.
var ServiceLabels = []string{"service", "app", "app_kubernetes_io_name", "module"}

// podHash strips the ReplicaSet and pod suffixes of a Deployment's pod name.
var podHash = regexp.MustCompile(`(-[a-z0-9]{5,10})?-[a-z0-9]{5}$`)

// ServiceOf names an entity's service, as the dependency graph's nodes do:
// its first non-empty ServiceLabels label, else its pod label without the
// Deployment's generated suffixes ("cartservice-7d9f8b6c4-x2k9p" →
// "cartservice"), else the value of its alphabetically first label.
func ServiceOf(labels map[string]string) string {
	for _, k := range ServiceLabels {
		if v := labels[k]; v != "" {
			return v
		}
	}
	if pod := labels["pod"]; pod != "" {
		return podHash.ReplaceAllString(pod, "")
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		return labels[keys[0]]
	}
	return ""
}
