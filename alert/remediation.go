package alert

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Remediation maps a cause class to a recommended action.
//
// Cause is matched, case-insensitively, against a Cause of an explanation:
// it matches when it equals the cause's Kind ("metric", "event" or
// "dependency"), or when it equals the cause's Name or is a path.Match
// glob matching it (e.g. "*cpu*", "*mount*", "cpu_throttled_ratio"). A
// Name is a feature name, never an event reason: "FailedMount" matches
// only a feature of that name, "*mount*" the event feature
// events_failed_mount that counts FailedMount.
type Remediation struct {
	Cause      string
	Action     string
	RunbookURL string
}

// DefaultRemediations returns (a copy of) the built-in table, tried after
// the configured entries, which therefore extend and override it. Runbook
// URLs without a scheme are relative to Options.RunbookBaseURL.
func DefaultRemediations() []Remediation {
	return append([]Remediation(nil), defaultRemediations...)
}

var defaultRemediations = []Remediation{
	// The shipped feature set (features.DefaultConfig), by exact name
	// first: the globs below would give some of them advice about another
	// failure (events_config_error is not a slow config store,
	// dependency_latency_p99_seconds not cross-zone latency, events_image_pull
	// not an image change).
	{Cause: "events_config_error", Action: "Containers or pod sandboxes cannot be created: kubectl describe pod names the missing Secret, ConfigMap or key (CreateContainerConfigError) or the sandbox error (FailedCreatePodSandBox: the node's CNI plugin).", RunbookURL: "container-config"},
	{Cause: "events_image_pull", Action: "Images cannot be pulled: check the image name and tag, the imagePullSecrets and the registry; roll back a new image reference.", RunbookURL: "image-pull"},
	{Cause: "container_waiting_failure", Action: "A container waits in a failure state (crash loop, config error, image pull): kubectl describe pod names the reason.", RunbookURL: "container-failures"},
	{Cause: "init_container_waiting_failure", Action: "An init container waits in a failure state (crash loop, config error, image pull): kubectl describe pod names the reason.", RunbookURL: "container-failures"},
	{Cause: "container_last_terminated_error", Action: "Containers exit with an error: read the previous container's log (kubectl logs --previous) and its exit reason.", RunbookURL: "container-failures"},
	{Cause: "container_restarts_10m", Action: "Containers restart: read the previous container's log (kubectl logs --previous) and its exit reason.", RunbookURL: "container-failures"},
	{Cause: "init_container_restarts_10m", Action: "Init containers restart: read the previous init container's log (kubectl logs --previous -c <init container>).", RunbookURL: "container-failures"},
	{Cause: "events_backoff", Action: "Kubernetes backs off restarting a container or pulling its image: kubectl describe pod says which; read the previous container's log (kubectl logs --previous).", RunbookURL: "container-failures"},
	{Cause: "events_crashloop", Action: "Containers crash-loop: read the previous container's log (kubectl logs --previous) and its exit reason.", RunbookURL: "container-failures"},
	{Cause: "events_unhealthy", Action: "Probes fail: kubectl describe pod shows which probe and why; check the probe's timing against the start-up time.", RunbookURL: "probes"},
	{Cause: "pod_not_ready", Action: "The pod is not ready: kubectl describe pod shows the failing condition or probe.", RunbookURL: "probes"},
	{Cause: "events_failed_scheduling", Action: "Pods cannot be scheduled: kubectl describe pod says why (resources, taints, affinity, unbound volumes).", RunbookURL: "scheduling"},
	{Cause: "pod_pending", Action: "The pod is pending, failed or unknown: kubectl describe pod says why (scheduling, image pull, volumes, node).", RunbookURL: "scheduling"},
	{Cause: "pod_terminating", Action: "The pod is being deleted: check what deletes it (a rollout, a scale-in, an eviction) before reading its other signals as a failure.", RunbookURL: fallbackRunbook},
	{Cause: "events_module_load_error", Action: "Modules log load errors: read the module's log (kubectl logs) for the failing module and its reason.", RunbookURL: fallbackRunbook},
	{Cause: "request_rate", Action: "The request rate drives the prediction: if load changed, hold scale-ins and rollouts until it settles.", RunbookURL: "traffic"},
	{Cause: "error_ratio", Action: "The pod answers with server errors: read its log and check its latest change.", RunbookURL: "traffic"},
	{Cause: "dependency_latency_p99_seconds", Action: "Calls to dependencies are slow: find the slow dependency and its latest change; hold the rollout until it is healthy.", RunbookURL: "dependency"},
	{Cause: "dependency_error_ratio", Action: "Calls to dependencies fail: find the failing dependency and its latest change; hold the rollout until it is healthy.", RunbookURL: "dependency"},
	// The simulator's dependency features (omen demo, omen eval sim:
	// sim.FeatureConfig), which no glob below matches: without them the
	// action fell to the next cause's.
	{Cause: "dependency_not_found_ratio", Action: "A dependency answers the pod's calls with Not Found (an incompatible API, e.g. an upgraded dependency): find the dependency and its latest change; roll it back or hold the rollout until both sides agree.", RunbookURL: "dependency"},
	{Cause: "connection_pool_usage_ratio", Action: "An upstream connection pool is nearly exhausted: check connection reuse (keepalive) and the pool limits, and the upstream's health; hold the rollout until connections are free.", RunbookURL: "dependency"},
	// Image or dependency version changes just before the failures.
	{Cause: "*image*", Action: "The image changed just before the failures: roll back to the previous image.", RunbookURL: "rollback"},
	{Cause: "*version*", Action: "A version changed just before the failures: roll back the change.", RunbookURL: "rollback"},
	{Cause: "dependency", Action: "A dependency changed or degraded just before the failures: roll back its latest change, or hold the rollout until it is healthy.", RunbookURL: "dependency"},
	// Mounts and volumes.
	{Cause: "*mount*", Action: "Volume mounts are slow or failing: check the volume provisioner (CSI driver, attach/detach controller).", RunbookURL: "volume-provisioner"},
	{Cause: "*volume*", Action: "Volume mounts are slow or failing: check the volume provisioner (CSI driver, attach/detach controller).", RunbookURL: "volume-provisioner"},
	// Memory.
	{Cause: "*oom*", Action: "Containers are running out of memory: raise the memory limit or fix the leak.", RunbookURL: "memory"},
	{Cause: "*memory*", Action: "Memory use drives the prediction: if it is near the limit, raise the memory limit or fix the leak.", RunbookURL: "memory"},
	// CPU.
	{Cause: "*cpu*", Action: "CPU use drives the prediction: if the containers are near their CPU limit, delay the rollout until there is headroom.", RunbookURL: "cpu-saturation"},
	{Cause: "*throttl*", Action: "CPU is throttled: delay the rollout until there is headroom.", RunbookURL: "cpu-saturation"},
	// Network latency (features of your own, or the simulator's: the
	// default dependency_latency_p99_seconds is matched above).
	{Cause: "*zone*", Action: "Cross-zone latency drives the prediction: if it is high, pause scaling until it recovers.", RunbookURL: "cross-zone-latency"},
	{Cause: "*latency*", Action: "Network latency is high: pause scaling until it recovers.", RunbookURL: "cross-zone-latency"},
	// Caches.
	{Cause: "*cache*", Action: "The cache hit rate drives the prediction: if it is low, warm up the cache before adding load.", RunbookURL: "cache-warmup"},
	// Configuration propagation (a feature of your own, or the
	// simulator's config_propagation_delay_seconds; the default
	// events_config_error is matched above).
	{Cause: "*config*", Action: "Configuration propagates slowly: slow the scale-out and check the config store.", RunbookURL: "config-propagation"},
}

