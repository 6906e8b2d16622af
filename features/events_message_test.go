package features

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// kubeletEvent is a Kubernetes event of pod shop/web-1 as the decoder
// gives it (involvedObject kind Pod).
func kubeletEvent(t int64, reason, msg string, count int, uid string) telemetry.Event {
	return telemetry.Event{T: t, Source: telemetry.SourceKubernetes, Reason: reason, Type: "Warning", Count: count, Message: msg, UID: uid,
		Labels: labels.FromStrings("namespace", "shop", "kind", "Pod", "name", "web-1", "pod", "web-1", "container", "app")}
}

// eventVector evaluates e at base and returns pod shop/web-1's event
// feature values and failure labels by name (empty when it has no vector).
func eventVector(t *testing.T, e *Extractor) (map[string]float64, map[string]bool) {
	t.Helper()
	v, ok := evaluate(t, e, base)["shop/web-1"]
	vals, fails := map[string]float64{}, map[string]bool{}
	if !ok {
		return vals, fails
	}
	for i, n := range e.FeatureNames() {
		vals[n] = v.Values[i]
	}
	for i, n := range e.LabelNames() {
		fails[n] = v.Failure[i]
	}
	return vals, fails
}

// TestDefaultKubeletEvents: the default configuration labels and counts
// the events real kubelets emit. A crash loop is BackOff "Back-off
// restarting failed container …" (CrashLoopBackOff is a waiting reason,
// not an event's), an image pull back-off is BackOff too ("Back-off
// pulling image …"), a configuration error is Failed "Error: configmap
// \"cfg\" not found", an image pull failure Failed too. Before, the
// defaults listed only CrashLoopBackOff and CreateContainerConfigError, so
// with events only (no kube-state-metrics) crashloop_failure and
// config_failure were never set: a BackOff event of count 5 gave
// events_backoff 5 and crashloop_failure false.
func TestDefaultKubeletEvents(t *testing.T) {
	tests := []struct {
		name       string
		ev         telemetry.Event
		wantFail   []string // failure labels set
		wantCounts map[string]float64
	}{
		{name: "crash loop back-off",
			ev:         kubeletEvent(base-2*sec, "BackOff", "Back-off restarting failed container app in pod web-1_shop(0f6c9a1e-3b52-4d7e-a0c4-1f2e3d4c5b6a)", 5, "u1"),
			wantFail:   []string{"crashloop_failure"},
			wantCounts: map[string]float64{"events_backoff": 5, "events_crashloop": 5, "events_image_pull": 0}},
		{name: "crash loop back-off aggregated by the API server",
			ev:         kubeletEvent(base-2*sec, "BackOff", "(combined from similar events): Back-off restarting failed container app in pod web-1_shop(0f6c9a1e)", 2, "u2"),
			wantFail:   []string{"crashloop_failure"},
			wantCounts: map[string]float64{"events_backoff": 2, "events_crashloop": 2}},
		{name: "image pull back-off",
			ev:         kubeletEvent(base-2*sec, "BackOff", `Back-off pulling image "registry.example/web:1.2"`, 3, "u3"),
			wantCounts: map[string]float64{"events_backoff": 3, "events_crashloop": 0, "events_image_pull": 3}},
		{name: "image pull failure",
			ev:         kubeletEvent(base-2*sec, "Failed", `Failed to pull image "registry.example/web:1.2": rpc error: code = NotFound desc = failed to resolve reference`, 1, "u4"),
			wantCounts: map[string]float64{"events_image_pull": 1, "events_config_error": 0}},
		{name: "image pull error of the container",
			ev:         kubeletEvent(base-2*sec, "Failed", "Error: ErrImagePull", 1, "u5"),
			wantCounts: map[string]float64{"events_image_pull": 1, "events_config_error": 0}},
		{name: "missing configmap",
			ev:         kubeletEvent(base-2*sec, "Failed", `Error: configmap "cfg" not found`, 4, "u6"),
			wantFail:   []string{"config_failure"},
			wantCounts: map[string]float64{"events_config_error": 4, "events_image_pull": 0}},
		{name: "missing secret key",
			ev:         kubeletEvent(base-2*sec, "Failed", "Error: couldn't find key password in Secret shop/db", 1, "u7"),
			wantFail:   []string{"config_failure"},
			wantCounts: map[string]float64{"events_config_error": 1}},
		{name: "missing secret",
			ev:         kubeletEvent(base-2*sec, "Failed", `Error: secret "db" not found`, 1, "u8"),
			wantFail:   []string{"config_failure"},
			wantCounts: map[string]float64{"events_config_error": 1}},
		{name: "runAsNonRoot with a root image",
			ev:         kubeletEvent(base-2*sec, "Failed", "Error: container has runAsNonRoot and image will run as root (pod: \"web-1_shop(0f6c)\", container: app)", 1, "u9"),
			wantFail:   []string{"config_failure"},
			wantCounts: map[string]float64{"events_config_error": 1}},
		{name: "container start failure: not a configuration error",
			ev:         kubeletEvent(base-2*sec, "Failed", `Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: exec: "/app": permission denied`, 1, "u10"),
			wantCounts: map[string]float64{"events_config_error": 0, "events_image_pull": 0}},
		// The reasons of other emitters (the simulator) still count.
		{name: "CrashLoopBackOff event",
			ev:         kubeletEvent(base-2*sec, "CrashLoopBackOff", "Container app is in CrashLoopBackOff", 1, ""),
			wantFail:   []string{"crashloop_failure"},
			wantCounts: map[string]float64{"events_crashloop": 1, "events_backoff": 0}},
		{name: "CreateContainerConfigError event",
			ev:         kubeletEvent(base-2*sec, "CreateContainerConfigError", "anything", 1, ""),
			wantFail:   []string{"config_failure"},
			wantCounts: map[string]float64{"events_config_error": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			e := newTestExtractor(t, newTestHead(t, reg, HeadOptions{}), reg, DefaultConfig())
			e.AddEvents([]telemetry.Event{tt.ev})
			vals, fails := eventVector(t, e)
			for name, set := range fails {
				if want := slices.Contains(tt.wantFail, name); set != want {
					t.Errorf("%s = %v, want %v", name, set, want)
				}
			}
			if len(fails) == 0 && len(tt.wantFail) > 0 {
				t.Errorf("no vector for shop/web-1, want %v set", tt.wantFail)
			}
			for name, want := range tt.wantCounts {
				if got := vals[name]; got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
		})
	}
}

// TestDefaultKubeletEventsLate: a late kubelet crash loop event sets
// crashloop_failure at its step (AddEventsLate), an image pull back-off
// sets nothing.
func TestDefaultKubeletEventsLate(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newTestExtractor(t, newTestHead(t, reg, HeadOptions{}), reg, DefaultConfig())
	late, failures := e.AddEventsLate([]telemetry.Event{
		kubeletEvent(base-2*sec, "BackOff", "Back-off restarting failed container app in pod web-1_shop(0f6c)", 1, "a"),
		kubeletEvent(base-3*sec, "BackOff", `Back-off pulling image "web:1"`, 1, "b"),
	}, base)
	want := []LateFailure{{Entity: "shop/web-1", T: base, Label: "crashloop_failure"}}
	if late != 2 || !slices.Equal(failures, want) {
		t.Errorf("late %d, failures %v; want 2, %v", late, failures, want)
	}
}

// TestEventMessages: an event feature or label with a message pattern for
// a reason counts only that reason's events whose message matches it
// (anywhere, unless anchored); its other reasons, and a feature without
// messages (every configuration before messages existed), match every
// message. An event that nothing matches is not kept (not counted as
// missing_labels either).
func TestEventMessages(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newTestExtractor(t, newTestHead(t, reg, HeadOptions{}), reg, Config{
		EntityLabels: []string{"namespace", "pod"},
		EventFeatures: []EventFeature{
			{Name: "any", Reasons: []string{"BackOff", "Failed"}},
			{Name: "crash", Reasons: []string{"BackOff", "Other"}, Messages: map[string]string{"BackOff": "restarting failed"}},
			{Name: "anchored", Reasons: []string{"BackOff"}, Messages: map[string]string{"BackOff": "^Back-off pulling"}},
			{Name: "nocase", Reasons: []string{"Failed"}, Messages: map[string]string{"Failed": `(?i)^error: CONFIGMAP`}},
		},
		Labels: []LabelDef{
			{Name: "crash_label", Reasons: []string{"BackOff"}, Messages: map[string]string{"BackOff": "restarting failed"}},
		},
	})
	e.AddEvents([]telemetry.Event{
		kubeletEvent(base-1*sec, "BackOff", "Back-off restarting failed container app", 1, ""),
		kubeletEvent(base-2*sec, "BackOff", "Back-off pulling image x", 2, ""),
		kubeletEvent(base-3*sec, "BackOff", "(combined from similar events): Back-off pulling image x", 4, ""),
		kubeletEvent(base-4*sec, "Other", "whatever", 8, ""),
		kubeletEvent(base-5*sec, "Failed", `Error: configmap "c" not found`, 16, ""),
		// Matched by nothing: dropped without a count.
		{T: base - sec, Reason: "Unmatched", Message: "x", Labels: labels.FromStrings("namespace", "shop")},
	})
	vals, fails := eventVector(t, e)
	want := map[string]float64{"any": 1 + 2 + 4 + 16, "crash": 1 + 8, "anchored": 2, "nocase": 16}
	for n, w := range want {
		if vals[n] != w {
			t.Errorf("%s = %v, want %v", n, vals[n], w)
		}
	}
	if !fails["crash_label"] {
		t.Error("crash_label not set")
	}
	if n := dropped(t, reg, ReasonMissingLabels); n != 0 {
		t.Errorf("missing_labels %v, want 0", n)
	}

	// A label only a pulling back-off reaches stays unset.
	reg = prometheus.NewRegistry()
	e = newTestExtractor(t, newTestHead(t, reg, HeadOptions{}), reg, Config{
		EventFeatures: []EventFeature{{Name: "any", Reasons: []string{"BackOff"}}},
		Labels:        []LabelDef{{Name: "crash_label", Reasons: []string{"BackOff"}, Messages: map[string]string{"BackOff": "restarting failed"}}},
	})
	e.AddEvents([]telemetry.Event{kubeletEvent(base-sec, "BackOff", "Back-off pulling image x", 1, "")})
	if _, fails := eventVector(t, e); fails["crash_label"] {
		t.Error("crash_label set by a pulling back-off")
	}
}

// TestEventMessagesReload: a reload that keeps the entity labels keeps the
// events and matches their messages under the new patterns.
func TestEventMessagesReload(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := Config{EventFeatures: []EventFeature{{Name: "backoff", Reasons: []string{"BackOff"}}}}
	e := newTestExtractor(t, newTestHead(t, reg, HeadOptions{}), reg, cfg)
	e.AddEvents([]telemetry.Event{
		kubeletEvent(base-sec, "BackOff", "Back-off restarting failed container app", 1, ""),
		kubeletEvent(base-2*sec, "BackOff", "Back-off pulling image x", 2, ""),
	})
	if vals, _ := eventVector(t, e); vals["backoff"] != 3 {
		t.Fatalf("backoff = %v before the reload, want 3", vals["backoff"])
	}
	cfg.EventFeatures[0].Messages = map[string]string{"BackOff": "pulling image"}
	if err := e.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if vals, _ := eventVector(t, e); vals["backoff"] != 2 {
		t.Errorf("backoff = %v after the reload, want 2", vals["backoff"])
	}
	cfg.EventFeatures[0].Messages = nil
	if err := e.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if vals, _ := eventVector(t, e); vals["backoff"] != 3 {
		t.Errorf("backoff = %v after the second reload, want 3", vals["backoff"])
	}
}

// TestEventMessagesValidate: an invalid message pattern, an empty one, and
// one for a reason not in reasons fail validation, each error naming its
// key (event_features[i].messages.<reason>, labels[i].messages.<reason>).
func TestEventMessagesValidate(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		wantPath string
		wantMsg  string
	}{
		{name: "invalid pattern of an event feature",
			cfg:      Config{EventFeatures: []EventFeature{{Name: "e", Reasons: []string{"BackOff"}, Messages: map[string]string{"BackOff": "restarting (failed"}}}},
			wantPath: "event_features[0].messages.BackOff",
			wantMsg:  `event feature "e": message pattern "restarting (failed" for reason "BackOff" is not a valid regular expression (RE2 syntax): error parsing regexp: missing closing )`},
		{name: "invalid pattern of a label",
			cfg: Config{EventFeatures: []EventFeature{{Name: "e", Reasons: []string{"x"}}},
				Labels: []LabelDef{{Name: "l", Reasons: []string{"Failed"}, Messages: map[string]string{"Failed": `[z-a]`}}}},
			wantPath: "labels[0].messages.Failed",
			wantMsg:  `label "l": message pattern "[z-a]" for reason "Failed" is not a valid regular expression`},
		{name: "Perl lookahead, not RE2",
			cfg:      Config{EventFeatures: []EventFeature{{Name: "e", Reasons: []string{"BackOff"}, Messages: map[string]string{"BackOff": `Back-off (?!pulling)`}}}},
			wantPath: "event_features[0].messages.BackOff",
			wantMsg:  "is not a valid regular expression (RE2 syntax)"},
		{name: "reason not in reasons",
			cfg:      Config{EventFeatures: []EventFeature{{Name: "e", Reasons: []string{"Failed"}, Messages: map[string]string{"BackOff": "x"}}}},
			wantPath: "event_features[0].messages.BackOff",
			wantMsg:  `event feature "e": reason "BackOff" is not in reasons`},
		{name: "empty pattern",
			cfg:      Config{EventFeatures: []EventFeature{{Name: "e", Reasons: []string{"BackOff"}, Messages: map[string]string{"BackOff": ""}}}},
			wantPath: "event_features[0].messages.BackOff",
			wantMsg:  `event feature "e": empty message pattern for reason "BackOff"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil {
				t.Fatal("valid, want an error")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is no FieldError", err)
			}
			if fe.Path() != tt.wantPath || !strings.Contains(fe.Err.Error(), tt.wantMsg) {
				t.Errorf("error at %q: %v; want at %q containing %q", fe.Path(), fe.Err, tt.wantPath, tt.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), tt.wantPath+": ") {
				t.Errorf("message %q does not start with its key path", err)
			}
			reg := prometheus.NewRegistry()
			if _, err := NewExtractor(ExtractorOptions{Config: tt.cfg, Head: newTestHead(t, reg, HeadOptions{}), Registerer: reg}); err == nil {
				t.Error("NewExtractor accepted the configuration")
			}
		})
	}
	// Without messages, and with valid ones, configurations stay valid.
	for _, c := range []Config{
		{EventFeatures: []EventFeature{{Name: "e", Reasons: []string{"BackOff"}}}},
		{EventFeatures: []EventFeature{{Name: "e", Reasons: []string{"BackOff", "Failed"}, Messages: map[string]string{"Failed": `^Error: `}}}},
		DefaultConfig(),
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c.EventFeatures, err)
		}
	}
}
