package training

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every entity's files are checked before any is trained, and every bad
// one is named: a test file with a column fewer than its training file,
// and a bad value on a late line, were found only when their entity's
// turn came, after the entities before it had been trained, and the run
// ended without their results (reviewer's finding).
func TestEvalChecksEveryEntityFirst(t *testing.T) {
	dir := t.TempDir()
	for _, e := range []string{"a", "late", "zz"} {
		writeRows(t, dir, e, 200)
	}
	// zz: the test file lacks m3 (3 columns with the label against 4).
	cut := func(path string, edit func(i int, cols []string) []string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		for i, l := range lines {
			lines[i] = strings.Join(edit(i, strings.Split(l, ",")), ",")
		}
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cut(filepath.Join(dir, "zz.test.csv"), func(_ int, c []string) []string { return append(c[:3:3], c[4]) })
	// late: a value that is not a number on the training file's last line.
	cut(filepath.Join(dir, "late.train.csv"), func(i int, c []string) []string {
		if i == 200 {
			c[2] = "x"
		}
		return c
	})
	var progress bytes.Buffer
	rep, err := EvalDataset(context.Background(), EvalOptions{Dir: dir, Hidden: 4, Epochs: 1, Seed: 1, Progress: &progress})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`entity "late": ` + filepath.Join(dir, "late.train.csv") + `:201: column m2: "x" is not a finite number`,
		`entity "zz": ` + filepath.Join(dir, "zz.train.csv") + ` has 3 features, ` + filepath.Join(dir, "zz.test.csv") + ` 2`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want %q", err, want)
		}
	}
	if progress.Len() > 0 || len(rep.Entities) > 0 || len(rep.Errors) > 0 {
		t.Errorf("entities trained before the check failed: progress %q, report %+v", progress.String(), rep)
	}
}

// An entity that fails during the run (here its ranker) does not stop the
// others: it is listed in Errors with its message, the report holds the
// entities that finished and the mean covers only them, and the error is
// returned with the report (the run ended at the first failure, without
// the entities after it).
func TestEvalEntityFailureKeepsOthers(t *testing.T) {
	dir := t.TempDir()
	for _, e := range []string{"a", "b", "c"} {
		writeRows(t, dir, e, 200)
		if err := os.WriteFile(filepath.Join(dir, e+".interpretation.txt"), []byte("40-44:1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	opts := EvalOptions{Dir: dir, Hidden: 4, Epochs: 1, Seed: 1, NewRanker: func(in RankerInput) (DimensionRanker, error) {
		// Entities run in name order: b is the second.
		if calls++; calls == 2 {
			return nil, errors.New("broken ranker")
		}
		return in.Scorer.(DimensionRanker), nil
	}}
	rep, err := EvalDataset(context.Background(), opts)
	if want := `entity "b": ranker: broken ranker`; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if len(rep.Errors) != 1 || rep.Errors[0] != (EntityError{Entity: "b", Error: `entity "b": ranker: broken ranker`}) {
		t.Errorf("errors %+v, want b's", rep.Errors)
	}
	if len(rep.Entities) != 2 || rep.Entities[0].Entity != "a" || rep.Entities[1].Entity != "c" {
		t.Fatalf("entities %+v, want a and c", rep.Entities)
	}
	want, n, ni := meanReport(rep.Entities)
	if rep.Mean != want || rep.MeanEntities != 2 || n != 2 || rep.MeanInterpretedEntities != ni {
		t.Errorf("mean %+v over %d entities, want %+v over a and c", rep.Mean, rep.MeanEntities, want)
	}
}
