package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An entity whose test file has no anomalous rows prints n/a for the
// detection figures and is left out of the mean, which the JSON says
// averages 1 entity: the mean F1-PA was halved by its 0 (reviewer's
// finding). A test file with only a header is an error naming it.
func TestEvalMeanWithoutAnomalies(t *testing.T) {
	dir := t.TempDir()
	writeSyntheticSMD(t, dir)
	var stdout, stderr bytes.Buffer
	rc := dispatch([]string{"eval", "smd", "--dir", dir, "--epochs", "1", "--window", "4", "--hidden", "2", "--json", "-"}, &stdout, &stderr)
	if rc != 0 {
		t.Fatalf("exit %d, stderr %s", rc, stderr.String())
	}
	var rep struct {
		Entities []struct {
			Entity string  `json:"entity"`
			F1PA   float64 `json:"f1_pa"`
			AUCPR  float64 `json:"auc_pr"`
		} `json:"entities"`
		Mean struct {
			F1PA  float64 `json:"f1_pa"`
			AUCPR float64 `json:"auc_pr"`
		} `json:"mean"`
		MeanEntities int `json:"mean_entities"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Entities) != 2 || rep.Entities[0].F1PA == 0 {
		t.Fatalf("report %+v: want e1 detected", rep)
	}
	if rep.MeanEntities != 1 || rep.Mean.F1PA != rep.Entities[0].F1PA || rep.Mean.AUCPR != rep.Entities[0].AUCPR {
		t.Errorf("mean %+v over %d entities, want e1's figures over 1", rep.Mean, rep.MeanEntities)
	}
	e1, e2, mean := rowOf(stderr.String(), "e1"), rowOf(stderr.String(), "e2"), rowOf(stderr.String(), "mean")
	if strings.Count(e2, "n/a") != 10 {
		t.Errorf("e2 row %q: want n/a for the 4 detection and 6 ranking columns", e2)
	}
	if e1 == "" || mean == "" || strings.Fields(mean)[1] != strings.Fields(e1)[1] {
		t.Errorf("mean row %q: want e1's F1-PA (row %q)", mean, e1)
	}
	if !strings.Contains(stderr.String(), "left out of the mean, which averages 1 of 2 entities") {
		t.Errorf("stderr %q: want the warning to say the mean averages 1 of 2 entities", stderr.String())
	}

	if err := os.WriteFile(filepath.Join(dir, "e2.test.csv"), []byte("t,m1,m2,label\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	rc = dispatch([]string{"eval", "smd", "--dir", dir, "--entities", "e2", "--epochs", "1", "--window", "4", "--hidden", "2"}, &stdout, &stderr)
	if want := filepath.Join(dir, "e2.test.csv") + ": no data rows"; rc != 1 || !strings.Contains(stderr.String(), want) {
		t.Errorf("header-only test file: exit %d, stderr %q; want 1 with %q", rc, stderr.String(), want)
	}
}

// rowOf returns the table row (12 columns) of entity name in out.
func rowOf(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 12 && f[0] == name {
			return l
		}
	}
	return ""
}

// An entity with a training file but no test file is named: a warning
// when every entity is evaluated, and the --entities error says the test
// file is missing (it said only "no entity", found 1) (reviewer's
// finding).
func TestEvalTrainWithoutTest(t *testing.T) {
	dir := t.TempDir()
	writeSyntheticSMD(t, dir)
	if err := os.Remove(filepath.Join(dir, "e2.test.csv")); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	rc := dispatch([]string{"eval", "smd", "--dir", dir, "--epochs", "1", "--window", "4", "--hidden", "2"}, &stdout, &stderr)
	if want := "warning: training file without a test file: entity skipped (entity=e2, missing=\"e2.test.csv.gz (or .csv)\")"; rc != 0 || !strings.Contains(stderr.String(), want) {
		t.Errorf("exit %d, stderr %q; want 0 with %q", rc, stderr.String(), want)
	}
	stderr.Reset()
	rc = dispatch([]string{"eval", "smd", "--dir", dir, "--entities", "e2"}, &stdout, &stderr)
	if want := `--entities: no test file for ["e2"] in ` + dir + " (e2.test.csv[.gz] is missing"; rc != 2 || !strings.Contains(stderr.String(), want) {
		t.Errorf("--entities e2: exit %d, stderr %q; want 2 with %q", rc, stderr.String(), want)
	}
}
