package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omen-sre/omen/training"
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

// evalJSON is the part of the eval report the tests below read.
type evalJSON struct {
	Entities []struct {
		Entity string  `json:"entity"`
		F1PA   float64 `json:"f1_pa"`
	} `json:"entities"`
	Mean struct {
		F1PA float64 `json:"f1_pa"`
	} `json:"mean"`
	MeanEntities int                    `json:"mean_entities"`
	Errors       []training.EntityError `json:"errors"`
}

// A bad file of a later entity (a test file with a column fewer than its
// training file) is an error before any entity is trained: the entities
// before it were trained, then the run ended with exit 1 and no report
// (reviewer's finding).
func TestEvalChecksFilesBeforeTraining(t *testing.T) {
	dir := t.TempDir()
	writeSyntheticSMD(t, dir)
	for f, b := range map[string]string{"zz.train.csv": "t,m1,m2\n", "zz.test.csv": "t,m1,label\n0,1,0\n"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "r.json")
	var stdout, stderr bytes.Buffer
	rc := dispatch([]string{"eval", "smd", "--dir", dir, "--epochs", "1", "--window", "4", "--hidden", "2", "--json", out}, &stdout, &stderr)
	want := `omen eval smd: entity "zz": ` + filepath.Join(dir, "zz.train.csv") + " has 2 features, " + filepath.Join(dir, "zz.test.csv") + " 1"
	if rc != 1 || !strings.Contains(stderr.String(), want) {
		t.Errorf("exit %d, stderr %q; want 1 with %q", rc, stderr.String(), want)
	}
	if strings.Contains(stderr.String(), "epoch") {
		t.Errorf("stderr %q: entities were trained before the check", stderr.String())
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("report written (%v), want none", err)
	}
}

// An entity that fails during the run does not lose the others: the table
// and the JSON hold the entities that finished, with their mean, the JSON
// lists the failure under "errors" and the exit code is 1 (the run ended at
// the failure without writing anything) (reviewer's finding).
func TestEvalEntityFailureWritesOthers(t *testing.T) {
	dir := t.TempDir()
	writeSyntheticSMD(t, dir)
	for _, e := range []string{"e1", "e2"} {
		if err := os.WriteFile(filepath.Join(dir, e+".interpretation.txt"), []byte("300-305:1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// e2's ranker fails (entities run in name order).
	run := func(ctx context.Context, o training.EvalOptions) (training.Report, error) {
		calls := 0
		o.NewRanker = func(in training.RankerInput) (training.DimensionRanker, error) {
			if calls++; calls == 2 {
				return nil, errors.New("broken ranker")
			}
			return in.Scorer.(training.DimensionRanker), nil
		}
		return training.EvalDataset(ctx, o)
	}
	var stdout, stderr bytes.Buffer
	rc := evalDataset(context.Background(), "smd", []string{"--dir", dir, "--epochs", "1", "--window", "4", "--hidden", "2", "--json", "-"}, &stdout, &stderr, run)
	if rc != 1 {
		t.Errorf("exit %d, want 1", rc)
	}
	for _, want := range []string{`omen eval smd: entity "e2": ranker: broken ranker`, "1 of 2 entities failed"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q, want %q", stderr.String(), want)
		}
	}
	var rep evalJSON
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("JSON %q: %v", stdout.String(), err)
	}
	if len(rep.Entities) != 1 || rep.Entities[0].Entity != "e1" || rep.MeanEntities != 1 || rep.Mean.F1PA != rep.Entities[0].F1PA {
		t.Errorf("report %+v, want e1 alone and its mean", rep)
	}
	if len(rep.Errors) != 1 || rep.Errors[0].Entity != "e2" || rep.Errors[0].Error != `entity "e2": ranker: broken ranker` {
		t.Errorf("errors %+v, want e2's", rep.Errors)
	}
	if rowOf(stderr.String(), "e1") == "" || rowOf(stderr.String(), "mean") == "" {
		t.Errorf("stderr %q: want the table of e1 and the mean", stderr.String())
	}
}

// A name given twice in --entities is evaluated once: it was trained twice
// and counted twice in the mean (mean_entities 2) (reviewer's finding).
func TestEvalDuplicateEntities(t *testing.T) {
	dir := t.TempDir()
	writeSyntheticSMD(t, dir)
	var stdout, stderr bytes.Buffer
	rc := dispatch([]string{"eval", "smd", "--dir", dir, "--entities", "e1, e1,e1", "--epochs", "1", "--window", "4", "--hidden", "2", "--json", "-"}, &stdout, &stderr)
	if rc != 0 {
		t.Fatalf("exit %d, stderr %s", rc, stderr.String())
	}
	var rep evalJSON
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Entities) != 1 || rep.MeanEntities != 1 {
		t.Errorf("%d entities, mean over %d; want e1 once", len(rep.Entities), rep.MeanEntities)
	}
	if n := strings.Count(stderr.String(), "e1 epoch 1/1"); n != 1 {
		t.Errorf("e1 trained %d times, want once (stderr %q)", n, stderr.String())
	}
}