// Runbooks returns the relative runbook URLs that the built-in table and
// the fallback (when no rule matches) can put in an alert, deduplicated:
// each must be served under Options.RunbookBaseURL.
func Runbooks() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range append(DefaultRemediations(), Remediation{RunbookURL: fallbackRunbook}) {
		if r.RunbookURL != "" && !strings.Contains(r.RunbookURL, "://") && !seen[r.RunbookURL] {
			seen[r.RunbookURL] = true
			out = append(out, r.RunbookURL)
		}
	}
	return out
}

const (
	fallbackAction  = "Inspect the top causes and the explanation before the predicted failure; hold risky changes to this entity."
	fallbackRunbook = "module-load-failure"
)

// CheckRemediation returns why New and Manager.CheckReload refuse r as a
// configured remediation, nil when they do not: its cause or its action
// is empty ("cause and action are required"), or its cause is not a
// path.Match pattern ("cause pattern ...", matched in lower case).
// omen check config and every start and reload of omen run check the
// configuration's remediations with it.
func CheckRemediation(r Remediation) error {
	if r.Cause == "" || r.Action == "" {
		return errors.New("cause and action are required")
	}
	if _, err := path.Match(strings.ToLower(r.Cause), ""); err != nil {
		return fmt.Errorf("cause pattern %q: %w", r.Cause, err)
	}
	return nil
}

