package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// writeHistoryStep is writeHistory at step, with the schema recorded at
// it (PutSchemaStep), as a daemon at that step stores it.
func writeHistoryStep(t *testing.T, dir string, step time.Duration) {
	t.Helper()
	cfg := config.Default()
	names, labels := features.Names(cfg.Config), cfg.LabelNames()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger")})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSchemaStep(names, labels, step); err != nil {
		t.Fatal(err)
	}
	ms := step.Milliseconds()
	end := time.Now().UnixMilli() / ms * ms
	n := int((100 * time.Minute).Milliseconds() / ms)
	var vs []store.Vector
	for p := range 3 {
		id := fmt.Sprintf("shop/pod-%d", p)
		for i := range n {
			v := store.Vector{Entity: id, T: end - int64(n-i)*ms, Values: make([]float64, len(names)), Failure: make([]bool, len(labels))}
			for j := range v.Values {
				v.Values[j] = math.Sin(float64(i+j+p)/7) + float64(j)
			}
			v.Failure[0] = p == 0 && i%97 > 90
			vs = append(vs, v)
		}
		if err := st.PutEntity(id, map[string]string{"namespace": "shop", "pod": fmt.Sprintf("pod-%d", p)}, end-int64(n)*ms); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutVectors(vs); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTrainOfflineRecordedStep: offline omen train on the store takes the
// step its schema records (a daemon at 30s: the model is trained at 30s
// and promoted), as --url takes the daemon's; it took the built-in 15s,
// which omen model promote then refused. A --config.file of another step
// is refused before training.
func TestTrainOfflineRecordedStep(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := t.TempDir()
	writeHistoryStep(t, dir, 30*time.Second)
	train := func(extra ...string) (int, string, string) {
		return omen(t, append([]string{"train", "--source", "store", "--storage.path", dir, "--history", "2h", "--window", "4",
			"--horizon", "2", "--hidden", "4", "--epochs", "1", "--out", "m.omen"}, extra...)...)
	}
	rc, out, errs := train("--promote")
	if rc != 0 || !strings.Contains(out, "promoted ") ||
		!strings.Contains(errs, "omen train: the step the store records (the daemon's last), 30s, applies; the alert rule the threshold is chosen for is the built-in one (the store does not record alerting.for, resolve_ratio, resolve_for or min_lead") {
		t.Fatalf("train --promote = %d\nstdout %s\nstderr %s", rc, out, errs)
	}
	data, err := os.ReadFile("m.omen")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Config().Step; got != 30*time.Second {
		t.Errorf("model trained at %v, want the recorded 30s", got)
	}
	// A configuration of the same step trains; of another one is refused.
	for _, tc := range []struct {
		yml  string
		rc   int
		want string
	}{
		{"step: 30s\n", 0, ""},
		{"step: 15s\n", 1, "omen train: the store's history is at a step of 30s (the daemon's last, which its schema records), not the 15s of c.yml: " +
			"a model trained at 15s would not fit the daemon (omen model promote refuses it): give --config.file the configuration the daemon runs with, or none (the recorded step applies)\n"},
	} {
		if err := os.WriteFile("c.yml", []byte(tc.yml), 0o600); err != nil {
			t.Fatal(err)
		}
		rc, out, errs := train("--config.file", "c.yml")
		if rc != tc.rc || tc.want != "" && errs != tc.want || strings.Contains(errs, "the step the store records") {
			t.Errorf("%q: train = %d\nstdout %s\nstderr %s\nwant %d, %q", tc.yml, rc, out, errs, tc.rc, tc.want)
		}
	}
}

// TestTrainNoFailureWarns: a model trained without failures (CSV files
// without a label column) says that its failure head never alerts, and
// its validation scores are n/a (they printed 0.000); omen model add
// --promote and promote warn too, offline and through a daemon, and say
// nothing of a model that can alert.
func TestTrainNoFailureWarns(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("csv", 0o700); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("t,m1,m2\n")
	for i := range 300 {
		fmt.Fprintf(&b, "%d,%g,%g\n", i, math.Sin(float64(i)/5), math.Cos(float64(i)/7))
	}
	if err := os.WriteFile("csv/e.train.csv", []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	rc, out, errs := omen(t, "train", "--source", "csv", "--dir", "csv", "--hidden", "2", "--epochs", "1", "--out", "m.omen")
	const consequence = "a daemon running it raises no alert (omen alerts on the failure probability only; the anomaly score is exported as omen_anomaly_score, not alerted on) and, once it is active, resolves the alerts firing\n"
	if rc != 0 || !strings.Contains(out, "validation windows (one prediction each): AUC-PR n/a, F1 n/a; threshold 1.000") ||
		!strings.Contains(errs, "omen train: warning: the training history holds no failure: no file read has a label column with a 1 in it; the model's failure threshold is 1, so its failure head never alerts: "+consequence) {
		t.Fatalf("train = %d\nstdout %s\nstderr %s", rc, out, errs)
	}
	warning := func(cmd, version string) string {
		return fmt.Sprintf("%s: warning: model %q has a failure threshold of 1 (failure: disabled (no failure in the training history)): its failure head never alerts: %s", cmd, version, consequence)
	}

	// Offline: a CSV model does not fit a daemon's features: a store
	// without a schema checks nothing (add warns about the defaults).
	dir := emptyStore(t, t.TempDir())
	rc, out, errs = omen(t, "model", "add", "m.omen", "--version", "quiet", "--promote", "--storage.path", dir)
	if rc != 0 || !strings.Contains(errs, warning("omen model add m.omen", "quiet")) {
		t.Fatalf("model add --promote = %d\nstdout %s\nstderr %s", rc, out, errs)
	}
	names := features.Names(config.Default().Config)
	alerting := writeModelFile(t, names, "alerting")
	for _, tc := range []struct {
		args []string
		want string // in stderr; "": no warning
	}{
		{[]string{"model", "add", alerting, "--promote"}, ""},
		{[]string{"model", "promote", "quiet"}, warning("omen model promote", "quiet")},
		{[]string{"model", "rollback"}, ""},
	} {
		rc, out, errs := omen(t, append(tc.args, "--storage.path", dir)...)
		if rc != 0 || tc.want == "" && strings.Contains(errs, "never alerts") || !strings.Contains(errs, tc.want) {
			t.Errorf("%q = %d\nstdout %s\nstderr %s\nwant %q", tc.args, rc, out, errs, tc.want)
		}
	}

	// Through a daemon: a model of its features without failures.
	m, err := model.New(model.Config{Features: names, Window: 4, Hidden: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m.SetMeta(model.Meta{Version: "quiet"})
	m.SetThresholds(model.Thresholds{Failure: 1, Method: "failure: disabled (no failure in the training history); anomaly: POT"})
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("quiet.omen", data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, url := startDaemon(t, t.TempDir())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"model", "add", "quiet.omen", "--promote"}, warning("omen model add quiet.omen", "quiet")},
		{[]string{"model", "add", alerting, "--promote"}, ""},
		{[]string{"model", "promote", "quiet"}, warning("omen model promote", "quiet")},
	} {
		rc, out, errs := omen(t, append(tc.args, "--url", url)...)
		if rc != 0 || tc.want == "" && strings.Contains(errs, "never alerts") || !strings.Contains(errs, tc.want) {
			t.Errorf("--url %q = %d\nstdout %s\nstderr %s\nwant %q", tc.args, rc, out, errs, tc.want)
		}
	}
}

// TestTrainFailuresOnlyInValidation: a history whose failures are all in
// the validation part says so; it said that no file had a label column
// with a 1 in it (reviewer's finding).
func TestTrainFailuresOnlyInValidation(t *testing.T) {
	t.Chdir(t.TempDir())
	var b strings.Builder
	b.WriteString("t,a,b,label\n")
	for i := range 400 {
		label := 0
		if i >= 360 && i < 370 {
			label = 1
		}
		fmt.Fprintf(&b, "%d,%g,%g,%d\n", i, math.Sin(float64(i)/5), math.Cos(float64(i)/7), label)
	}
	if err := os.WriteFile("e1.csv", []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	rc, out, errs := omen(t, "train", "--source", "csv", "--dir", "e1.csv", "--hidden", "2", "--epochs", "1", "--out", "m.omen")
	want := "omen train: warning: the training part of the history holds no failure (its "
	if rc != 0 || !strings.Contains(errs, want) || !strings.Contains(errs, "failure windows are all in the validation part, the last 20 % of the history, one cut time for every entity held out); the model's failure threshold is 1") ||
		strings.Contains(errs, "no file read has a label column") {
		t.Fatalf("train = %d\nstdout %s\nstderr %s", rc, out, errs)
	}
}

// TestTrainPrometheusRegisterRecordedStep: omen train --source prometheus
// --register into an offline store trains at the step the store records
// (the daemon's last), and refuses a configuration of another step before
// querying anything. It trained at the configuration's step and
// registered a model the daemon and omen model promote refuse.
func TestTrainPrometheusRegisterRecordedStep(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := t.TempDir()
	writeHistoryStep(t, dir, 30*time.Second)
	// Nothing listens there: a query is an error, the check comes before.
	closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	train := func(extra ...string) (int, string, string) {
		return omen(t, append([]string{"train", "--source", "prometheus", "--prometheus.url", closed, "--storage.path", dir, "--history", "2h", "--window", "4",
			"--horizon", "2", "--hidden", "4", "--epochs", "1", "--out", "m.omen"}, extra...)...)
	}
	// PromQL features only: the built-in event features are refused
	// before any query (TestTrainPrometheusEventFeatures).
	if err := os.WriteFile("c.yml", []byte("step: 15s\nfeatures:\n  - {name: up, expr: 'sum by (namespace, pod) (up)'}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, reg := range []string{"--register", "--promote"} {
		rc, _, errs := train(reg, "--config.file", "c.yml")
		if want := "omen train: the store's history is at a step of 30s (the daemon's last, which its schema records), not the 15s of c.yml: "; rc != 1 || !strings.HasPrefix(errs, want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%s with a 15s configuration: train = %d, stderr %q; want 1 and only %q…", reg, rc, errs, want)
		}
	}
	rc, _, errs := train("--register")
	if rc != 1 || !strings.HasPrefix(errs, "omen train: the step the store records (the daemon's last), 30s, applies") {
		t.Errorf("--register without a configuration: train = %d, stderr %q; want the recorded step applied (then the query fails)", rc, errs)
	}
	// Without --register the store is not read.
	if rc, _, errs := train("--config.file", "c.yml"); rc != 1 || strings.Contains(errs, "store") {
		t.Errorf("without --register: train = %d, stderr %q; want the query's error only", rc, errs)
	}
}

// TestTrainPrometheusNoSeries: a real Prometheus without the built-in
// features' Kubernetes metrics: the error names the queries and says the
// built-in features were used (it said only "the source returned no
// series").
func TestTrainPrometheusNoSeries(t *testing.T) {
	t.Chdir(t.TempDir())
	prom := testenv.Prometheus(t, "")
	rc, _, errs := omen(t, "train", "--source", "prometheus", "--prometheus.url", prom, "--history", "1h", "--out", "m.omen")
	if !strings.Contains(errs, "omen train: load training history: prometheus source: no feature query returned a sample between ") ||
		!strings.Contains(errs, "these are the built-in features, of Kubernetes metrics") || rc != 1 {
		t.Fatalf("train = %d, stderr %q", rc, errs)
	}
	if _, err := os.Stat("m.omen"); !os.IsNotExist(err) {
		t.Errorf("a model file was written: %v", err)
	}
}

// TestTrainFailuresUnderWayWarns: a history whose failures are already
// under way at its first step (or start before a window can end) has no
// window that precedes an onset, so the failure head is disabled; the
// warning says the history holds failures, and why none teaches it. It
// said that no file had a label column with a 1 in it.
func TestTrainFailuresUnderWayWarns(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		name     string
		from, to int // the failing steps
		want     string
	}{
		{"under way at the first step", 0, 20,
			"omen train: warning: the history holds failures (20 failing steps) but none starts inside it: each is already under way at its series' first step, and the failure head learns from the windows that end before a failure's onset; the model's failure threshold is 1"},
		{"starting before the first window ends", 3, 13,
			"omen train: warning: the history holds failures (10 failing steps, 1 onset) but no window ends within the horizon before an onset: each failure is under way at its series' first step or starts too early in it (or in its validation part) for a window of 8 steps to end before it; the model's failure threshold is 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("t,a,b,label\n")
			for i := range 400 {
				label := 0
				if i >= tc.from && i < tc.to {
					label = 1
				}
				fmt.Fprintf(&b, "%d,%g,%g,%d\n", i, math.Sin(float64(i)/5), math.Cos(float64(i)/7), label)
			}
			file := strings.ReplaceAll(tc.name, " ", "-") + ".csv"
			if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			rc, out, errs := omen(t, "train", "--source", "csv", "--dir", file, "--window", "8", "--hidden", "2", "--epochs", "1", "--out", "m.omen")
			if rc != 0 || !strings.Contains(errs, tc.want) || strings.Contains(errs, "no file read has a label column") {
				t.Fatalf("train = %d\nstdout %s\nstderr %s\nwant %q", rc, out, errs, tc.want)
			}
		})
	}
}