// A negative --step is a usage error naming the flag (exit 2), like the
// other flags': it was exit 1 with "eval: invalid threshold options (step
// -5m0s, risk 0.001, level 0.98)" (reviewer's finding).
func TestEvalNegativeStep(t *testing.T) {
	for _, kind := range []string{"smd", "asd"} {
		var stdout, stderr bytes.Buffer
		rc := dispatch([]string{"eval", kind, "--dir", t.TempDir(), "--step", "-5m"}, &stdout, &stderr)
		if want := "omen eval " + kind + ": --step -5m0s, want the files' sampling interval"; rc != 2 || !strings.HasPrefix(stderr.String(), want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 with %q", kind, rc, stderr.String(), want)
		}
	}
}

// An entity with interpretation labels but no flagged labelled step
// prints HR-TP 0, the 0 the mean counts (training's meanReport,
// docs/EVALUATION.md); the table printed n/a, which elsewhere means "left
// out of the mean" (reviewer's finding). Without interpretation labels it
// stays n/a.
func TestEvalHitRateTPWithoutFlagged(t *testing.T) {
	run := func(context.Context, training.EvalOptions) (training.Report, error) {
		e1 := training.EntityReport{Entity: "e1", AnomalousPoints: 10, InterpretedPoints: 8, InterpretedPointsTP: 4,
			HitRate100: 1, HitRate150: 1, HitRateTP100: 1, HitRateTP150: 1}
		e2 := training.EntityReport{Entity: "e2", AnomalousPoints: 10, InterpretedPoints: 8, InterpretedPointsTP: 0,
			HitRate100: 0.5, HitRate150: 0.5}
		e3 := training.EntityReport{Entity: "e3", AnomalousPoints: 10}
		rep := training.Report{Entities: []training.EntityReport{e1, e2, e3}}
		rep.Mean = training.EntityReport{Entity: "mean", AnomalousPoints: 30, InterpretedPoints: 16, InterpretedPointsTP: 4,
			HitRate100: 0.75, HitRate150: 0.75, HitRateTP100: 0.5, HitRateTP150: 0.5}
		rep.MeanEntities, rep.MeanInterpretedEntities = 3, 2
		return rep, nil
	}
	var stdout, stderr bytes.Buffer
	if rc := evalDataset(context.Background(), "smd", []string{"--dir", t.TempDir(), "--json", "-"}, &stdout, &stderr, run); rc != 0 {
		t.Fatalf("exit %d, stderr %s", rc, stderr.String())
	}
	for _, tc := range []struct {
		entity string
		tp     string // both HR-TP columns
	}{
		{"e1", "1.0000"},
		{"e2", "0.0000"},
		{"e3", "n/a"},
		{"mean", "0.5000"},
	} {
		f := strings.Fields(rowOf(stderr.String(), tc.entity))
		if len(f) != 12 || f[9] != tc.tp || f[10] != tc.tp {
			t.Errorf("row of %s %q: want HR-TP@100 and HR-TP@150 %s", tc.entity, strings.Join(f, " "), tc.tp)
		}
	}
}

// --loss takes mse or huber, huber only with the lstm detector (usage
// errors, exit 2).
func TestEvalLossFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--loss", "l1"}, `omen eval smd: unknown --loss "l1" (want mse or huber)`},
		{[]string{"--loss", "huber", "--detector", "ar"}, "omen eval smd: --loss huber needs --detector lstm"},
	} {
		var stdout, stderr bytes.Buffer
		rc := dispatch(append([]string{"eval", "smd", "--dir", t.TempDir()}, tc.args...), &stdout, &stderr)
		if rc != 2 || !strings.HasPrefix(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 with %q", tc.args, rc, stderr.String(), tc.want)
		}
	}
}

// --members is checked like the other sizes, and more than one member
// of the closed-form ar baseline is refused (usage errors, exit 2).
func TestEvalMembersFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--members", "-1"}, "omen eval smd: --members -1, want at least 1"},
		{[]string{"--members", "3", "--detector", "ar"}, "omen eval smd: --members 3 needs --detector lstm"},
	} {
		var stdout, stderr bytes.Buffer
		rc := dispatch(append([]string{"eval", "smd", "--dir", t.TempDir()}, tc.args...), &stdout, &stderr)
		if rc != 2 || !strings.HasPrefix(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 with %q", tc.args, rc, stderr.String(), tc.want)
		}
	}
}
