package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/omen-sre/omen/model"
)

// TestTrainWarnsAllCritical: a model whose failure threshold is at or
// above alerting.critical_probability fires only critical alerts; omen
// train says so and suggests a value between the threshold and 1 (the
// demo's models, thresholds over 0.99, sent nothing but critical alerts
// with the fixed 0.9; docs review).
func TestTrainWarnsAllCritical(t *testing.T) {
	t.Chdir(t.TempDir())
	var b strings.Builder
	b.WriteString("t,m1,m2,label\n")
	for i := range 400 {
		label := 0
		if i%50 >= 45 {
			label = 1
		}
		fmt.Fprintf(&b, "%d,%g,%g,%d\n", i, math.Sin(float64(i)/5)+float64(label), math.Cos(float64(i)/7), label)
	}
	writeTrainCSV(t, b.String())
	for _, tc := range []struct {
		critical string
		warn     bool
	}{
		{"0.0001", true},
		{"1", false},
	} {
		if err := os.WriteFile("omen.yml", []byte(csvFeatures+"alerting:\n  critical_probability: "+tc.critical+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		rc, out, errs := omen(t, "train", "--source", "csv", "--dir", "csv", "--hidden", "2", "--epochs", "1", "--out", "m.omen", "--config.file", "omen.yml")
		got := strings.Contains(errs, "is at or above alerting.critical_probability "+tc.critical+": every alert it fires is critical; set alerting.critical_probability between the threshold and 1")
		if rc != 0 || got != tc.warn || strings.Contains(errs, "never alerts") {
			t.Errorf("critical_probability %s: train = %d, warning %v, want %v\nstdout %s\nstderr %s", tc.critical, rc, got, tc.warn, out, errs)
		}
	}
}

// csvFeatures defines the features of the CSV files of these tests, m1
// and m2: with --config.file, omen train reads the files' columns into
// the configuration's features.
const csvFeatures = "features:\n  - {name: m1, expr: 'sum by (namespace, pod) (up)'}\n  - {name: m2, expr: 'sum by (namespace, pod) (up)'}\n"

// writeTrainCSV writes the CSV history body as csv/e.train.csv.
func writeTrainCSV(t *testing.T, body string) {
	t.Helper()
	if err := os.Mkdir("csv", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("csv/e.train.csv", []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeRareFailures writes a CSV history with one failure every 600
// steps of noise: the calibrated failure probabilities of a model trained
// on it stay around 1 %, its threshold under 0.01.
func writeRareFailures(t *testing.T) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("t,m1,m2,label\n")
	for i := range 6000 {
		label := 0
		if i%600 >= 597 {
			label = 1
		}
		fmt.Fprintf(&b, "%d,%g,%g,%d\n", i, rng.NormFloat64(), math.Cos(float64(i)/7)+rng.NormFloat64(), label)
	}
	writeTrainCSV(t, b.String())
}

// TestTrainPrintsSmallThreshold: a calibrated failure threshold is often
// under 0.01; omen train printed it with 3 decimals (0.009 for 0.0088,
// 0.000 below 0.0005). It keeps two significant digits, as the alerts'
// probability annotation.
func TestTrainPrintsSmallThreshold(t *testing.T) {
	t.Chdir(t.TempDir())
	writeRareFailures(t)
	rc, out, errs := omen(t, "train", "--source", "csv", "--dir", "csv", "--hidden", "2", "--epochs", "1", "--out", "m.omen")
	if rc != 0 {
		t.Fatalf("train = %d\nstdout %s\nstderr %s", rc, out, errs)
	}
	f, err := os.Open("m.omen")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	m, err := model.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	th := m.Thresholds().Failure
	if !(th > 0 && th < 0.01) {
		t.Fatalf("threshold %v: the fixture wants one in (0, 0.01)", th)
	}
	g := regexp.MustCompile(`threshold ([0-9.]+) \(`).FindStringSubmatch(out)
	if g == nil {
		t.Fatalf("no threshold in %q", out)
	}
	printed, err := strconv.ParseFloat(g[1], 64)
	if err != nil || math.Abs(printed-th) > 0.05*th || len(strings.TrimLeft(strings.TrimPrefix(g[1], "0."), "0")) < 2 {
		t.Errorf("threshold printed %q, want two significant digits of %v", g[1], th)
	}
}

// TestTrainWarnsNeverCritical: a model whose validation probabilities
// (calibrated, around 1 %) never reach alerting.critical_probability
// would send only warnings; omen train says so and suggests leaving it
// unset, to follow the model's critical probability (between the
// threshold and the highest validation probability), at which neither
// warning is given. critical_probability 1 (every alert a warning, on
// purpose) is not warned about. Unset, omen train prints the model's
// critical probability, which the daemon follows.
func TestTrainWarnsNeverCritical(t *testing.T) {
	t.Chdir(t.TempDir())
	writeRareFailures(t)
	train := func(critical string) (string, string) {
		t.Helper()
		yml := csvFeatures
		if critical != "" {
			yml += "alerting:\n  critical_probability: " + critical + "\n"
		}
		if err := os.WriteFile("omen.yml", []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		rc, out, errs := omen(t, "train", "--source", "csv", "--dir", "csv", "--hidden", "2", "--epochs", "1", "--out", "m.omen", "--config.file", "omen.yml")
		if rc != 0 {
			t.Fatalf("critical_probability %s: train = %d\nstdout %s\nstderr %s", critical, rc, out, errs)
		}
		return out, errs
	}
	_, errs := train("0.9")
	g := regexp.MustCompile(`warning: the model's validation probabilities never reach alerting.critical_probability 0.9 \(the highest is ([0-9.]+), the top 10 %'s mean [0-9.]+; the failure threshold [0-9.]+\): ` +
		`its alerts would become critical only above what validation ever reached, so they would all be warnings; ` +
		`leave alerting.critical_probability unset to follow the model's critical probability \(([0-9.e-]+), between the threshold and the highest validation probability\)`).FindStringSubmatch(errs)
	if g == nil {
		t.Fatalf("critical_probability 0.9: no never-critical warning with a suggestion:\n%s", errs)
	}
	if top, _ := strconv.ParseFloat(g[1], 64); !(top > 0 && top < 0.9) {
		t.Errorf("highest validation probability %q", g[1])
	}
	for _, critical := range []string{g[2], "1", ""} {
		// (The threshold chosen from two failure onsets is uncertain: that
		// warning is not this test's.)
		out, errs := train(critical)
		if strings.Count(errs, "warning") > strings.Count(errs, "warning: the failure threshold is uncertain") {
			t.Errorf("critical_probability %q: warned:\n%s", critical, errs)
		}
		// Unset: the model's, printed as the warning suggested it.
		if want := "critical from p=" + g[2] + " (the model's critical probability"; (critical == "") != strings.Contains(out, want) {
			t.Errorf("critical_probability %q: stdout %q, want %q only when unset", critical, out, want)
		}
	}
}