// remedies picks actions from the configured and built-in tables.
type remedies struct {
	rules []Remediation
	base  string // runbook base URL, ending in "/"
}

func newRemedies(configured []Remediation, base string) (*remedies, error) {
	r := &remedies{base: base}
	for i, c := range configured {
		if err := CheckRemediation(c); err != nil {
			return nil, fmt.Errorf("remediation %d: %w", i, err)
		}
		r.rules = append(r.rules, c)
	}
	r.rules = append(r.rules, defaultRemediations...)
	return r, nil
}

func (r *Remediation) matches(c Cause) bool {
	p := strings.ToLower(r.Cause)
	if p == strings.ToLower(c.Kind) {
		return true
	}
	ok, _ := path.Match(p, strings.ToLower(c.Name))
	return ok
}

// pick returns the action and runbook for causes (ranked, top first): the
// first rule matching the top cause wins; when no rule matches it, the
// next cause is tried, and so on; the fallback is a generic action. The
// runbook is the rule's RunbookURL as configured: a relative one (the
// built-in runbooks, which omen serves under its external URL) is made
// absolute by url when an alert is rendered, with the base URL of the
// time, so that a reload changing the external URL changes the runbook
// links of the alerts already firing too.
func (r *remedies) pick(causes []Cause) (action, runbook string) {
	for _, c := range causes {
		for i := range r.rules {
			if r.rules[i].matches(c) {
				return r.rules[i].Action, r.rules[i].RunbookURL
			}
		}
	}
	return fallbackAction, fallbackRunbook
}

// relative is the runbook u of an alert state persisted when runbooks
// were kept absolute: when u is under the current base URL, it becomes
// relative again (and follows later changes of the base URL). So does a
// built-in runbook under another base URL (omen restarted with a changed
// external URL): an absolute URL whose path ends in
// /docs/runbooks/<name>, <name> one of Runbooks, whatever its host and
// prefix, unless a configured remediation names it.
func (r *remedies) relative(u string) string {
	if rel, ok := strings.CutPrefix(u, r.base); ok && rel != "" && !strings.Contains(rel, "://") {
		return rel
	}
	const dir = "/docs/runbooks/"
	for _, c := range r.rules {
		if c.RunbookURL == u {
			return u // a configured runbook (a wiki's), not omen's
		}
	}
	if strings.Contains(u, "://") {
		if i := strings.LastIndex(u, dir); i >= 0 && slices.Contains(Runbooks(), u[i+len(dir):]) {
			return u[i+len(dir):]
		}
	}
	return u
}

// url renders the runbook u of an alert: relative to the current base URL
// unless absolute (a configured runbook elsewhere, kept as it is).
func (r *remedies) url(u string) string {
	if u == "" || strings.Contains(u, "://") {
		return u
	}
	return r.base + u
}
