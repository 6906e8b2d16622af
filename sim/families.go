package sim

import "strings"

// family is a metric family of the exposition.
type family int

const (
	famPodInfo family = iota
	famReady
	famPhase
	famRestarts
	famWaiting
	famLastTerm
	famInitRestarts
	famInitWaiting
	famMem
	famMemLimit
	famCPU
	famPeriods
	famThrottled
	famOOM
	famHTTP
	famClientReq
	famClientDur
	famPoolActive
	famPoolMax
	famCfgDelay
	famMount
	famDeletion
	numFamilies
)

type familyInfo struct {
	name, typ, help string
}

var families = [numFamilies]familyInfo{
	famPodInfo:      {"kube_pod_info", "gauge", "Information about pod."},
	famReady:        {"kube_pod_status_ready", "gauge", "Describes whether the pod is ready to serve requests."},
	famPhase:        {"kube_pod_status_phase", "gauge", "The pods current phase."},
	famRestarts:     {"kube_pod_container_status_restarts_total", "counter", "The number of container restarts per container."},
	famWaiting:      {"kube_pod_container_status_waiting_reason", "gauge", "Describes the reason the container is currently in waiting state."},
	famLastTerm:     {"kube_pod_container_status_last_terminated_reason", "gauge", "Describes the last reason the container was in terminated state."},
	famInitRestarts: {"kube_pod_init_container_status_restarts_total", "counter", "The number of restarts for the init container."},
	famInitWaiting:  {"kube_pod_init_container_status_waiting_reason", "gauge", "Describes the reason the init container is currently in waiting state."},
	famMem:          {"container_memory_working_set_bytes", "gauge", "Current working set in bytes."},
	famMemLimit:     {"container_spec_memory_limit_bytes", "gauge", "Memory limit for the container."},
	famCPU:          {"container_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed in seconds."},
	famPeriods:      {"container_cpu_cfs_periods_total", "counter", "Number of elapsed enforcement period intervals."},
	famThrottled:    {"container_cpu_cfs_throttled_periods_total", "counter", "Number of throttled period intervals."},
	famOOM:          {"container_oom_events_total", "counter", "Count of out of memory events observed for the container."},
	famHTTP:         {"http_requests_total", "counter", "Requests served, by status code."},
	famClientReq:    {"http_client_requests_total", "counter", "Calls to dependencies, by dependency and status code."},
	famClientDur:    {"http_client_request_duration_seconds", "histogram", "Latency of calls to dependencies."},
	famPoolActive:   {"connection_pool_active_connections", "gauge", "Connections in use, per upstream pool."},
	famPoolMax:      {"connection_pool_max_connections", "gauge", "Size of the connection pool, per upstream pool."},
	famCfgDelay:     {"config_propagation_delay_seconds", "gauge", "Lag of the pod's config watch behind the config store."},
	famMount:        {"storage_operation_duration_seconds", "summary", "Duration of kubelet volume operations (sum and count)."},
	famDeletion:     {"kube_pod_deletion_timestamp", "gauge", "Unix deletion timestamp (only while the pod is being deleted)."},
}

// familyByName returns the family of a sample name.
func familyByName(name string) (family, bool) {
	for i, fi := range families {
		rest, ok := strings.CutPrefix(name, fi.name)
		if !ok {
			continue
		}
		switch {
		case rest == "" && fi.typ != "histogram" && fi.typ != "summary",
			fi.typ == "histogram" && (rest == "_bucket" || rest == "_sum" || rest == "_count"),
			fi.typ == "summary" && (rest == "_sum" || rest == "_count"):
			return family(i), true
		}
	}
	return 0, false
}
