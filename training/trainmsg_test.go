package training

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	pmodel "github.com/prometheus/common/model"

	"github.com/omen-sre/omen/training/dataset"
)

// rangeAPI answers range queries from a table (an unknown query: no
// series, as Prometheus answers a metric that does not exist).
type rangeAPI map[string]pmodel.Matrix

func (f rangeAPI) QueryRange(_ context.Context, q string, _ v1.Range, _ ...v1.Option) (pmodel.Value, v1.Warnings, v1.Infos, error) {
	return append(pmodel.Matrix{}, f[q]...), nil, nil, nil
}

// writeCSV writes n rows of columns a and b (b empty before step bFrom)
// to dir/name.train.csv.
func writeCSV(t *testing.T, dir, name string, n, bFrom int, cols ...string) string {
	t.Helper()
	if len(cols) == 0 {
		cols = []string{"a", "b"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "t,%s\n", strings.Join(cols, ","))
	for i := range n {
		fmt.Fprintf(&b, "%d,%g", i, math.Sin(float64(i)/5))
		for range cols[1:] {
			if i >= bFrom {
				fmt.Fprintf(&b, ",%g", math.Cos(float64(i)/7))
			} else {
				b.WriteString(",")
			}
		}
		b.WriteString("\n")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, name+".train.csv")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestEmptyFeatureAdvice: a feature with no value in the training part is
// refused with advice that fits the source: for CSV files the column and
// the files it is empty in (there is no configuration to drop it from),
// for Prometheus a query that returned nothing; for the store, a feature
// with no value at all (its metric is not collected) is to be dropped,
// naming the file of the built-in features to copy and trim, and one
// with values only in the validation part needs a longer history.
func TestEmptyFeatureAdvice(t *testing.T) {
	dir := t.TempDir()
	empty := writeCSV(t, dir, "m-1", 300, 300)
	writeCSV(t, dir, "m-2", 300, 280) // b only in its last 20 %
	_, _, err := Train(t.Context(), TrainOptions{Source: &dataset.CSVSource{Paths: []string{dir}}, Window: 8, Horizon: 4, Hidden: 2, Epochs: 1, Seed: 1})
	want := `: column "b" has no value (empty or NaN) in the first 80 % of any file trained on, and throughout 1 of the 2: ` + empty +
		`; the other files have values in it only in their last 20 % (validation) or are too short to train on: give files with values in that column, or remove the column from every file`
	var ef *EmptyFeatureError
	if !errors.As(err, &ef) || !strings.HasPrefix(err.Error(), `feature "b" has no value in the training part of the history (`) || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("csv: %v\nwant …%s", err, want)
	}
	// Prometheus: the query of "nope" returns no series.
	start, step := time.Unix(1_000_000, 0), 15*time.Second
	cpu := &pmodel.SampleStream{Metric: pmodel.Metric{"namespace": "n", "pod": "a"}}
	for i := range 300 {
		cpu.Values = append(cpu.Values, pmodel.SamplePair{Timestamp: pmodel.TimeFromUnixNano(start.Add(time.Duration(i) * step).UnixNano()), Value: pmodel.SampleValue(math.Sin(float64(i) / 5))})
	}
	prom := &dataset.PrometheusSource{API: rangeAPI{"cpu": {cpu}}, Features: []dataset.NamedQuery{{Name: "cpu", Query: "cpu"}, {Name: "nope", Query: "nope_total"}},
		EntityLabels: []string{"namespace", "pod"}, Start: start, End: start.Add(299 * step), Step: step}
	_, _, err = Train(t.Context(), TrainOptions{Source: prom, Window: 8, Horizon: 4, Hidden: 2, Epochs: 1, Seed: 1})
	want = `): its query returned no sample in the range read (a metric that does not exist, or a selector that matches no series): check the feature's expr against the server, or drop the feature from the configuration` + dropAdvice
	if err == nil || !strings.HasPrefix(err.Error(), `feature "nope" has no value`) || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("prometheus: %v\nwant …%s", err, want)
	}
	for _, tc := range []struct {
		e    EmptyFeatureError
		want string
	}{
		{EmptyFeatureError{Source: "prometheus", Empty: []string{`"a"`, `"b"`}, Series: 2, ValFraction: 0.2},
			": its query returned no sample in the range read (a metric that does not exist, or a selector that matches no series): check the feature's expr against the server, or drop the feature from the configuration" + dropAdvice},
		{EmptyFeatureError{Source: "prometheus", Empty: []string{`"a"`}, Series: 2, ValFraction: 0.2},
			": its query returned samples only in the last 20 % of the range read (validation), or only for entities too short to train on: train again when the server holds more of it, or drop the feature from the configuration"},
		{EmptyFeatureError{Empty: []string{`"a"`}, Series: 2, ValFraction: 0.2},
			": it has values only for entities too short to train on: train on a longer history, or drop the feature from the configuration"},
		// Values only in the validation part: perhaps they began late
		// (a store recorded before an upgrade that gave the feature
		// values), where a longer history does not help.
		{EmptyFeatureError{Empty: []string{`"a"`}, Series: 2, ValFraction: 0.2, ValValues: 240},
			": it has values only in the last 20 % of the history (validation), or only for entities too short to train on. If it began to have values recently (added to the configuration, or given values by an omen upgrade), train on the history since then (omen train --history at most 1.25 times the time since) or wait for more of it; else train on a longer history; or drop the feature from the configuration"},
		{EmptyFeatureError{Empty: []string{`"a"`, `"b"`}, Series: 2, ValFraction: 0.2},
			": it has no value at all in the history, of any entity (its metric is not collected, or its expression matches no series; a longer history will not give it one): drop the feature from the configuration" + dropAdvice},
	} {
		if got := tc.e.Error(); !strings.HasSuffix(got, ")"+tc.want) {
			t.Errorf("%+v: %q, want …%q", tc.e, got, tc.want)
		}
	}
}

