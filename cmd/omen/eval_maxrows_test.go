package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestEvalMaxRowsWarning: when --max-rows cut the test file before its
// labelled anomalous rows, the warning says the first N rows have none
// (and how many the rows left out have), not that the test file has none:
// SMD's machine-2-1 with --max-rows 3000 was said to have no labelled
// anomalous rows, its labels starting at row 6506 (reviewer's finding).
// A file read whole keeps the old warning.
func TestEvalMaxRowsWarning(t *testing.T) {
	dir := t.TempDir()
	writeSyntheticSMD(t, dir) // 400 test rows; e1's rows 300-319 anomalous, e2's none
	var stdout, stderr bytes.Buffer
	rc := dispatch([]string{"eval", "smd", "--dir", dir, "--epochs", "1", "--window", "4", "--hidden", "2", "--max-rows", "250"}, &stdout, &stderr)
	if rc != 0 {
		t.Fatalf("exit %d, stderr %s", rc, stderr.String())
	}
	want := "warning: no labelled anomalous rows in the first 250 rows (--max-rows) of the test file of " +
		"e1 (its 150 rows left out have 20 labelled anomalous), e2 (its 150 rows left out have none labelled anomalous)"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
	if strings.Contains(stderr.String(), "in the test file of") {
		t.Errorf("stderr says the test file has none:\n%s", stderr.String())
	}
}
