package main

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// TestTrainWarnsAllCritical: a model whose failure threshold is at or
// above alerting.critical_probability fires only critical alerts; omen
// train says so and suggests a value between the threshold and 1 (the
// demo's models, thresholds over 0.99, sent nothing but critical alerts
// with the fixed 0.9; docs review).
func TestTrainWarnsAllCritical(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("csv", 0o700); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("t,m1,m2,label\n")
	for i := range 400 {
		label := 0
		if i%50 >= 45 {
			label = 1
		}
		fmt.Fprintf(&b, "%d,%g,%g,%d\n", i, math.Sin(float64(i)/5)+float64(label), math.Cos(float64(i)/7), label)
	}
	if err := os.WriteFile("csv/e.train.csv", []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		critical string
		warn     bool
	}{
		{"0.0001", true},
		{"1", false},
	} {
		if err := os.WriteFile("omen.yml", []byte("alerting:\n  critical_probability: "+tc.critical+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		rc, out, errs := omen(t, "train", "--source", "csv", "--dir", "csv", "--hidden", "2", "--epochs", "1", "--out", "m.omen", "--config.file", "omen.yml")
		got := strings.Contains(errs, "is at or above alerting.critical_probability "+tc.critical+": every alert it fires is critical; set alerting.critical_probability between the threshold and 1")
		if rc != 0 || got != tc.warn || strings.Contains(errs, "never alerts") {
			t.Errorf("critical_probability %s: train = %d, warning %v, want %v\nstdout %s\nstderr %s", tc.critical, rc, got, tc.warn, out, errs)
		}
	}
}