// TestMixedFeaturesNamesFiles: entities of different features name their
// files. (Two folders holding a file of the same name, which this test
// used, are now an error naming both files: dataset.TestEntityInTwoFiles.)
func TestMixedFeaturesNamesFiles(t *testing.T) {
	dir := t.TempDir()
	one := writeCSV(t, filepath.Join(dir, "onecol"), "machine-1-6", 50, 0, "a")
	two := writeCSV(t, filepath.Join(dir, "plain"), "machine-1-7", 50, 0)
	_, _, err := Train(t.Context(), TrainOptions{Source: &dataset.CSVSource{Paths: []string{filepath.Join(dir, "plain"), filepath.Join(dir, "onecol")}}, Window: 8, Horizon: 4})
	want := fmt.Sprintf(`entity "machine-1-6" (%s) has features [a], entity "machine-1-7" (%s) has [a b]: every entity needs the same features, in the same order`, one, two)
	if err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
}

// dropAdvice follows "drop the feature from the configuration" in the
// advice for a feature that has no value at all.
const dropAdvice = " (docs/features.default.yml holds the built-in features to copy and trim: a configuration that lists features replaces them all)"

// TestEmptyFeaturesAllNamed: every feature with no value in the training
// part is named in one error (the check returned at the first, so a
// cluster without several of the default features' metrics learned of
// them one training attempt at a time), those with no value at all
// together, told to drop them (not to train longer), the one with values
// only in the validation part told to train on a longer history.
func TestEmptyFeaturesAllNamed(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e"}
	mk := func(entity string) *dataset.Series {
		r := rand.New(rand.NewPCG(7, uint64(len(entity))))
		s := &dataset.Series{Entity: entity, Features: names, Labels: make([]bool, 400), Step: 15_000}
		for i := range 400 {
			s.Labels[i] = i%50 == 49
			nan := math.NaN()
			d := nan
			if i >= 340 { // d only in the last 15 % (validation is the last 20 %)
				d = r.NormFloat64()
			}
			s.Values = append(s.Values, r.NormFloat64(), nan, nan, d, r.NormFloat64())
		}
		return s
	}
	_, _, err := Train(t.Context(), TrainOptions{Source: memSource{mk("x"), mk("yy")}, Window: 8, Horizon: 4, Hidden: 2, Epochs: 1, Seed: 1})
	var all *EmptyFeaturesError
	if !errors.As(err, &all) {
		t.Fatalf("err %v, want an EmptyFeaturesError", err)
	}
	var got []string
	for _, f := range all.Features {
		got = append(got, f.Feature)
	}
	if !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Errorf("features named %v, want [b c d]", got)
	}
	want := `3 features have no value in the training part of the history (624 of 624 training windows and 144 of 144 validation windows hold any data):
  "b", "c": they have no value at all in the history, of any entity (their metrics are not collected, or their expressions match no series; a longer history will not give them one): drop the features from the configuration` + dropAdvice + `
  "d" (120 of its validation steps have one): it has values only in the last 20 % of the history (validation), or only for entities too short to train on. If it began to have values recently (added to the configuration, or given values by an omen upgrade), train on the history since then (omen train --history at most 1.25 times the time since) or wait for more of it; else train on a longer history; or drop the feature from the configuration`
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant:\n%s", err, want)
	}
	var one *EmptyFeatureError
	if !errors.As(err, &one) || one.Feature != "b" || !one.Absent() {
		t.Errorf("errors.As gives %+v, want feature b, absent", one)
	}
}

// TestMixedFeatureOrderNamed: files of the same columns in another order
// are told so, and how --config.file reads them by name.
func TestMixedFeatureOrderNamed(t *testing.T) {
	dir := t.TempDir()
	writeCSV(t, dir, "machine-1-6", 50, 0, "a", "b")
	writeCSV(t, dir, "machine-1-7", 50, 0, "b", "a")
	_, _, err := Train(t.Context(), TrainOptions{Source: &dataset.CSVSource{Paths: []string{dir}}, Window: 8, Horizon: 4})
	want := "every entity needs the same features, in the same order (the same ones in another order: omen train --source csv with --config.file reads every file's columns by name, in the order of the configuration's features)"
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("err %v, want …%q", err, want)
	}
}
