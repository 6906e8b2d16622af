package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
)

// TestTrainAfterSchemaChange: history stored under an older feature
// schema (the daemon's config changed since, or changed and changed back)
// trains through a daemon, mapped by feature name; it had answered "no
// feature data … (has omen run ingested anything?)".
func TestTrainAfterSchemaChange(t *testing.T) {
	cfg := config.Default()
	names, labels := features.Names(cfg.Config), cfg.LabelNames()
	reversed := slices.Clone(names)
	slices.Reverse(reversed)
	for _, tc := range []struct {
		name    string
		history []string   // the features the vectors are stored under
		between [][]string // schemas put after them, before the daemon's (the default features)
		want    string     // in stderr ("": no line about older schema versions)
	}{
		{"features reordered", reversed, nil,
			"store source: 1200 of 1200 vectors from older schema versions, mapped by name into the current one (2) (version 1: 1200)"},
		// Version 1 has the current layout again: nothing to map.
		{"changed and changed back", names, [][]string{reversed}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeHistory(t, dir, tc.history, labels)
			if len(tc.between) > 0 {
				st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger")})
				if err != nil {
					t.Fatal(err)
				}
				for _, fs := range tc.between {
					if err := st.PutSchema(fs, labels); err != nil {
						t.Fatal(err)
					}
				}
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
			}
			_, url := startDaemon(t, dir)
			rc, stdout, stderr := omen(t, "train", "--source", "store", "--url", url, "--history", "2h", "--window", "4",
				"--horizon", "2", "--hidden", "4", "--epochs", "1", "--out", filepath.Join(t.TempDir(), "m.omen"))
			if rc != 0 || !strings.Contains(stdout, "3 entities") || !strings.Contains(stderr, tc.want) ||
				tc.want == "" && strings.Contains(stderr, "older schema versions") {
				t.Fatalf("train --url = %d\nstdout %s\nstderr %s\nwant stderr with %q", rc, stdout, stderr, tc.want)
			}
		})
	}
}

// TestTrainFromStoreUnmapped: a store whose vectors are all of an older
// schema sharing no feature with the current one is reported as such,
// not as a store that never ingested anything.
func TestTrainFromStoreUnmapped(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).UnixMilli()
	if err := st.PutSchema([]string{"x"}, []string{"crash"}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutVectors([]store.Vector{{Entity: "ns/p", T: at, Values: []float64{1}, Failure: []bool{false}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutEntity("ns/p", nil, at); err != nil {
		t.Fatal(err)
	}
	if err := st.PutSchemaPresence([]string{"y"}, []string{"crash"}, 0, nil); err != nil { // a daemon's: no warning of an older omen
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	rc, _, errs := omen(t, "train", "--source", "store", "--storage.path", dir, "--out", filepath.Join(t.TempDir(), "m.omen"))
	want := ": 1 vector of other schema versions than the current (2) skipped (version 1: 1, no feature in common with the current schema version 2)\n"
	if rc != 1 || !strings.HasPrefix(errs, "omen train: no usable feature data in "+dir+" between ") || !strings.HasSuffix(errs, want) || strings.Count(errs, "\n") != 1 {
		t.Fatalf("train = %d, %q; want 1 with %q", rc, errs, want)
	}
}

// TestTrainWarnsSkippedEntities: omen train says which entities it skips
// as too short (its warnings were discarded, so a refused history gave
// only "no entity has enough history").
func TestTrainWarnsSkippedEntities(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) {
		var b strings.Builder
		b.WriteString("t,m1,m2\n")
		for i := range n {
			fmt.Fprintf(&b, "%d,%g,%g\n", i, math.Sin(float64(i)/5), math.Cos(float64(i)/7))
		}
		if err := os.WriteFile(filepath.Join(dir, name+".train.csv"), []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("short", 30)
	for _, e := range []string{"a", "b", "c"} {
		write(e, 400)
	}
	rc, _, stderr := omen(t, "train", "--source", "csv", "--dir", dir, "--window", "8", "--horizon", "4", "--hidden", "2", "--epochs", "1", "--out", filepath.Join(t.TempDir(), "m.omen"))
	if rc != 0 || !strings.Contains(stderr, `omen train: warning: skipping short entity (entity=short, steps=30)`) {
		t.Fatalf("omen train = %d, stderr %q; want it to name the skipped entity", rc, stderr)
	}
}

// TestTrainErrorPrefixOnce: training's own errors are prefixed "omen train:"
// once (they read "omen train: train: no entity has …").
func TestTrainErrorPrefixOnce(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("t,m1\n")
	for i := range 30 {
		fmt.Fprintf(&b, "%d,%g\n", i, math.Sin(float64(i)/5))
	}
	if err := os.WriteFile(filepath.Join(dir, "a.train.csv"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	rc, _, stderr := omen(t, "train", "--source", "csv", "--dir", dir, "--out", filepath.Join(t.TempDir(), "m.omen"))
	if rc != 1 || !strings.Contains(stderr, "omen train: no entity has") || strings.Contains(stderr, "train: train:") {
		t.Fatalf("omen train = %d, stderr %q; want 1 and \"omen train: no entity has …\" with the prefix once", rc, stderr)
	}
}

// TestTrainOutIsNotAnInput: --out naming a CSV file that --dir reads is
// refused before training (the model replaced the training data).
func TestTrainOutIsNotAnInput(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("t,m1\n")
	for i := range 400 {
		fmt.Fprintf(&b, "%d,%g\n", i, math.Sin(float64(i)/5))
	}
	file := filepath.Join(dir, "a.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, out string }{
		{file, file},                         // the file itself
		{dir, file},                          // through its folder
		{dir, filepath.Join(dir, "new.csv")}, // a CSV file the folder would hold
	} {
		rc, _, stderr := omen(t, "train", "--source", "csv", "--dir", tc.dir, "--epochs", "1", "--out", tc.out)
		if want := "omen train: --out " + tc.out + " is a CSV file --dir reads"; rc != 2 || !strings.HasPrefix(stderr, want) {
			t.Errorf("--dir %s --out %s: train = %d, stderr %q; want 2, %q", tc.dir, tc.out, rc, stderr, want)
		}
	}
	if data, err := os.ReadFile(file); err != nil || string(data) != b.String() {
		t.Fatalf("the training file changed (%v)", err)
	} // A folder of *.train.csv files reads only those: another .csv name
	// is not read, and is not refused (code reviewer's finding).
	trainDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(trainDir, "a.train.csv"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(trainDir, "model.csv")
	if rc, _, stderr := omen(t, "train", "--source", "csv", "--dir", trainDir, "--epochs", "1", "--window", "8", "--horizon", "2", "--hidden", "2", "--out", out); rc != 0 {
		t.Errorf("--out %s beside a.train.csv: train = %d, stderr %q; want 0", out, rc, stderr)
	}
	if rc, _, _ := omen(t, "train", "--source", "csv", "--dir", trainDir, "--epochs", "1", "--out", filepath.Join(trainDir, "b.train.csv")); rc != 2 {
		t.Errorf("--out b.train.csv in a folder of *.train.csv: train = %d, want 2", rc)
	}
}
