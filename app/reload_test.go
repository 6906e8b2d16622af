package app

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/telemetry"
)

// pollerApp starts an App whose configuration file (testConfigYAML with
// a Prometheus poller against a fake server, plus extra) write rewrites;
// logs collects the warnings and errors.
func pollerApp(t *testing.T, extra string) (a *App, write func(yml string), pollerYAML string, logs *testenv.SyncBuffer) {
	t.Helper()
	prom := httptest.NewServer(&queryRecorder{})
	t.Cleanup(prom.Close)
	pollerYAML = "prometheus:\n  - url: " + prom.URL + "\n"
	var file string
	file, write = configFileWriter(t)
	write(testConfigYAML + pollerYAML + extra)
	logs = &testenv.SyncBuffer{}
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

// TestFailedReloadKeepsState: a refused reload — by a later component (the
// Prometheus pollers: no PromQL feature) or, when it also changes the
// entity labels, up front as needing a restart — leaves the feature
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

// TestReloadRefusesRestartSettings: a reload that changes entity_labels,
// step or lookback (which the pollers, the evaluator, the scorer, the
// alerts and the in-memory window read at start) is refused with an error
// saying it needs a restart, and changes nothing: not the configuration
// in force, not the extractor's definitions, not its event state.
func TestReloadRefusesRestartSettings(t *testing.T) {
	tests := []struct {
		name    string
		from    string // replaced in testConfigYAML
		to      string
		wantErr string
	}{
		{name: "entity_labels", from: "entity_labels: [namespace, pod]", to: "entity_labels: [namespace]",
			wantErr: `entity_labels from ["namespace" "pod"] to ["namespace"]`},
		{name: "step", from: "step: 5s", to: "step: 10s", wantErr: "step from 5s to 10s"},
		{name: "lookback lowered", from: "lookback: 6m", to: "lookback: 5m30s", wantErr: "lookback from 6m to 5m30s"},
		{name: "lookback raised", from: "lookback: 6m", to: "lookback: 7m", wantErr: "lookback from 6m to 7m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, write, pollerYAML, logs := pollerApp(t, "")
			now := time.Now().Truncate(time.Second)
			ev := telemetry.Event{T: now.UnixMilli(), Source: telemetry.SourceKubernetes, Reason: "ModuleLoadError",
				Count: 1, UID: "ev-1", Labels: labels.FromStrings("namespace", "shop", "pod", "cart-0")}
			a.extractor.AddEvents([]telemetry.Event{ev})
			cfgBefore, fxBefore := a.Config(), a.extractor.Config()

			if !strings.Contains(testConfigYAML, tt.from) {
				t.Fatalf("testConfigYAML has no %q", tt.from)
			}
			write(strings.Replace(testConfigYAML, tt.from, tt.to, 1) + pollerYAML)
			err := a.Reload()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "need a restart") {
				t.Fatalf("reload = %v, want an error naming %s and saying it needs a restart", err, tt.wantErr)
			}
			if a.Config() != cfgBefore {
				t.Error("the configuration in force changed")
			}
			if fx := a.extractor.Config(); !slices.Equal(fx.EntityLabels, fxBefore.EntityLabels) || fx.Step != fxBefore.Step || fx.Lookback != fxBefore.Lookback {
				t.Errorf("extractor config %v/%v/%v, want the start-time %v/%v/%v",
					fx.EntityLabels, fx.Step, fx.Lookback, fxBefore.EntityLabels, fxBefore.Step, fxBefore.Lookback)
			}
			a.extractor.AddEvents([]telemetry.Event{ev}) // a redelivery
			if got := featureOf(t, a, now, "shop/cart-0", "module_errors"); got != 1 {
				t.Errorf("module_errors %v after the refused reload, want 1", got)
			}
			if strings.Contains(logs.String(), "not applied until restart") {
				t.Errorf("a refused reload warned about restart-only keys:\n%s", logs.String())
			}
		})
	}
}

// TestReloadWarnsRestartOnlyKeys: a reload that changes a setting read
// only at start (besides those it refuses) succeeds, applies the rest, and
// warns naming the key; the warning repeats while the file differs from
// the start-time values. (model.file: TestReloadModelFile.)
func TestReloadWarnsRestartOnlyKeys(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  string
	}{
		{name: "max_series", extra: "max_series: 5000\n", want: "max_series"},
		{name: "runtime", extra: "runtime:\n  gogc: 50\n", want: "runtime"},
		{name: "storage", extra: "storage:\n  block_cache_size: 1048576\n", want: "storage"},
		{name: "ingest", extra: "ingest:\n  max_sample_age: 1h\n", want: "ingest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, write, logs := reloadableApp(t, "")
			// A reloadable change alongside applies.
			write(tt.extra + "alerting:\n  for: 7\n")
			for round := range 2 {
				before := len(logs.String())
				if err := a.Reload(); err != nil {
					t.Fatalf("round %d: reload: %v", round, err)
				}
				logged := logs.String()[before:]
				if !strings.Contains(logged, "not applied until restart") || !strings.Contains(logged, tt.want) {
					t.Errorf("round %d: no restart warning naming %s:\n%s", round, tt.want, logged)
				}
			}
			if got := a.Config().Alerting.For; got != 7 {
				t.Errorf("alerting.for %d after the reload, want 7", got)
			}
		})
	}
}
