package features

import (
	"github.com/prometheus/common/model"
)

// Event reasons of module-load log events (telemetry.SourceModule) that the
// default configuration counts and labels as failures.
const (
	EventModuleLoadError       = "ModuleLoadError"
	EventModuleInitError       = "ModuleInitError"
	EventConfigLoadError       = "ConfigLoadError"
	EventRegistrationFailed    = "RegistrationFailed"
	EventDependencyUnavailable = "DependencyUnavailable"
)

// Kubernetes event reasons and message patterns of the kubelet
// (pkg/kubelet/events): it reports several failures under one reason, told
// apart by the message, and the container waiting reasons of
// kube-state-metrics (CrashLoopBackOff, CreateContainerConfigError,
// ErrImagePull, ImagePullBackOff) are not event reasons. The patterns are
// not anchored: the API server prefixes an aggregated event's message with
// "(combined from similar events): ".
const (
	// ReasonKubeletBackOff is the reason of "Back-off restarting failed
	// container <c> in pod <p>" (a crash loop) and "Back-off pulling image
	// <i>" (an image pull back-off).
	ReasonKubeletBackOff = "BackOff"
	// ReasonKubeletFailed is the reason of "Failed to pull image <i>: …",
	// and of "Error: <error>" when the kubelet cannot pull the image, make
	// the container's configuration (CreateContainerConfigError), create
	// or start the container.
	ReasonKubeletFailed = "Failed"

	// MessageCrashLoop matches a BackOff event of a crash loop (a container
	// or init container).
	MessageCrashLoop = `Back-off restarting failed container`
	// MessageImagePullBackOff matches a BackOff event of an image pull.
	MessageImagePullBackOff = `Back-off pulling image`
	// MessageImagePullFailed matches a Failed event of an image pull: the
	// puller's own message and the container's "Error: ErrImagePull" or
	// "Error: ImagePullBackOff".
	MessageImagePullFailed = `Failed to pull image|Error: (ErrImagePull|ImagePullBackOff)\b`
	// MessageConfigError matches a Failed event of a container whose
	// configuration the kubelet cannot make (waiting reason
	// CreateContainerConfigError): a ConfigMap or Secret, or a key of one,
	// missing, runAsNonRoot with a root image, a subPath or volume mount
	// that cannot be prepared.
	MessageConfigError = `Error: (configmaps? "[^"]*" not found|secrets? "[^"]*" not found|[Cc]ouldn't find key .* in (ConfigMap|Secret) |container has runAsNonRoot|failed to prepare subPath|cannot find volume |CreateContainerConfigError)`
)

// Container filters for cAdvisor: skip the pod-level and pause-container
// series.
const cadvisor = `container!="",container!="POD"`

// Zero fallbacks: "X or <fallback>" reads 0 for an entity that X has no
// series of while the fallback's exporter reports the entity, for the
// features whose source series are absent when the count or condition is
// zero (kube-state-metrics exposes an init container's restarts only for a
// pod with init containers, a waiting or last-terminated reason only for a
// container that waits or has terminated; cAdvisor exposes CFS periods
// only for a container with a CPU limit). A pod gone from the exporter has
// no fallback, so the feature has no value then, as before. The fallback
// is of the same exporter as the feature's series, so that an exporter not
// scraped at all leaves the feature without a value rather than 0.
const (
	// zeroIfPod is 0 for every pod kube-state-metrics reports.
	zeroIfPod = ` or max by (${entity}) (kube_pod_info * 0)`
	// zeroIfCadvisor is 0 for every pod with a container cAdvisor reports.
	zeroIfCadvisor = ` or max by (${entity}) (container_cpu_usage_seconds_total{` + cadvisor + `} * 0)`
)

