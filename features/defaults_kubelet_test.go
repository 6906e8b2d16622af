package features

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// nodeReasons are event reasons reported only on a Node: by
// node-problem-detector (its kernel monitor's temporary problems,
// OOMKilling among them, recorded on its node reference) and by the
// kubelet about its node (SystemOOM, NodeNotReady, Rebooted). No pod
// label can be derived from such an event.
var nodeReasons = []string{"OOMKilling", "TaskHung", "KernelOops", "SystemOOM", "NodeNotReady", "Rebooted"}

// TestDefaultReasonsNotNodeOnly: the default event features and labels
// list no reason reported only on a Node: with the default entity labels
// [namespace, pod] every such event is dropped (missing_labels). The
// default events_oom_killed listed node-problem-detector's OOMKilling, and
// every one was dropped.
func TestDefaultReasonsNotNodeOnly(t *testing.T) {
	cfg := DefaultConfig()
	used := usedReasons(cfg)
	for _, r := range nodeReasons {
		if slices.Contains(used, r) {
			t.Errorf("default configuration uses %s, reported on a Node, not a pod", r)
		}
	}
	reg := prometheus.NewRegistry()
	e := newTestExtractor(t, newTestHead(t, reg, HeadOptions{}), reg, cfg)
	var evs []telemetry.Event
	for _, r := range nodeReasons {
		// As the decoder gives node-problem-detector's event: involved
		// object kind Node, no namespace, source host the node.
		evs = append(evs, telemetry.Event{T: base - sec, Source: telemetry.SourceKubernetes, Reason: r, Count: 1,
			Message: "Memory cgroup out of memory: Killed process 4242 (java)",
			Labels:  labels.FromStrings("kind", "Node", "name", "node-1", "node", "node-1")})
	}
	e.AddEvents(evs)
	if n := dropped(t, reg, ReasonMissingLabels); n != 0 {
		t.Errorf("%v node events dropped as missing_labels, want 0 (no default feature uses their reasons)", n)
	}
}

// TestDefaultMessagePatterns: each default message pattern matches the
// kubelet messages of its failure and none of the others' sharing its
// reason.
func TestDefaultMessagePatterns(t *testing.T) {
	msgs := map[string]string{
		"crash":      "Back-off restarting failed container app in pod web-1_shop(0f6c)",
		"crashInit":  "Back-off restarting failed container init-db in pod web-1_shop(0f6c)",
		"pullBack":   `Back-off pulling image "web:1"`,
		"pullFail":   `Failed to pull image "web:1": rpc error: code = Unknown desc = not found`,
		"pullErr":    "Error: ErrImagePull",
		"pullBackEr": "Error: ImagePullBackOff",
		"cm":         `Error: configmap "cfg" not found`,
		"secret":     `Error: secret "db" not found`,
		"cmKey":      "Error: couldn't find key url in ConfigMap shop/cfg",
		"secretKey":  "Error: Couldn't find key password in Secret shop/db",
		"subPath":    `Error: failed to prepare subPath for volumeMount "data" of container "app"`,
		"volume":     `Error: cannot find volume "data" to mount into container "app"`,
		"nonRoot":    "Error: container has runAsNonRoot and image will run as root",
		"create":     "Error: context deadline exceeded",
		"start":      `Error: failed to start container "app": OCI runtime start failed`,
	}
	tests := []struct {
		pattern string
		match   []string
	}{
		{MessageCrashLoop, []string{"crash", "crashInit"}},
		{MessageImagePullBackOff, []string{"pullBack"}},
		{MessageImagePullFailed, []string{"pullFail", "pullErr", "pullBackEr"}},
		{MessageConfigError, []string{"cm", "secret", "cmKey", "secretKey", "subPath", "volume", "nonRoot"}},
	}
	for _, tt := range tests {
		rr, err := compileEventRules(Config{EventFeatures: []EventFeature{{Name: "x", Reasons: []string{"r"}, Messages: map[string]string{"r": tt.pattern}}}})
		if err != nil {
			t.Fatal(err)
		}
		for k, m := range msgs {
			if got, want := rr["r"].match(m) != nil, slices.Contains(tt.match, k); got != want {
				t.Errorf("%q on %q (%s): matched %v, want %v", tt.pattern, m, k, got, want)
			}
		}
	}
}
