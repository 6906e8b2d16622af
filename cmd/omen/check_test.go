package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestCheckFlags: omen check config takes no flag but --remote-write-keep:
// another word starting with "-" is a usage error (exit 2) naming it, not
// a file that fails to load, and nothing is checked; after "--" it is a
// file name.
func TestCheckFlags(t *testing.T) {
	good, err := os.ReadFile("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	if err := os.WriteFile("-c.yml", good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("c.yml", good, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args      []string
		rc        int
		out, errs string
	}{
		{[]string{"check", "config", "--config.file", "c.yml"}, 2, "", "-config.file"},
		{[]string{"check", "config", "c.yml", "-x"}, 2, "", "-x"},
		{[]string{"check", "config", "-c.yml"}, 2, "", "-c.yml"},
		{[]string{"check", "config", "--", "-c.yml"}, 0, "Checking -c.yml\n  SUCCESS", ""},
		{[]string{"check", "config", "c.yml", "--", "-c.yml"}, 0, "Checking c.yml\n  SUCCESS: 1 features, 1 event features, 1 failure labels, entity labels [namespace pod]\nChecking -c.yml\n  SUCCESS", ""},
		{[]string{"check", "config", "--", "-nope.yml"}, 1, "Checking -nope.yml\n  FAILED", ""},
		{[]string{"check", "config"}, 2, "", "omen check config: missing the FILE to check\nsee omen check config --help"},
		{[]string{"check", "config", "--"}, 2, "", "omen check config: missing the FILE to check\nsee omen check config --help"},
		{[]string{"check", "config", "help"}, 0, "usage: omen check config [--remote-write-keep] FILE...", ""},
		{[]string{"check", "config", "-h"}, 0, "usage: omen check config [--remote-write-keep] FILE...", ""},
		{[]string{"check", "--help"}, 0, "  -remote-write-keep\n", ""},
	} {
		var out, errb bytes.Buffer
		rc := dispatch(tc.args, &out, &errb)
		if rc != tc.rc || !strings.Contains(out.String(), tc.out) || !strings.Contains(errb.String(), tc.errs) ||
			tc.rc == 2 && out.Len() > 0 {
			t.Errorf("omen %q = %d, stdout %q stderr %q; want %d with stdout %q, stderr %q", tc.args, rc, out.String(), errb.String(), tc.rc, tc.out, tc.errs)
		}
	}
}

// TestCheckPollersWithoutQueries: a file that omen run would refuse (its
// Prometheus pollers have no PromQL feature to poll) fails the check too.
func TestCheckPollersWithoutQueries(t *testing.T) {
	t.Chdir(t.TempDir())
	const yml = "prometheus:\n  - url: http://127.0.0.1:9090\nevent_features:\n  - name: e\n    reasons: [BackOff]\n    window: 5m\n"
	if err := os.WriteFile("p.yml", []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	rc := dispatch([]string{"check", "config", "p.yml"}, &out, &errb)
	if want := "no feature has a PromQL expression for the Prometheus pollers to poll"; rc != 1 || !strings.Contains(out.String(), want) {
		t.Errorf("omen check config = %d, stdout %q; want 1 with %q", rc, out.String(), want)
	}
}
