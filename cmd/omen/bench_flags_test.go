package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBenchConfigFile: omen bench ingest takes --config.file, as every
// other command (it refused it: "flag provided but not defined"), and
// keeps --config as its alias. A missing file is read, and fails, under
// either name.
func TestBenchConfigFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nosuch.yml")
	for _, flagName := range []string{"--config.file", "--config"} {
		var out, errb bytes.Buffer
		rc := dispatch([]string{"bench", "ingest", flagName, missing}, &out, &errb)
		if rc != 1 || !strings.Contains(errb.String(), missing) || strings.Contains(errb.String(), "not defined") {
			t.Errorf("bench ingest %s %s: exit %d, stderr %q; want 1 reading the file", flagName, missing, rc, errb.String())
		}
	}
}

// TestBenchJSONFalse: omen bench --json=false prints the result's fields
// a line each ("field  value"), not JSON (it printed JSON all the same);
// --json, the default, prints one JSON object.
func TestBenchJSONFalse(t *testing.T) {
	args := []string{"bench", "lstm", "--features", "2", "--hidden", "2", "--window", "2", "--batch", "2", "--threads", "1", "--seconds", "0.01"}
	var out, errb bytes.Buffer
	if rc := dispatch(args, &out, &errb); rc != 0 {
		t.Fatalf("%q: exit %d, stderr %s", args, rc, errb.String())
	}
	var obj map[string]any
	if err := json.Unmarshal(out.Bytes(), &obj); err != nil || obj["peer"] != "omen" {
		t.Errorf("%q: %v, stdout %q; want a JSON object", args, err, out.String())
	}
	out.Reset()
	if rc := dispatch(append(args, "--json=false"), &out, &errb); rc != 0 {
		t.Fatalf("--json=false: exit %d, stderr %s", rc, errb.String())
	}
	for _, re := range []string{`(?m)^peer +omen$`, `(?m)^features +2$`, `(?m)^hidden +2$`, `(?m)^train_windows_per_s +[0-9.e+-]+$`} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("--json=false: stdout lacks %s:\n%s", re, out.String())
		}
	}
	if strings.Contains(out.String(), "{") {
		t.Errorf("--json=false: stdout has JSON:\n%s", out.String())
	}
}

// TestFieldValue: the values of --json=false.
func TestFieldValue(t *testing.T) {
	for in, want := range map[string]string{`"omen"`: "omen", `2`: "2", `1.0668992851808385`: "1.0669", `749688.5962745936`: "749689",
		`1.9450629572169722e-16`: "1.94506e-16", `[1,2]`: "[1,2]", `true`: "true"} {
		if got := fieldValue(json.RawMessage(in)); got != want {
			t.Errorf("fieldValue(%s) = %q, want %q", in, got, want)
		}
	}
	var b bytes.Buffer
	if err := writeFields(&b, json.RawMessage(`{"a":1,"n":{"x":"y","z":[1]},"b":0.5}`)); err != nil {
		t.Fatal(err)
	}
	if want := "a    1\nn.x  y\nn.z  [1]\nb    0.5\n"; b.String() != want {
		t.Errorf("writeFields: %q, want %q", b.String(), want)
	}
}

// TestMembersHelp: the --members help of omen train and omen eval sim
// says what 0 and 1 mean in plain words; it read "(an ensemble; 0: the
// default) (default 1)" and "(…; 0: the default) (default 3)".
func TestMembersHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--help"}, "1 a single network, more an ensemble (0 counts as 1) (default 1)"},
		{[]string{"eval", "sim", "--help"}, "1 a single network, more an ensemble (0 counts as 3) (default 3)"},
	} {
		var out, errb bytes.Buffer
		dispatch(tc.args, &out, &errb)
		help := errb.String() + out.String()
		if !strings.Contains(help, tc.want) {
			t.Errorf("%q: help lacks %q:\n%s", tc.args, tc.want, help)
		}
		if i := strings.Index(help, "-members"); i < 0 || strings.Contains(help[i:min(len(help), i+200)], "0: the default") {
			t.Errorf("%q: --members help still says \"0: the default\"", tc.args)
		}
	}
}
