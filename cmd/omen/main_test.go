package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		args []string
		rc   int
		out  string
	}{
		{[]string{"version"}, 0, "omen, version"},
		{[]string{"check", "config", "testdata/good.yml"}, 0, "SUCCESS: 1 features, 1 event features, 1 failure labels"},
		{[]string{"check", "config", "testdata/bad.yml"}, 1, "testdata/bad.yml:3:11: feature \"broken\""},
		{[]string{"check", "config", "testdata/missing.yml"}, 1, "FAILED"},
		{[]string{"check"}, 2, ""},
		{[]string{"nonsense"}, 2, ""},
		{[]string{"eval", "nope"}, 2, ""},
		{[]string{"bench", "nope"}, 2, ""},
		{[]string{"run", "--no-such-flag"}, 2, ""},
	} {
		var out, errb bytes.Buffer
		rc := dispatch(tc.args, &out, &errb)
		if rc != tc.rc || !strings.Contains(out.String(), tc.out) {
			t.Errorf("omen %v = %d, stdout %q stderr %q; want %d with %q", tc.args, rc, out.String(), errb.String(), tc.rc, tc.out)
		}
	}
}

// `omen eval` end to end on a few thousand rows of one SMD machine, with
// each ranker (the CI smoke run of the command).
func TestEvalCommandSmoke(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "datasets", "smd")
	if _, err := os.Stat(dir); err != nil {
		dir = "/work/shared/datasets/smd"
	}
	for _, ranker := range []string{"residual", "shap"} {
		out := filepath.Join(t.TempDir(), "r.json")
		var stdout, stderr bytes.Buffer
		rc := dispatch([]string{"eval", "smd", "--dir", dir, "--entities", "machine-1-6", "--max-rows", "3000",
			"--epochs", "1", "--window", "8", "--hidden", "8", "--ranker", ranker, "--json", out}, &stdout, &stderr)
		if rc != 0 {
			t.Fatalf("--ranker %s: exit %d, stderr %s", ranker, rc, stderr.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Mean struct {
				HitRate150  float64 `json:"hitrate_150"`
				Interpreted int     `json:"interpreted_points"`
			} `json:"mean"`
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Mean.Interpreted == 0 || rep.Mean.HitRate150 <= 0 {
			t.Errorf("--ranker %s: report mean %+v", ranker, rep.Mean)
		}
	}
	var stdout, stderr bytes.Buffer
	if rc := dispatch([]string{"eval", "smd", "--dir", dir, "--ranker", "nope"}, &stdout, &stderr); rc != 2 {
		t.Errorf("--ranker nope: exit %d", rc)
	}
}
