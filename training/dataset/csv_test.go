package dataset

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	s, err := ReadCSV(strings.NewReader("t,m1,m2,label\n0,0.5,1,0\n1,,2e-1,1\r\n\n2,3,4,0\n"), "x.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Features, []string{"m1", "m2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("features %v, want %v", got, want)
	}
	if s.Steps() != 3 || !math.IsNaN(s.Values[2]) || s.Values[3] != 0.2 || s.Values[5] != 4 {
		t.Fatalf("values %v", s.Values)
	}
	if want := []bool{false, true, false}; !reflect.DeepEqual(s.Labels, want) {
		t.Fatalf("labels %v, want %v", s.Labels, want)
	}
	if n := s.FillMissing(); n != 1 || s.Values[2] != 0.5 {
		t.Fatalf("FillMissing replaced %d, value %v", n, s.Values[2])
	}
	// The largest float32 magnitudes are values, not errors.
	if b, err := ReadCSV(strings.NewReader("t,a\n0,3.4028234e38\n1,-3.4e38\n"), "b.csv"); err != nil || b.Steps() != 2 {
		t.Fatalf("largest float32 values: %+v, %v", b, err)
	}
	u, err := ReadCSV(strings.NewReader("t,a\n0,1\n"), "u.csv")
	if err != nil || u.Labels != nil || u.Steps() != 1 {
		t.Fatalf("unlabelled: %+v, %v", u, err)
	}
}

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "f.csv:1: empty file"},
		{"header only time", "t\n", "f.csv:1: header has 1 columns"},
		{"only label", "t,label\n", "f.csv:1: header has no feature columns"},
		{"empty column name", "t,,m2\n", "f.csv:1: column 2 has an empty name"},
		{"short row", "t,m1,m2\n0,1,2\n1,1\n", "f.csv:3: 2 columns, want 3"},
		{"bad number", "t,m1\n0,1\n1,x\n", `f.csv:3: column m1: "x" is not a finite number`},
		{"infinite", "t,m1\n0,Inf\n", `f.csv:2: column m1: "Inf" is not a finite number`},
		{"beyond float32", "t,m1,m2\n0,1,2\n1,3,1e39\n", `f.csv:3: column m2: "1e39" is beyond ±3.403e+38, the float32 range the models compute in`},
		{"beyond float32 negative", "t,m1\n0,-3.5e38\n", `f.csv:2: column m1: "-3.5e38" is beyond ±3.403e+38`},
		{"bad time", "t,m1\nnow,1\n", `f.csv:2: time column "now" is not a number`},
		{"bad label", "t,m1,label\n0,1,2\n", `f.csv:2: label "2" is neither 0 nor 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.in), "f.csv")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseInterpretation(t *testing.T) {
	segs, err := ParseInterpretation(strings.NewReader("2-4:1,3\n\n5-6:2\n"), "i.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []Segment{{2, 4, []int{0, 2}}, {5, 6, []int{1}}}
	if !reflect.DeepEqual(segs, want) {
		t.Fatalf("segments %+v, want %+v", segs, want)
	}
	for _, bad := range []string{"1-2", "a-2:1", "3-2:1", "1-2:0", "1-2:x", "1:2", "1-2:"} {
		if _, err := ParseInterpretation(strings.NewReader(bad+"\n"), "i.txt"); err == nil || !strings.HasPrefix(err.Error(), "i.txt:1:") {
			t.Errorf("%q: error %v, want i.txt:1: …", bad, err)
		}
	}
}

func TestApplyInterpretation(t *testing.T) {
	tests := []struct {
		name   string
		labels string
		segs   []Segment
		want   [][]int
	}{
		{
			// SMD style: end exclusive, the row at end is not labelled.
			name: "exclusive end", labels: "0111000",
			segs: []Segment{{1, 4, []int{0}}},
			want: [][]int{nil, {0}, {0}, {0}, nil, nil, nil},
		},
		{
			// ASD style: end inclusive, the row at end is labelled.
			name: "inclusive end", labels: "0111100",
			segs: []Segment{{1, 4, []int{2}}},
			want: [][]int{nil, {2}, {2}, {2}, {2}, nil, nil},
		},
		{
			// Touching segments: 1-3 (exclusive) and 3-5; the shared row 3
			// gets both sets (it is labelled and inside both ranges).
			name: "touching", labels: "0111110",
			segs: []Segment{{1, 3, []int{0}}, {3, 5, []int{1}}},
			want: [][]int{nil, {0}, {0}, {0, 1}, {1}, {1}, nil},
		},
		{
			name: "clipped at the end", labels: "0011",
			segs: []Segment{{2, 9, []int{1, 0}}},
			want: [][]int{nil, nil, {0, 1}, {0, 1}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Series{Features: []string{"a", "b", "c"}, Values: make([]float64, 3*len(tc.labels))}
			for _, c := range tc.labels {
				s.Labels = append(s.Labels, c == '1')
			}
			if err := ApplyInterpretation(s, tc.segs); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Causes, tc.want) {
				t.Fatalf("causes %v, want %v", s.Causes, tc.want)
			}
		})
	}
	s := &Series{Features: []string{"a"}, Values: make([]float64, 2)}
	if err := ApplyInterpretation(s, []Segment{{0, 1, []int{1}}}); err == nil {
		t.Fatal("dimension 2 of 1 feature accepted")
	}
}

func writeGz(t *testing.T, path, content string) {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(content))
	zw.Close()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadEntityAndDiscover(t *testing.T) {
	dir := t.TempDir()
	writeGz(t, filepath.Join(dir, "e1.train.csv.gz"), "t,m1,m2\n0,1,2\n1,2,3\n")
	writeGz(t, filepath.Join(dir, "e1.test.csv.gz"), "t,m1,m2,label\n0,1,2,0\n1,5,3,1\n2,1,2,0\n")
	os.WriteFile(filepath.Join(dir, "e1.interpretation.txt"), []byte("1-2:2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "e2.train.csv"), []byte("t,m1\n0,1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "e2.test.csv"), []byte("t,m1,label\n0,1,0\n"), 0o644)
	writeGz(t, filepath.Join(dir, "lonely.train.csv.gz"), "t,m1\n0,1\n")
	names, err := DiscoverEntities(dir)
	if err != nil || !reflect.DeepEqual(names, []string{"e1", "e2"}) {
		t.Fatalf("DiscoverEntities = %v, %v", names, err)
	}
	e, err := LoadEntity(dir, "e1")
	if err != nil {
		t.Fatal(err)
	}
	if e.Train.Steps() != 2 || e.Test.Steps() != 3 || !reflect.DeepEqual(e.Test.Causes, [][]int{nil, {1}, nil}) {
		t.Fatalf("entity %+v %+v", e.Train, e.Test)
	}
	if want := []Segment{{Start: 1, End: 2, Dims: []int{1}}}; !reflect.DeepEqual(e.Interpretation, want) {
		t.Fatalf("interpretation %+v, want %+v", e.Interpretation, want)
	}
	if e2, err := LoadEntity(dir, "e2"); err != nil || e2.Interpretation != nil {
		t.Fatalf("entity without an interpretation file: %+v, %v", e2, err)
	}
	if _, err := LoadEntity(dir, "lonely"); err == nil {
		t.Fatal("entity without test file loaded")
	}
	writeGz(t, filepath.Join(dir, "bad.train.csv.gz"), "t,m1\n0,1\n")
	writeGz(t, filepath.Join(dir, "bad.test.csv.gz"), "t,m1,label\n0,1,0\n1,oops,0\n")
	if _, err := LoadEntity(dir, "bad"); err == nil || !strings.Contains(err.Error(), "bad.test.csv.gz:3:") {
		t.Fatalf("error %v, want file:line", err)
	}
	if _, err := DiscoverEntities(t.TempDir()); err == nil {
		t.Fatal("empty dir accepted")
	}
}

// Errors name the cause: a truncated gzip (not the partial line it ends
// with), a missing directory (not "no entities"), and the files of an
// entity without repeating its name (the caller adds it).
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	var full bytes.Buffer
	zw := gzip.NewWriter(&full)
	fmt.Fprint(zw, "t,m1,m2\n")
	for i := range 2000 {
		fmt.Fprintf(zw, "%d,%d.123456,%d.654321\n", i, i*7919%1000, i*104729%1000)
	}
	zw.Close()
	cut := full.Bytes()[:full.Len()*2/3]
	if err := os.WriteFile(filepath.Join(dir, "trunc.train.csv.gz"), cut, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.train.csv.gz"), []byte("not gzip at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeGz(t, filepath.Join(dir, "e.train.csv.gz"), "t,m1,m2\n0,1,2\n")
	writeGz(t, filepath.Join(dir, "e.test.csv.gz"), "t,m1,label\n0,1,0\n")
	for _, tc := range []struct {
		name      string
		load      func() error
		want, not string
	}{
		{"truncated gzip", func() error { _, err := LoadCSV(filepath.Join(dir, "trunc.train.csv.gz")); return err },
			"trunc.train.csv.gz: truncated or corrupt gzip: unexpected EOF", "columns"},
		{"not gzip", func() error { _, err := LoadCSV(filepath.Join(dir, "junk.train.csv.gz")); return err },
			"junk.train.csv.gz: truncated or corrupt gzip", ""},
		{"discover missing dir", func() error { _, err := DiscoverEntities(filepath.Join(dir, "nope")); return err },
			"nope\" does not exist", "no entities"},
		{"load from missing dir", func() error { _, err := LoadEntity(filepath.Join(dir, "nope"), "e"); return err },
			"nope\" does not exist", ""},
		{"discover a file", func() error { _, err := DiscoverEntities(filepath.Join(dir, "e.test.csv.gz")); return err },
			"is not a directory", ""},
		{"feature mismatch", func() error { _, err := LoadEntity(dir, "e"); return err },
			"e.train.csv.gz has 2 features", "entity"},
	} {
		err := tc.load()
		if err == nil || !strings.Contains(err.Error(), tc.want) || tc.not != "" && strings.Contains(err.Error(), tc.not) {
			t.Errorf("%s: error %v, want %q without %q", tc.name, err, tc.want, tc.not)
		}
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add("t,m1,m2,label\n0,0.5,1,0\n1,,2,1\n")
	f.Add("t,a\n0,1\n")
	f.Add("t,m1\n0,NaN\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ReadCSV(strings.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("ReadCSV returned an invalid series: %v", err)
		}
		for _, v := range s.Values {
			if math.IsInf(v, 0) {
				t.Fatalf("infinite value accepted")
			}
		}
	})
}

func FuzzParseInterpretation(f *testing.F) {
	f.Add("6506-6528:23,25,32\n7907-7961:9\n")
	f.Add("1-1:1")
	f.Fuzz(func(t *testing.T, in string) {
		segs, err := ParseInterpretation(strings.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		for _, s := range segs {
			if s.Start < 0 || s.End < s.Start || len(s.Dims) == 0 {
				t.Fatalf("invalid segment %+v accepted", s)
			}
			for _, d := range s.Dims {
				if d < 0 {
					t.Fatalf("negative dimension in %+v", s)
				}
			}
		}
	})
}

func BenchmarkReadCSV(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("t,m1,m2,m3,m4,label\n")
	for i := range 5000 {
		fmt.Fprintf(&sb, "%d,0.1%d,0.25,0.5,0.75,0\n", i, i%10)
	}
	in := sb.String()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := ReadCSV(strings.NewReader(in), "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// Train and test files are matched by feature name, not only by count: a
// test file with its columns in another order was accepted and read
// silently wrong; a misspelt label column read as one more feature and
// was reported as a count mismatch (reviewer's findings).
func TestLoadEntityFeatureNames(t *testing.T) {
	dir := t.TempDir()
	writeGz(t, filepath.Join(dir, "e.train.csv.gz"), "t,m1,m2,m3\n0,1,2,3\n")
	for _, tc := range []struct {
		test, want, not string
	}{
		{"t,m3,m2,m1,label\n0,3,2,1,0\n", `e.train.csv.gz and ` + filepath.Join(dir, "e.test.csv.gz") + ` have different feature columns: column 2 is "m1" in the first, "m3" in the second`, ""},
		{"t,m1,m2,m3,labl\n0,1,2,3,0\n", `e.test.csv.gz has no "label" column (its last column is "labl")`, "features"},
		{"t,m1,m2,label\n0,1,2,0\n", `e.train.csv.gz has 3 features, ` + filepath.Join(dir, "e.test.csv.gz") + ` 2 (the first extra column is "m3", column 4 of ` + filepath.Join(dir, "e.train.csv.gz") + `)`, ""},
		{"t,m1,m2,m3,label\n0,1,2,3,0\n", "", ""},
	} {
		writeGz(t, filepath.Join(dir, "e.test.csv.gz"), tc.test)
		_, err := LoadEntity(dir, "e")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("test header %q: %v", strings.SplitN(tc.test, "\n", 2)[0], err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || tc.not != "" && strings.Contains(err.Error(), tc.not)):
			t.Errorf("test header %q: error %v, want %q", strings.SplitN(tc.test, "\n", 2)[0], err, tc.want)
		}
	}
}

// FindEntities names the training files without a test file (they were
// skipped without a word), and so does the error when no entity is left.
func TestFindEntitiesTrainOnly(t *testing.T) {
	dir := t.TempDir()
	writeGz(t, filepath.Join(dir, "e.train.csv.gz"), "t,m1\n0,1\n")
	writeGz(t, filepath.Join(dir, "e.test.csv.gz"), "t,m1,label\n0,1,0\n")
	writeGz(t, filepath.Join(dir, "f.train.csv.gz"), "t,m1\n0,1\n")
	names, trainOnly, err := FindEntities(dir)
	if err != nil || !reflect.DeepEqual(names, []string{"e"}) || !reflect.DeepEqual(trainOnly, []string{"f"}) {
		t.Fatalf("FindEntities = %v, %v, %v; want [e], [f]", names, trainOnly, err)
	}
	os.Remove(filepath.Join(dir, "e.test.csv.gz"))
	if _, _, err := FindEntities(dir); err == nil || !strings.Contains(err.Error(), "no test file for e, f") {
		t.Fatalf("error %v, want it to name e and f", err)
	}
}

// An interpretation dimension beyond the features names the file and line
// like the other interpretation errors (it had no line), and the segments
// that start beyond the test file are found with their lines (they were
// clipped away silently) (reviewer's findings).
func TestInterpretationLines(t *testing.T) {
	dir := t.TempDir()
	writeGz(t, filepath.Join(dir, "e.train.csv.gz"), "t,m1,m2\n0,1,2\n")
	writeGz(t, filepath.Join(dir, "e.test.csv.gz"), "t,m1,m2,label\n0,1,2,0\n1,5,3,1\n2,1,2,0\n")
	ip := filepath.Join(dir, "e.interpretation.txt")
	os.WriteFile(ip, []byte("1-1:2\n\n1-2:1,7\n"), 0o644)
	if _, err := LoadEntity(dir, "e"); err == nil || !strings.HasPrefix(err.Error(), ip+":3: segment 1-2: dimension 7 beyond the 2 features of ") {
		t.Errorf("error %v, want %s:3: …", err, ip)
	}
	os.WriteFile(ip, []byte("1-1:2\n\n3-4:1\n9-12:2\n"), 0o644)
	e, err := LoadEntity(dir, "e")
	if err != nil {
		t.Fatal(err)
	}
	beyond := BeyondRows(e.Interpretation, e.Test.Steps())
	if !reflect.DeepEqual(beyond, []int{1, 2}) || !reflect.DeepEqual(e.InterpretationLines, []int{1, 3, 4}) || e.InterpretationFile != ip {
		t.Errorf("beyond %v, lines %v, file %q; want [1 2], [1 3 4], %q", beyond, e.InterpretationLines, e.InterpretationFile, ip)
	}
}

// Empty cells and "NaN" are missing values; a feature with nothing else is
// reported by EmptyFeatures.
func TestEmptyFeatures(t *testing.T) {
	s, err := ReadCSV(strings.NewReader("t,m1,m2,m3\n0,1,,NaN\n1,,nan,2\n2,3,,\n"), "x.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.EmptyFeatures(); !reflect.DeepEqual(got, []string{"m2"}) {
		t.Errorf("EmptyFeatures = %v, want [m2]", got)
	}
}

// TestCSVSourceOnce: a folder or file named twice (--dir a,a; a folder
// and a file in it; a path spelled another way) is read once, and every
// series names its file; before, --dir a,a trained on every entity twice.
func TestCSVSourceOnce(t *testing.T) {
	dir := t.TempDir()
	for _, e := range []string{"m-1", "m-2"} {
		if err := os.WriteFile(filepath.Join(dir, e+".train.csv"), []byte("t,a\n0,1\n1,2\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		paths []string
	}{
		{"folder twice", []string{dir, dir}},
		{"folder spelled twice", []string{dir, dir + "/./"}},
		{"folder and its file", []string{filepath.Join(dir, "m-2.train.csv"), dir}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss, err := (&CSVSource{Paths: tc.paths}).Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range ss {
				got = append(got, s.Entity)
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, []string{"m-1", "m-2"}) {
				t.Fatalf("entities %q, want m-1 and m-2 once each", got)
			}
			for _, s := range ss {
				if filepath.Base(s.Origin) != s.Entity+".train.csv" {
					t.Errorf("entity %s: origin %q", s.Entity, s.Origin)
				}
			}
		})
	}
}

// TestEntityInTwoFiles: E.train.csv beside E.train.csv.gz (or one entity
// in two folders) is an error naming both files, for train (CSVSource)
// and eval (FindEntities, LoadEntity) alike; before, train read both as
// two entities of one name and eval silently took the .gz (reviewer's
// finding). A symbolic link to the other file is the same file: no error.
func TestEntityInTwoFiles(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	const data = "t,a\n0,1\n1,2\n"
	writeGz(t, filepath.Join(dir, "e.train.csv.gz"), data)
	writeGz(t, filepath.Join(dir, "e.test.csv.gz"), "t,a,label\n0,1,0\n")
	for _, p := range []string{filepath.Join(dir, "e.train.csv"), filepath.Join(other, "e.train.csv")} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	both := filepath.Join(dir, "e.train.csv.gz") + " and " + filepath.Join(dir, "e.train.csv")
	bothSorted := filepath.Join(dir, "e.train.csv") + " and " + filepath.Join(dir, "e.train.csv.gz")
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"train", func() error { _, err := (&CSVSource{Paths: []string{dir}}).Load(t.Context()); return err }, bothSorted},
		{"train two folders", func() error {
			_, err := (&CSVSource{Paths: []string{other, filepath.Join(dir, "e.train.csv.gz")}}).Load(t.Context())
			return err
		}, filepath.Join(other, "e.train.csv") + " and " + filepath.Join(dir, "e.train.csv.gz")},
		{"eval discover", func() error { _, _, err := FindEntities(dir); return err }, both},
		{"eval load", func() error { _, err := LoadEntity(dir, "e"); return err }, both},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
	// The same file under both names is one file.
	if err := os.Remove(filepath.Join(dir, "e.train.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("e.train.csv.gz", filepath.Join(dir, "e.train.csv")); err != nil {
		t.Fatal(err)
	}
	if names, _, err := FindEntities(dir); err != nil || len(names) != 1 {
		t.Fatalf("FindEntities with a link = %v, %v; want [e]", names, err)
	}
}

// TestLoadCSVCorruptGzip: bytes flipped in the middle of a .gz decompress
// to garbage rows before gzip's checksum fails at the end; the error is the
// corrupt gzip, not the CSV error of a made-up line (reviewer's finding:
// "omi-1.test.csv.gz:372: 23 columns, want 21" where zcat said "invalid
// compressed data--length error").
func TestLoadCSVCorruptGzip(t *testing.T) {
	var text strings.Builder
	text.WriteString("t,a,b,c\n")
	for i := range 20000 {
		fmt.Fprintf(&text, "%d,%d.%d,%d,%d\n", i, i%97, i%13, i*7%1000, i%5)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(text.String()))
	zw.Close()
	data := b.Bytes()
	// Which flips the CSV reader rejects before gzip fails depends on the
	// bytes and the read sizes: every flip must be reported as the corrupt
	// gzip, and some must be the finding's case.
	csvFirst := 0
	for off := len(data) / 3; off < len(data)-100; off += len(data) / 50 {
		bad := append([]byte(nil), data...)
		for k := range 10 {
			bad[off+k] ^= 0x5a
		}
		path := filepath.Join(t.TempDir(), "x.csv.gz")
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadCSV(path)
		if err == nil || !strings.HasPrefix(err.Error(), path+": truncated or corrupt gzip: ") {
			t.Errorf("offset %d: error %v, want the corrupt gzip", off, err)
		}
		if err != nil && strings.Contains(err.Error(), "the CSV error before it may be its consequence") {
			csvFirst++
		}
	}
	if csvFirst == 0 {
		t.Error("no flip made the CSV reader fail before gzip: the finding's case is not checked")
	}
	// A CSV error in an intact .gz is the CSV error.
	path := filepath.Join(t.TempDir(), "y.csv.gz")
	writeGz(t, path, "t,a\n0,1\n1,1,2\n")
	if _, err := LoadCSV(path); err == nil || err.Error() != path+":3: 3 columns, want 2" {
		t.Errorf("intact gzip: error %v, want the CSV error", err)
	}
}
