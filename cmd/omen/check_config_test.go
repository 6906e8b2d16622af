package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omen-sre/omen/model"
)

// checkFile writes yml to name (in the working directory) and runs omen
// check config on it.
func checkFile(t *testing.T, name, yml string) (rc int, stdout string) {
	t.Helper()
	if dir := filepath.Dir(name); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(name, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	rc = dispatch([]string{"check", "config", name}, &out, &errb)
	if errb.Len() > 0 {
		t.Errorf("omen check config %s: stderr %q", name, errb.String())
	}
	return rc, out.String()
}

// goodYML is testdata/good.yml: features restarts_10m and failed_mount
// (an event feature counting FailedMount), failure label crashloop.
func goodYML(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCheckRemediationCauses: a remediation cause that matches no cause
// omen can produce with the configuration (the README's example had
// cpu_throttle_ratio for the feature cpu_throttled_ratio, so its action
// was silently never chosen) is a warning naming it — the check still
// succeeds, exit 0 — and a cause or action the alert pipeline refuses
// (omen run would not start) fails the check.
func TestCheckRemediationCauses(t *testing.T) {
	good := goodYML(t)
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		name      string
		yml       string // "" = good.yml
		causes    string // the remediations' list items
		rc        int
		want      []string // in stdout
		noWarning bool
	}{
		// The shipped features (no features in the file).
		{name: "README typo", yml: "entity_labels: [namespace, pod]\n", causes: "{cause: cpu_throttle_ratio, action: a}",
			want: []string{"SUCCESS", `WARNING: alerting.remediations[0].cause "cpu_throttle_ratio" matches no feature`, `did you mean "cpu_throttled_ratio"`}},
		{name: "README fixed", yml: "entity_labels: [namespace, pod]\n", causes: "{cause: cpu_throttled_ratio, action: a}", want: []string{"SUCCESS"}, noWarning: true},
		{name: "nothing", causes: "{cause: nosuchfeature, action: a}",
			want: []string{"SUCCESS", `WARNING: alerting.remediations[0].cause "nosuchfeature" matches no feature`}},
		{name: "second of two", causes: "{cause: restarts_10m, action: a}, {cause: nosuchfeature, action: b}",
			want: []string{"SUCCESS", `remediations[1].cause "nosuchfeature"`}},
		{name: "exact, other case", causes: "{cause: Restarts_10M, action: a}", want: []string{"SUCCESS"}, noWarning: true},
		{name: "glob", causes: "{cause: '*mount*', action: a}", want: []string{"SUCCESS"}, noWarning: true},
		{name: "glob matching nothing", causes: "{cause: '*cpu*', action: a}", want: []string{"SUCCESS", `"*cpu*" matches no feature`}},
		// Kinds match by equality only (alert.Remediation): a glob
		// matching a kind's name matches no cause.
		{name: "glob of a kind", causes: "{cause: 'metric*', action: a}, {cause: '?????', action: b}",
			want: []string{"SUCCESS", `remediations[0].cause "metric*" matches no feature`, `remediations[1].cause "?????" matches no feature`}},
		{name: "kind", causes: "{cause: Dependency, action: a}, {cause: event, action: b}, {cause: metric, action: c}", want: []string{"SUCCESS"}, noWarning: true},
		{name: "dependency graph", yml: good + "dependencies: [{source: frontend, target: checkout}]\n",
			causes: "{cause: checkout, action: a}", want: []string{"SUCCESS"}, noWarning: true},
		{name: "event reason", causes: "{cause: FailedMount, action: a}",
			want: []string{"SUCCESS", `"FailedMount" matches no feature`, `event feature "failed_mount" counts FailedMount`}},
		{name: "failure label", causes: "{cause: crashloop, action: a}",
			want: []string{"SUCCESS", `"crashloop" is a failure label, not a cause`}},
		// Refused by the alert pipeline: omen run would not start. At
		// their line and column (the pattern's; a missing key's entry),
		// as every other error of the file.
		{name: "bad pattern", causes: "{cause: '[', action: a}", rc: 1,
			want: []string{"FAILED", `c.yml:15:26: alerting.remediations[0]: cause pattern "[": syntax error in pattern`}},
		{name: "no action", causes: "{cause: restarts_10m}", rc: 1,
			want: []string{"FAILED", "c.yml:15:18: alerting.remediations[0]: cause and action are required"}},
		{name: "two refused, one a line", causes: "{cause: restarts_10m}, {cause: '[', action: b}", rc: 1,
			want: []string{"FAILED:\n    c.yml:15:18: alerting.remediations[0]: cause and action are required\n    c.yml:15:49: alerting.remediations[1]: cause pattern \"[\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yml := tc.yml
			if yml == "" {
				yml = good
			}
			rc, out := checkFile(t, "c.yml", yml+"alerting:\n  remediations: ["+tc.causes+"]\n")
			if rc != tc.rc {
				t.Errorf("exit %d, want %d; stdout:\n%s", rc, tc.rc, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tc.noWarning && strings.Contains(out, "WARNING") {
				t.Errorf("unexpected warning:\n%s", out)
			}
		})
	}
}

// writeCheckModel writes a model with the given features to path.
func writeCheckModel(t *testing.T, path string, names []string) {
	t.Helper()
	m, err := model.New(model.Config{Features: names, Window: 4, Hidden: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m.SetMeta(model.Meta{Version: "v1"})
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCheckModelFile: omen check config reads model.file as omen run does
// (relative to the working directory) and warns when it is missing, is
// not a model, or does not fit the configured features: run fails on such
// a file only when the registry has no active model that fits the
// features (it used to report
// SUCCESS silently; then FAILED, exit 1, refusing the README's config
// that run starts with when the registry has a model).
func TestCheckModelFile(t *testing.T) {
	good := goodYML(t)
	t.Chdir(t.TempDir())
	writeCheckModel(t, "fits.omen", []string{"restarts_10m", "failed_mount"})
	writeCheckModel(t, "other.omen", []string{"restarts_10m", "cpu"})
	if err := os.WriteFile("corrupt.omen", []byte("not a model"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	writeCheckModel(t, filepath.Join("sub", "only-in-sub.omen"), []string{"restarts_10m", "failed_mount"})
	abs, err := filepath.Abs("fits.omen")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cfgFile, modelFile string
		rc                       int
		want                     []string
	}{
		{"fits", "c.yml", "fits.omen", 0, []string{"SUCCESS"}},
		{"missing: when run fails", "c.yml", "nosuch.omen", 0, []string{"omen run refuses to start with this model.file on a store without an active model",
			"starts and does not read model.file", "omen train … --out FILE", "omen model add FILE --promote", "remove model.file to start without a model"}},
		// What run always refuses still fails, the model warning too.
		{"missing and a bad cause", "c.yml", "nosuch.omen\nalerting:\n  remediations: [{cause: '[', action: a}]", 1, []string{"FAILED", "syntax error in pattern"}},
		{"absolute", "c.yml", abs, 0, []string{"SUCCESS"}},
		{"missing", "c.yml", "nosuch.omen", 0, []string{"SUCCESS", "WARNING: model.file", `model.file: read model "nosuch.omen"`, "relative to the working directory", "no such file"}},
		{"corrupt", "c.yml", "corrupt.omen", 0, []string{"SUCCESS", "WARNING: model.file", `model.file: load model "corrupt.omen"`, "not a model file"}},
		{"other features", "c.yml", "other.omen", 0, []string{"SUCCESS", "WARNING: model.file", `model "v1" does not fit the configured features`, `the model's features missing from those in use: ["cpu"]`, `features in use the model lacks: ["failed_mount"]`}},
		// Resolved against the working directory, not the file's directory.
		{"next to the config", "sub/c.yml", "only-in-sub.omen", 0, []string{"WARNING", `read model "only-in-sub.omen"`}},
		{"from the working directory", "sub/c.yml", "sub/only-in-sub.omen", 0, []string{"SUCCESS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, out := checkFile(t, tc.cfgFile, good+"model:\n  file: "+tc.modelFile+"\n")
			if rc != tc.rc {
				t.Errorf("exit %d, want %d; stdout:\n%s", rc, tc.rc, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestCheckConnectionFiles: a file of a prometheus or alertmanager
// entry's tls_config, basic_auth or authorization that does not exist is
// a warning naming the key and the file (exit 0: the check may run where
// the files are not), which says omen run refuses it; keys given
// together that must not be fail the check.
func TestCheckConnectionFiles(t *testing.T) {
	good := goodYML(t)
	t.Chdir(t.TempDir())
	rc, out := checkFile(t, "files.yml", good+"alerting:\n  alertmanagers:\n    - url: https://am:9093\n      basic_auth: {username: omen, password_file: /nonexistent/omen-pw}\n")
	want := `WARNING: alerting.alertmanagers[0].basic_auth.password_file "/nonexistent/omen-pw": no such file or directory: omen run refuses to start with it`
	if rc != 0 || !strings.Contains(out, want) {
		t.Errorf("rc %d, output:\n%s\nwant 0 and %q", rc, out, want)
	}
	rc, out = checkFile(t, "both.yml", good+"prometheus:\n  - url: https://p:9090\n    basic_auth: {username: omen, password: pw, password_file: /nonexistent/omen-pw}\n")
	if rc != 1 || !strings.Contains(out, "prometheus[0].basic_auth has both password and password_file") {
		t.Errorf("rc %d, output:\n%s\nwant 1 and the error", rc, out)
	}
}

// TestCheckInsecureSkipVerify: a prometheus or alertmanager entry with
// tls_config.insecure_skip_verify (any server certificate accepted, meant
// for tests) is a warning naming the entry and its URL, the password
// hidden (exit 0); it passed without a word.
func TestCheckInsecureSkipVerify(t *testing.T) {
	good := goodYML(t)
	t.Chdir(t.TempDir())
	rc, out := checkFile(t, "insecure.yml", good+
		"prometheus:\n  - url: https://p:9090\n  - url: https://omen:s3cret@q:9090\n    tls_config: {insecure_skip_verify: true}\n"+
		"alerting:\n  alertmanagers:\n    - url: https://am:9093\n      tls_config: {insecure_skip_verify: true}\n")
	for _, want := range []string{
		"WARNING: prometheus[1] (https://omen:xxxxx@q:9090): tls_config.insecure_skip_verify is true: omen accepts any certificate",
		"WARNING: alerting.alertmanagers[0] (https://am:9093): tls_config.insecure_skip_verify is true",
	} {
		if rc != 0 || !strings.Contains(out, want) {
			t.Errorf("rc %d, output:\n%s\nwant 0 and %q", rc, out, want)
		}
	}
	if strings.Contains(out, "prometheus[0]") || strings.Contains(out, "s3cret") {
		t.Errorf("output names prometheus[0], which verifies, or shows the password:\n%s", out)
	}
}
