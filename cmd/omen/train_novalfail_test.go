package main

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// TestTrainWarnsNoValidationFailure: a history whose failures are all in
// its first 80 % (none in the validation part) trains a model whose
// failure threshold rests on no failure at all: omen train warns on the
// terminal, saying what to do, the summary's threshold method says so,
// and so does the model's description in omen model list. It was silent
// (the reviewer's history gave thresholds 0.021, 0.968 and 0.244 on three
// runs, with a warning only for 1 to 9 validation failures).
func TestTrainWarnsNoValidationFailure(t *testing.T) {
	t.Chdir(t.TempDir())
	var b strings.Builder
	b.WriteString("t,m1,m2,label\n")
	for i := range 400 {
		label := 0
		if i < 300 && i%50 >= 45 {
			label = 1
		}
		fmt.Fprintf(&b, "%d,%g,%g,%d\n", i, math.Sin(float64(i)/5)+float64(label), math.Cos(float64(i)/7), label)
	}
	writeTrainCSV(t, b.String())
	if err := os.WriteFile("omen.yml", []byte(csvFeatures), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := emptyStore(t, t.TempDir())
	rc, out, errs := omen(t, "train", "--source", "csv", "--dir", "csv", "--hidden", "2", "--epochs", "1", "--out", "m.omen",
		"--config.file", "omen.yml", "--storage.path", dir, "--register")
	const warning = "omen train: warning: the failure threshold is uncertain: the validation part of the history holds no failure to choose it from; " +
		"train on a longer history (--history; of CSV files, longer files) whose validation part holds failures"
	const note = "uncertain: the validation part (the last 20 % of the history) holds no failure onset to choose it from, so it bounds only false alarms"
	if rc != 0 || !strings.Contains(errs, warning) || !strings.Contains(errs, "onsets=0") || !strings.Contains(out, note) {
		t.Fatalf("train = %d, want 0, a warning %q on stderr and the method saying %q\nstdout %s\nstderr %s", rc, warning, note, out, errs)
	}
	rc, out, errs = omen(t, "model", "list", "--storage.path", dir)
	if rc != 0 || !strings.Contains(out, "failure threshold "+note+": train on a longer history") {
		t.Errorf("model list = %d, want the description to say %q\nstdout %s\nstderr %s", rc, note, out, errs)
	}
}