// DefaultConfig returns the shipped Kubernetes feature set over
// kube-state-metrics and cAdvisor metric names (plus conventional
// http_requests_total / http_client_request_duration_seconds for request,
// error and dependency features), Kubernetes event features and the failure
// label definitions. Expressions aggregate with "by (${entity})", so they
// follow a change of EntityLabels. A feature whose source series are absent
// when its count or condition is zero reads 0 for a pod its exporter
// reports (see zeroIfPod); those that need application metrics
// (request_rate, error_ratio without requests, dependency_*) have no value
// without them. docs/features.default.yml is this set as YAML
// (TestDefaultFeaturesFile keeps it equal).
func DefaultConfig() Config {
	window := model.Duration(DefaultEventWindow)
	return Config{
		EntityLabels: []string{"namespace", "pod"},
		Step:         model.Duration(DefaultStep),
		Lookback:     model.Duration(DefaultLookback),
		MaxSeries:    DefaultMaxSeries,
		Features: []Feature{
			{
				Name: "container_restarts_10m",
				Expr: `sum by (${entity}) (increase(kube_pod_container_status_restarts_total[10m]))`,
				Help: "Container restarts over the last 10 minutes.",
			},
			{
				Name: "init_container_restarts_10m",
				Expr: `sum by (${entity}) (increase(kube_pod_init_container_status_restarts_total[10m]))` + zeroIfPod,
				Help: "Init container restarts over the last 10 minutes (0 for a pod without init containers).",
			},
			{
				Name: "container_waiting_failure",
				Expr: `max by (${entity}) (kube_pod_container_status_waiting_reason{reason=~"CrashLoopBackOff|CreateContainerConfigError|CreateContainerError|ErrImagePull|ImagePullBackOff|InvalidImageName|RunContainerError"})` + zeroIfPod,
				Help: "1 when a container waits for a failure reason (CrashLoopBackOff, config error, image pull), else 0.",
			},
			{
				Name: "init_container_waiting_failure",
				Expr: `max by (${entity}) (kube_pod_init_container_status_waiting_reason{reason=~"CrashLoopBackOff|CreateContainerConfigError|CreateContainerError|ErrImagePull|ImagePullBackOff|InvalidImageName|RunContainerError"})` + zeroIfPod,
				Help: "1 when an init container waits for a failure reason, else 0 (also without init containers).",
			},
			{
				Name: "container_last_terminated_error",
				Expr: `max by (${entity}) (kube_pod_container_status_last_terminated_reason{reason=~"Error|OOMKilled|ContainerCannotRun|StartError|DeadlineExceeded"})` + zeroIfPod,
				Help: "1 when a container last terminated with an error reason, else 0 (also when none has terminated).",
			},
			{
				Name: "pod_not_ready",
				Expr: `max by (${entity}) (1 - kube_pod_status_ready{condition="true"})`,
				Help: "1 when the pod is not ready.",
			},
			{
				// kube-state-metrics exposes the deletion timestamp only
				// while a pod is being deleted; 0 for every other live pod.
				Name: "pod_terminating",
				Expr: `max by (${entity}) (kube_pod_deletion_timestamp > bool 0) or max by (${entity}) (kube_pod_info * 0)`,
				Help: "1 while the pod is being deleted (not ready because it is going away, not because it fails).",
			},
			{
				Name: "pod_pending",
				Expr: `max by (${entity}) (kube_pod_status_phase{phase=~"Pending|Failed|Unknown"})`,
				Help: "1 when the pod is pending, failed or unknown.",
			},
			{
				Name: "memory_limit_ratio",
				Expr: `max by (${entity}) (container_memory_working_set_bytes{` + cadvisor + `} / (container_spec_memory_limit_bytes{` + cadvisor + `} > 0))`,
				Help: "Largest container working set as a fraction of its memory limit.",
			},
			{
				Name: "memory_working_set_bytes",
				Expr: `sum by (${entity}) (container_memory_working_set_bytes{` + cadvisor + `})`,
				Help: "Working set of the pod's containers.",
			},
			{
				Name: "cpu_throttled_ratio",
				Expr: `max by (${entity}) (rate(container_cpu_cfs_throttled_periods_total{` + cadvisor + `}[2m]) / (rate(container_cpu_cfs_periods_total{` + cadvisor + `}[2m]) > 0))` + zeroIfCadvisor,
				Help: "Largest fraction of CFS periods throttled over 2 minutes (0 without a CPU limit: no CFS periods).",
			},
			{
				Name: "cpu_usage_cores",
				Expr: `sum by (${entity}) (rate(container_cpu_usage_seconds_total{` + cadvisor + `}[5m]))`,
				Help: "CPU used, in cores, over 5 minutes.",
			},
			{
				Name: "oom_events_10m",
				Expr: `sum by (${entity}) (increase(container_oom_events_total{` + cadvisor + `}[10m]))`,
				Help: "OOM events over the last 10 minutes.",
			},
			{
				Name: "request_rate",
				Expr: `sum by (${entity}) (rate(http_requests_total[5m]))`,
				Help: "Requests served per second.",
			},
			{
				Name: "error_ratio",
				Expr: `(sum by (${entity}) (rate(http_requests_total{code=~"5.."}[5m])) or sum by (${entity}) (rate(http_requests_total{code!=""}[5m])) * 0) / (sum by (${entity}) (rate(http_requests_total[5m])) > 0)`,
				Help: "Fraction of requests answered with a 5xx code (0 with requests that carry a code label but no 5xx series; no value without requests, or when the requests carry no code label).",
			},
			{
				Name: "dependency_latency_p99_seconds",
				Expr: `histogram_quantile(0.99, sum by (${entity}, le) (rate(http_client_request_duration_seconds_bucket[2m])))`,
				Help: "99th percentile latency of calls to dependencies over 2 minutes.",
			},
			{
				Name: "dependency_error_ratio",
				Expr: `sum by (${entity}) (rate(http_client_requests_total{code=~"5..|0"}[2m])) / (sum by (${entity}) (rate(http_client_requests_total[2m])) > 0)`,
				Help: "Fraction of calls to dependencies that failed (5xx or no response) over 2 minutes.",
			},
		},
		EventFeatures: []EventFeature{
			{Name: "events_backoff", Reasons: []string{ReasonKubeletBackOff}, Window: window, Help: "Kubernetes BackOff events (crash loop and image pull back-offs)."},
			// The kubelet reports a crash loop as BackOff "Back-off
			// restarting failed container"; CrashLoopBackOff is a waiting
			// reason, kept for emitters (such as the simulator) that report
			// it as an event's.
			{
				Name: "events_crashloop", Reasons: []string{"CrashLoopBackOff", ReasonKubeletBackOff},
				Messages: map[string]string{ReasonKubeletBackOff: MessageCrashLoop},
				Window:   window, Help: "Crash loop back-offs (BackOff restarting a failed container).",
			},
			{Name: "events_failed_mount", Reasons: []string{"FailedMount", "FailedAttachVolume"}, Window: window, Help: "Volume mount and attach failures."},
			// ErrImagePull and ImagePullBackOff are waiting reasons, kept for
			// emitters reporting them as an event's; ErrImageNeverPull and
			// InspectFailed (an image reference that does not parse) are the
			// kubelet's.
			{
				Name: "events_image_pull", Reasons: []string{ReasonKubeletBackOff, ReasonKubeletFailed, "ErrImageNeverPull", "InspectFailed", "ErrImagePull", "ImagePullBackOff"},
				Messages: map[string]string{ReasonKubeletBackOff: MessageImagePullBackOff, ReasonKubeletFailed: MessageImagePullFailed},
				Window:   window, Help: "Image pull failures and back-offs.",
			},
			// Not OOMKilling: node-problem-detector reports it on the Node,
			// an event without a pod, dropped (missing_labels) with the
			// default entity labels [namespace, pod], as FailedCreate below.
			// The kubelet reports no OOM event on a pod (OOMKilled is a
			// terminated reason; oom_events_10m counts cAdvisor's OOM
			// events); OOMKilled is kept for emitters reporting it as an
			// event's.
			{Name: "events_oom_killed", Reasons: []string{"OOMKilled"}, Window: window, Help: "OOM kills."},
			{Name: "events_unhealthy", Reasons: []string{"Unhealthy", "ProbeWarning"}, Window: window, Help: "Failed liveness/readiness/startup probes."},
			{Name: "events_failed_scheduling", Reasons: []string{"FailedScheduling"}, Window: window, Help: "Scheduling failures."},
			// Not FailedCreate: Kubernetes reports it on the ReplicaSet,
			// Job, StatefulSet or DaemonSet that could not create a pod, an
			// event without a pod, so with the default entity labels
			// [namespace, pod] every one would be dropped (missing_labels).
			// With entity labels a workload event carries (e.g. [namespace],
			// or [namespace, replicaset]: an event's kind and name fill the
			// label its kind names) a feature can count it. The kubelet
			// reports a configuration error as Failed "Error: …";
			// CreateContainerConfigError is a waiting reason, kept for
			// emitters reporting it as an event's.
			{
				Name: "events_config_error", Reasons: []string{ReasonKubeletFailed, "CreateContainerConfigError", "FailedCreatePodSandBox"},
				Messages: map[string]string{ReasonKubeletFailed: MessageConfigError},
				Window:   window, Help: "Container configuration or sandbox creation failures.",
			},
			{
				Name:    "events_module_load_error",
				Reasons: []string{EventModuleLoadError, EventModuleInitError, EventConfigLoadError, EventRegistrationFailed, EventDependencyUnavailable},
				Window:  window,
				Help:    "Module-load errors reported by the modules' own logs.",
			},
		},
		Labels: []LabelDef{
			{
				Name: "crashloop_failure",
				Expr: `max by (${entity}) (kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"})`,
				// Events: the kubelet's BackOff "Back-off restarting failed
				// container" (also an init container's), and a
				// CrashLoopBackOff event of other emitters.
				Reasons:  []string{"CrashLoopBackOff", ReasonKubeletBackOff},
				Messages: map[string]string{ReasonKubeletBackOff: MessageCrashLoop},
				Help:     "A container is in CrashLoopBackOff.",
			},
			{
				Name:    "init_failure",
				Expr:    `max by (${entity}) (kube_pod_init_container_status_waiting_reason{reason=~"CrashLoopBackOff|CreateContainerConfigError|CreateContainerError|RunContainerError"})`,
				Reasons: []string{EventModuleInitError},
				Help:    "An init container or a module's initialisation fails.",
			},
			{
				Name: "config_failure",
				Expr: `max by (${entity}) (kube_pod_container_status_waiting_reason{reason=~"CreateContainerConfigError|InvalidImageName"})`,
				// Events: the kubelet's Failed "Error: configmap \"x\" not
				// found" and other configuration errors (MessageConfigError),
				// and a CreateContainerConfigError event of other emitters.
				Reasons:  []string{EventConfigLoadError, ReasonKubeletFailed, "CreateContainerConfigError"},
				Messages: map[string]string{ReasonKubeletFailed: MessageConfigError},
				Help:     "The configuration cannot be loaded.",
			},
			{
				Name:    "mount_failure",
				Reasons: []string{"FailedMount", "FailedAttachVolume"},
				Help:    "A volume cannot be mounted.",
			},
			{
				Name:    "registration_failure",
				Reasons: []string{EventRegistrationFailed},
				Help:    "The module cannot register with service discovery.",
			},
			{
				Name:    "dependency_failure",
				Reasons: []string{EventDependencyUnavailable},
				Help:    "A dependency cannot be reached at start.",
			},
			{
				Name:    "module_load_failure",
				Reasons: []string{EventModuleLoadError},
				Help:    "A module fails to load.",
			},
		},
	}
}
