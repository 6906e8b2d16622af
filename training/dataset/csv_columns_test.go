package dataset

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestReadCSVColumns: the label column is recognised by its name
// wherever it is (a "label" not last read as one more feature, the
// failures leaking into the inputs); the first column must be a time
// column (t, time or timestamp, in any case), else the error names the
// file and the header (a CSV without one lost its first feature to the
// time); two columns of one name are an error (reviewer's findings).
func TestReadCSVColumns(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		features []string
		values   []float64
		labels   []bool
		err      string
	}{
		{name: "label last", in: "t,a,b,label\n0,1,2,1\n", features: []string{"a", "b"}, values: []float64{1, 2}, labels: []bool{true}},
		{name: "label in the middle", in: "t,a,label,b\n0,1,1,2\n1,3,0,4\n", features: []string{"a", "b"}, values: []float64{1, 2, 3, 4}, labels: []bool{true, false}},
		{name: "label first", in: "t,label,a\n0,1,5\n", features: []string{"a"}, values: []float64{5}, labels: []bool{true}},
		{name: "time", in: "time,a\n0,1\n", features: []string{"a"}, values: []float64{1}},
		{name: "Timestamp", in: "Timestamp,a\n1700000000,1\n", features: []string{"a"}, values: []float64{1}},
		{name: "no time column", in: "cpu,mem\n1,2\n",
			err: `x.csv:1: the first column is "cpu", not a time column (t, time or timestamp): the SMD/ASD form has the time or row index first, then the features; add one (header "cpu,mem")`},
		{name: "long header without a time column", in: "a,b,c,d,e,f,g\n1,2,3,4,5,6,7\n",
			err: `x.csv:1: the first column is "a", not a time column (t, time or timestamp): the SMD/ASD form has the time or row index first, then the features; add one (header "a,b,c,d,e,f"… (7 columns))`},
		{name: "two label columns", in: "t,label,a,label\n0,1,2,0\n", err: `x.csv:1: columns 2 and 4 are both named "label"`},
		{name: "Label", in: "t,a,Label,b\n0,1,1,2\n", features: []string{"a", "b"}, values: []float64{1, 2}, labels: []bool{true}},
		{name: "LABEL and label", in: "t,LABEL,a,label\n0,1,2,0\n", err: `x.csv:1: columns 2 and 4 are both the label column ("LABEL" and "label")`},
		{name: "a feature twice", in: "t,a,b,a\n0,1,2,3\n", err: `x.csv:1: columns 2 and 4 are both named "a"`},
		{name: "only label", in: "t,label\n", err: "x.csv:1: header has no feature columns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ReadCSV(strings.NewReader(tc.in), "x.csv")
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Features, tc.features) || !reflect.DeepEqual(s.Values, tc.values) || !reflect.DeepEqual(s.Labels, tc.labels) {
				t.Errorf("features %q values %v labels %v, want %q %v %v", s.Features, s.Values, s.Labels, tc.features, tc.values, tc.labels)
			}
		})
	}
}

// TestCSVSourceColumns: CSVSource reads the files' columns by name into
// Features (a file lacking one is an error naming it, its columns beyond
// them a warning naming them), reorders the columns that are Order in
// another order (with a notice), and warns about the CSV files of a
// folder it does not read (the *.test files beside *.train files were
// skipped silently; reviewer's findings).
func TestCSVSourceColumns(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    map[string]string
		src      CSVSource
		features [][]string // of each series, in entity order
		values   [][]float64
		notices  []string
		err      string
	}{
		{name: "test files named", files: map[string]string{"e.train.csv": "t,a\n0,1\n", "e.test.csv": "t,a,label\n0,1,1\n", "f.test.csv.gz": ""},
			features: [][]string{{"a"}}, values: [][]float64{{1}},
			notices: []string{"warning: DIR: its *.train.csv(.gz) files are read, not its other 2 CSV files (e.test.csv, f.test.csv.gz): " +
				"in the SMD/ASD form the *.test files hold the labelled evaluation data, which omen eval scores; give a file's path in --dir to train on it"}},
		{name: "only train files", files: map[string]string{"e.train.csv": "t,a\n0,1\n", "e.interpretation.txt": "0-0:1\n"},
			features: [][]string{{"a"}}, values: [][]float64{{1}}},
		{name: "features selected and ordered", files: map[string]string{"e.csv": "t,a,b,c\n0,1,2,3\n1,4,5,6\n", "f.csv": "t,c,b,a,label\n0,3,2,1,0\n"},
			src:      CSVSource{Features: []string{"b", "a"}, FeaturesOf: "omen.yml"},
			features: [][]string{{"b", "a"}, {"b", "a"}}, values: [][]float64{{2, 1, 5, 4}, {2, 1}},
			notices: []string{`warning: 1 column is not a feature of omen.yml, not read: "c" (all 2 files)`}},
		{name: "a feature missing", files: map[string]string{"e.csv": "t,a,c\n0,1,3\n"},
			src: CSVSource{Features: []string{"b", "a", "z"}, FeaturesOf: "omen.yml"},
			err: `csv source: DIR/e.csv lacks columns "b", "z", features of omen.yml (its feature columns: a, c): the model is for them (nothing trained)`},
		{name: "order applied", files: map[string]string{"e.csv": "t,b,a\n0,2,1\n", "f.csv": "t,a,b\n0,1,2\n", "g.csv": "t,a,c\n0,1,3\n"},
			src:      CSVSource{Order: []string{"a", "b"}, OrderOf: "the built-in configuration"},
			features: [][]string{{"a", "b"}, {"a", "b"}, {"a", "c"}}, values: [][]float64{{1, 2}, {1, 2}, {1, 3}},
			notices: []string{"the feature columns of DIR/e.csv are those of the built-in configuration in another order: read in its order"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var notices []string
			src := tc.src
			src.Paths = []string{dir}
			src.Notice = func(msg string) { notices = append(notices, strings.ReplaceAll(msg, dir, "DIR")) }
			ss, err := src.Load(t.Context())
			if tc.err != "" {
				if err == nil || strings.ReplaceAll(err.Error(), dir, "DIR") != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var features [][]string
			var values [][]float64
			for _, s := range ss {
				if err := s.Validate(); err != nil {
					t.Fatal(err)
				}
				features, values = append(features, s.Features), append(values, s.Values)
			}
			if !reflect.DeepEqual(features, tc.features) || !reflect.DeepEqual(values, tc.values) || !reflect.DeepEqual(notices, tc.notices) {
				t.Errorf("features %q values %v notices %q\nwant %q %v %q", features, values, notices, tc.features, tc.values, tc.notices)
			}
			for _, v := range values {
				for _, x := range v {
					if math.IsNaN(x) {
						t.Errorf("NaN in %v", v)
					}
				}
			}
		})
	}
}
