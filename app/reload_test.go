package app

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/telemetry"
)

// pollerApp starts an App whose configuration file (testConfigYAML with
// a Prometheus poller against a fake server, plus extra) write rewrites;
// logs collects the warnings and errors.
func pollerApp(t *testing.T, extra string) (a *App, write func(yml string), pollerYAML string, logs *syncWriter) {
	t.Helper()
	prom := httptest.NewServer(&queryRecorder{})
	t.Cleanup(prom.Close)
	pollerYAML = "prometheus:\n  - url: " + prom.URL + "\n"
	file := filepath.Join(t.TempDir(), "omen.yml")
	write = func(yml string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(testConfigYAML + pollerYAML + extra)
	logs = &syncWriter{}
	a = startApp(t, t.TempDir(), func(o *Options) {
		o.Config, o.ConfigFile = nil, file
		o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, logs), &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	return a, write, pollerYAML, logs
}

// featureOf evaluates the app's features at t and returns feature name's
// value for entity, or -1 when the entity has no vector.
func featureOf(t *testing.T, a *App, at time.Time, entity, name string) float64 {
	t.Helper()
	vs, err := a.extractor.Evaluate(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.Index(a.extractor.FeatureNames(), name)
	if i < 0 {
		t.Fatalf("no feature %q in %q", name, a.extractor.FeatureNames())
	}
	for _, v := range vs {
		if v.Entity == entity {
			return v.Values[i]
		}
	}
	return -1
}

// eventsOnlyYAML has no PromQL feature: the Prometheus pollers refuse it.
const eventsOnlyYAML = `
step: 5s
lookback: 6m
event_features:
  - name: module_errors
    reasons: [ModuleLoadError]
    window: 1m
labels:
  - name: crashloop
    reasons: [CrashLoopBackOff]
`

// TestFailedReloadKeepsState: a reload that a later component refuses
// (the Prometheus pollers: no PromQL feature) leaves the feature
// extractor's state as it was: the event windows and the Kubernetes event
// de-duplication (a re-sent event is not counted again), and the values
// polled from Prometheus for features the refused configuration drops.
func TestFailedReloadKeepsState(t *testing.T) {
	tests := []struct {
		name string
		// entityLabels of the refused configuration.
		entityLabels string
	}{
		{name: "same entity labels", entityLabels: "[namespace, pod]"},
		{name: "other entity labels", entityLabels: "[namespace]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, write, pollerYAML, _ := pollerApp(t, "")
			now := time.Now().Truncate(time.Second)
			ev := telemetry.Event{T: now.UnixMilli(), Source: telemetry.SourceKubernetes, Reason: "ModuleLoadError",
				Type: "Warning", Count: 1, UID: "ev-1",
				Labels: labels.FromStrings("namespace", "shop", "pod", "cart-0")}
			a.extractor.AddEvents([]telemetry.Event{ev})
			a.extractor.AddPolled([]telemetry.Sample{{
				Labels: labels.FromStrings("__name__", "cpu_rate", "namespace", "shop", "pod", "cart-0"),
				T:      now.UnixMilli(), V: 42,
			}})
			const entity = "shop/cart-0"
			check := func(when string) {
				t.Helper()
				if got := featureOf(t, a, now, entity, "module_errors"); got != 1 {
					t.Errorf("%s: module_errors %v, want 1", when, got)
				}
				if got := featureOf(t, a, now, entity, "cpu_rate"); got != 42 {
					t.Errorf("%s: polled cpu_rate %v, want 42", when, got)
				}
			}
			check("before the reload")

			write("entity_labels: " + tt.entityLabels + "\n" + eventsOnlyYAML + pollerYAML)
			if err := a.Reload(); err == nil {
				t.Fatal("a reload the pollers refuse succeeded")
			}
			check("after the failed reload")
			// The same Kubernetes event re-sent (a redelivery) counts nothing.
			a.extractor.AddEvents([]telemetry.Event{ev})
			check("after the event is re-sent")
			if got, want := a.extractor.FeatureNames(), features.Names(a.Config().Config); !slices.Equal(got, want) {
				t.Errorf("features %q after the failed reload, want the old %q", got, want)
			}
		})
	}
}

// TestFailedReloadLogsNoApplied: a refused reload logs its error and
// nothing about limits applied or restart-only keys.
func TestFailedReloadLogsNoApplied(t *testing.T) {
	a, write, pollerYAML, logs := pollerApp(t, "")
	write("entity_labels: [namespace, pod]\n" + eventsOnlyYAML + pollerYAML +
		"remote_write:\n  max_samples_per_request: 7\ningest:\n  max_sample_age: 1h\n")
	if err := a.Reload(); err == nil {
		t.Fatal("a reload the pollers refuse succeeded")
	}
	if l := logs.String(); strings.Contains(l, "not applied until restart") || !strings.Contains(l, "reload configuration") {
		t.Errorf("log of a refused reload:\n%s", l)
	}
}
