package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/omen-sre/omen/config"
)

// TestTrainPrometheusEventFeatures: omen train --source prometheus with a
// --config.file whose features include event features (Kubernetes events,
// which Prometheus does not serve; the built-in ones too, when the file
// lists no features) refuses before any query, naming them and what to do,
// as --url's check does: it trained a model lacking them, which omen model
// add then refused ("features in use the model lacks: [events_backoff …]").
// Without --config.file (the built-in features) it warns and trains, as
// omen model add only warns of the default features; a file without event
// features is neither refused nor warned of.
func TestTrainPrometheusEventFeatures(t *testing.T) {
	t.Chdir(t.TempDir())
	prom, queries := failingPrometheus(t)
	promql := "features:\n  - {name: up, expr: 'sum by (namespace, pod) (up)'}\n"
	writeTestFile(t, "events.yml", promql+"event_features:\n  - {name: events_backoff, reasons: [BackOff], window: 10m}\n  - {name: events_oom, reasons: [OOMKilling], window: 10m}\n")
	writeTestFile(t, "step.yml", "step: 15s\n")
	writeTestFile(t, "promql.yml", promql)
	const warning = `omen train: warning: the built-in features include "events_backoff", `
	for _, tc := range []struct {
		name    string
		args    []string
		refused string // the error, before any query
		warn    bool
	}{
		{"event features", []string{"--config.file", "events.yml"},
			`omen train: the features of events.yml include "events_backoff", "events_oom": event features (Kubernetes events), which Prometheus does not serve: ` +
				"a model trained from Prometheus would lack them, and a daemon running events.yml would refuse it (nothing queried, nothing trained); " +
				"train on the daemon's own history instead (--source store --url), or remove event_features from events.yml and run the daemon with it\n", false},
		{"a file of the built-in features", []string{"--config.file", "step.yml"},
			`omen train: the features of step.yml (the built-in ones: it lists none of features, event_features and labels) include "events_backoff", `, false},
		{"the built-in features", nil, "", true},
		{"PromQL features only", []string{"--config.file", "promql.yml"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			queries.Store(0)
			args := append([]string{"train", "--source", "prometheus", "--prometheus.url", prom.URL, "--history", "1h", "--out", "m.omen"}, tc.args...)
			rc, _, errs := omen(t, args...)
			if tc.refused != "" {
				if rc != 1 || !strings.HasPrefix(errs, tc.refused) || strings.Count(errs, "\n") != 1 || queries.Load() != 0 {
					t.Errorf("train = %d after %d queries, stderr %q; want 1, no query and only %q…", rc, queries.Load(), errs, tc.refused)
				}
			} else if rc != 1 || queries.Load() == 0 || !strings.Contains(errs, "500") {
				// Trained on: the server's error.
				t.Errorf("train = %d after %d queries, stderr %q; want the queries sent and their error", rc, queries.Load(), errs)
			}
			if got := strings.Contains(errs, warning); got != tc.warn {
				t.Errorf("stderr %q: warning %v, want %v", errs, got, tc.warn)
			}
			if tc.warn && !strings.Contains(errs, fmt.Sprintf("Prometheus does not serve: the model is of the %d PromQL features only, and a daemon running the built-in features will not load it; train on the daemon's own history instead (--source store --url)",
				len(config.Default().Features))) {
				t.Errorf("stderr %q: the warning does not say what it means and what to do", errs)
			}
			if _, err := os.Stat("m.omen"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a model file was written (%v)", err)
			}
		})
	}
}
