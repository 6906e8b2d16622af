package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
)

// TestTrainPrometheusDaemonFeatures: omen train --source prometheus --url
// checks the PromQL features against those the daemon runs (its schema)
// before any Prometheus query, and refuses a mismatch naming the missing
// and unexpected features (the event features the daemon runs, which
// Prometheus does not serve, as such); features that fit go on to query.
// It trained first and only then met the daemon's 422 at the
// registration. The daemon is a fake serving its schema; Prometheus
// counts its requests.
func TestTrainPrometheusDaemonFeatures(t *testing.T) {
	t.Chdir(t.TempDir())
	prom, queries := failingPrometheus(t)
	daemon := func(t *testing.T, names []string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != api.HistorySchemaPath {
				http.NotFound(w, r)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{
				"features": names, "labels": []string{"crash"}, "step_ms": 15000,
				"settings": api.HistorySettings{StepMs: 15000, AlertFor: 2, AlertResolveRatio: 0.8, AlertResolveFor: 1, PresenceFeatures: []string{}},
			}})
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	const expr = "'sum by (namespace, pod) (up)'"
	for name, yml := range map[string]string{
		"ab.yml":    "features:\n  - {name: a, expr: " + expr + "}\n  - {name: b, expr: " + expr + "}\n",
		"ba.yml":    "features:\n  - {name: b, expr: " + expr + "}\n  - {name: a, expr: " + expr + "}\n",
		"abe.yml":   "features:\n  - {name: a, expr: " + expr + "}\n  - {name: b, expr: " + expr + "}\nevent_features:\n  - {name: events_x, reasons: [BackOff], window: 5m}\n",
		"abxev.yml": "features:\n  - {name: a, expr: " + expr + "}\n  - {name: x, expr: " + expr + "}\nevent_features:\n  - {name: events_x, reasons: [BackOff], window: 5m}\n",
	} {
		if err := os.WriteFile(name, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	def := config.Default()
	defNames := features.Names(def.Config)
	const configHint = "; give --config.file the configuration the daemon runs with\n"
	for _, tc := range []struct {
		name    string
		config  string   // --config.file; "": the built-in configuration
		daemon  []string // the features the daemon runs
		want    []string // in stderr; nil: no refusal, Prometheus queried
		noQuery bool
	}{
		{name: "fits", config: "ab.yml", daemon: []string{"a", "b"}},
		{"unexpected", "ab.yml", []string{"a"}, []string{`the PromQL features of ab.yml are not those the daemon at URL runs: unexpected "b" (not the daemon's): it would refuse the model (nothing queried, nothing trained)` + configHint}, true},
		{"missing and unexpected", "ab.yml", []string{"a", "c", "d"}, []string{`: missing "c", "d" (the daemon's, not PromQL features here), unexpected "b" (not the daemon's): it would refuse`, configHint}, true},
		{"order", "ba.yml", []string{"a", "b"}, []string{`the PromQL features of ba.yml are not those the daemon at URL runs: in another order (the daemon's: "a", "b"): it would refuse`, configHint}, true},
		// The built-in configuration against a daemon running it: its
		// event features are not Prometheus's.
		{"built-in event features", "", defNames, []string{`the PromQL features of the built-in configuration are not those the daemon at URL runs: missing "events_backoff", `,
			`: event features (Kubernetes events), which Prometheus does not serve: train on the daemon's own history instead (--source store --url)` + "\n"}, true},
		{"event features", "abe.yml", []string{"a", "b", "events_x"}, []string{`missing "events_x" (the daemon's, not PromQL features here): it would refuse the model (nothing queried, nothing trained); "events_x": event features (Kubernetes events), which Prometheus does not serve: train on the daemon's own history instead (--source store --url)` + "\n"}, true},
		{"event features and another", "abxev.yml", []string{"a", "b", "events_x"}, []string{`missing "b", "events_x" (the daemon's, not PromQL features here), unexpected "x" (not the daemon's)`, `"events_x": event features`, configHint}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			queries.Store(0)
			url := daemon(t, tc.daemon)
			args := []string{"train", "--source", "prometheus", "--prometheus.url", prom.URL, "--url", url, "--history", "1h", "--promote", "--out", "m.omen"}
			if tc.config != "" {
				args = append(args, "--config.file", tc.config)
			}
			rc, _, errs := omen(t, args...)
			if !tc.noQuery {
				if rc != 1 || queries.Load() == 0 || strings.Contains(errs, "are not those the daemon") {
					t.Fatalf("train = %d, %d queries, stderr %q; want the features to fit and Prometheus queried", rc, queries.Load(), errs)
				}
				return
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "URL", url); rc != 1 || !strings.Contains(errs, w) {
					t.Errorf("train = %d, stderr %q; want 1 with %q", rc, errs, w)
				}
			}
			if n := queries.Load(); n != 0 {
				t.Errorf("%d Prometheus requests, want none (refused first)", n)
			}
			if _, err := os.Stat(filepath.Join("m.omen")); err == nil {
				t.Errorf("model file written")
			}
		})
	}
}

// failingPrometheus is a Prometheus that answers every request 500 and
// counts them: a command that must not query it, or whose query must
// fail, runs against its URL.
func failingPrometheus(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var queries atomic.Int64
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		queries.Add(1)
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	t.Cleanup(prom.Close)
	return prom, &queries
}
