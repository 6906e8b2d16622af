package dataset

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/omen-sre/omen/internal/words"
)

// LabelColumn is the name of the optional label column of a CSV file.
const LabelColumn = "label"

// ReadCSV reads a series from r in the SMD/ASD CSV form: a header whose
// first column is the time or row index ("t", "time" or "timestamp"), then
// the feature columns and optionally a "label" column (0/1), recognised by
// its name, in any case, wherever it is (SMD/ASD put it last). A first column of another
// name is an error naming it: it would be taken for the time, and the
// feature it holds lost. Two columns of one name are an error. Empty cells
// and "NaN" are missing values (NaN; see Series.FillMissing and
// EmptyFeatures). A value beyond ±MaxValue (±Inf, or too large for the
// float32 the models compute in) is an error naming its line and column:
// it would become ±Inf, which a model reads as missing, so an extreme
// value would score as normal. name is used in error messages (usually the
// file name).
//
// The time column is not interpreted beyond checking that it parses as a
// number; rows are taken in file order.
func ReadCSV(r io.Reader, name string) (*Series, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	line := 0
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: read header: %w", name, err)
		}
		return nil, fmt.Errorf("%s:1: empty file, want a header", name)
	}
	line++
	header := strings.Split(strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff")), ",")
	if len(header) < 2 {
		return nil, fmt.Errorf("%s:1: header has %d columns, want a time column and at least one feature", name, len(header))
	}
	if h := strings.TrimSpace(header[0]); !isTimeColumn(h) {
		return nil, fmt.Errorf("%s:1: the first column is %q, not a time column (t, time or timestamp): the SMD/ASD form has the time or row index first, then the features; add one (header %s)",
			name, h, shortHeader(header))
	}
	// cols are the fields of the features, label the label's (-1: none).
	label := -1
	cols := make([]int, 0, len(header)-1)
	s := &Series{Features: make([]string, 0, len(header)-1)}
	seen := make(map[string]int, len(header))
	for i := 1; i < len(header); i++ {
		h := strings.TrimSpace(header[i])
		if h == "" {
			return nil, fmt.Errorf("%s:1: column %d has an empty name", name, i+1)
		}
		if j, ok := seen[h]; ok {
			return nil, fmt.Errorf("%s:1: columns %d and %d are both named %q", name, j+1, i+1, h)
		}
		seen[h] = i
		// In any case, as the time column: "Label" read as a feature
		// would leak the failures into the model's inputs.
		if strings.EqualFold(h, LabelColumn) {
			if label >= 0 {
				return nil, fmt.Errorf("%s:1: columns %d and %d are both the label column (%q and %q)", name, label+1, i+1, strings.TrimSpace(header[label]), h)
			}
			label = i
			continue
		}
		cols = append(cols, i)
		s.Features = append(s.Features, h)
	}
	nf := len(cols)
	if nf < 1 {
		return nil, fmt.Errorf("%s:1: header has no feature columns", name)
	}
	hasLabel := label >= 0
	if hasLabel {
		s.Labels = []bool{}
	}
	want := len(header)
	fields := make([]string, 0, want)
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if text == "" {
			continue
		}
		fields = splitComma(fields[:0], text)
		if len(fields) != want {
			return nil, fmt.Errorf("%s:%d: %d columns, want %d", name, line, len(fields), want)
		}
		if _, err := strconv.ParseFloat(fields[0], 64); err != nil {
			return nil, fmt.Errorf("%s:%d: time column %q is not a number", name, line, fields[0])
		}
		for i, k := range cols {
			c := fields[k]
			if c == "" {
				s.Values = append(s.Values, math.NaN())
				continue
			}
			v, err := strconv.ParseFloat(c, 64)
			if err != nil || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%s:%d: column %s: %q is not a finite number", name, line, s.Features[i], c)
			}
			if !InRange(v) {
				return nil, fmt.Errorf("%s:%d: column %s: %q is beyond ±%.4g, the float32 range the models compute in", name, line, s.Features[i], c, MaxValue)
			}
			s.Values = append(s.Values, v)
		}
		if hasLabel {
			switch strings.TrimSpace(fields[label]) {
			case "0", "0.0":
				s.Labels = append(s.Labels, false)
			case "1", "1.0":
				s.Labels = append(s.Labels, true)
			default:
				return nil, fmt.Errorf("%s:%d: label %q is neither 0 nor 1", name, line, fields[label])
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return s, nil
}

// isTimeColumn reports whether name (a CSV file's first header) names a
// time column as ReadCSV wants it: "t", "time" or "timestamp", in any case.
func isTimeColumn(name string) bool {
	switch strings.ToLower(name) {
	case "t", "time", "timestamp":
		return true
	}
	return false
}

// shortHeader quotes a header for a message, its first columns only when
// it is long.
func shortHeader(header []string) string {
	const most = 6
	if len(header) <= most {
		return strconv.Quote(strings.Join(header, ","))
	}
	return fmt.Sprintf("%q… (%d columns)", strings.Join(header[:most], ","), len(header))
}

// EmptyFeatures returns the features of s without a single value (every
// cell empty or NaN, the CSV form of a missing value), in column order.
// FillMissing turns such a feature into zeros.
func (s *Series) EmptyFeatures() []string {
	f := len(s.Features)
	seen := make([]bool, f)
	for i, v := range s.Values {
		if !math.IsNaN(v) {
			seen[i%f] = true
		}
	}
	var out []string
	for j, ok := range seen {
		if !ok {
			out = append(out, s.Features[j])
		}
	}
	return out
}

func splitComma(dst []string, s string) []string {
	for {
		i := strings.IndexByte(s, ',')
		if i < 0 {
			return append(dst, s)
		}
		dst = append(dst, s[:i])
		s = s[i+1:]
	}
}

// LoadCSV reads a CSV file, gunzipping it when its name ends in ".gz".
func LoadCSV(path string) (*Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open data set file: %w", err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if !strings.HasSuffix(path, ".gz") {
		return ReadCSV(r, path)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%s: truncated or corrupt gzip: %w", path, err)
	}
	defer zr.Close()
	// A truncated stream ends with a partial last line, which the CSV
	// reader would report as a short row before it sees the read error:
	// the gzip error is the cause.
	er := &errReader{r: zr}
	s, err := ReadCSV(er, path)
	if er.err != nil && !errors.Is(er.err, io.EOF) {
		return nil, fmt.Errorf("%s: truncated or corrupt gzip: %w", path, er.err)
	}
	if err != nil {
		// Corrupt data in the middle of the stream decompresses to
		// garbage rows before gzip sees its checksum or length fail at
		// the end: read on to learn whether the CSV error is the cause.
		if _, derr := io.Copy(io.Discard, er); derr != nil {
			return nil, fmt.Errorf("%s: truncated or corrupt gzip: %w; the CSV error before it may be its consequence (%w)", path, derr, err)
		}
	}
	return s, err
}

// errReader remembers the first error of r.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// checkDir reports a data set directory that does not exist or is not a
// directory.
func checkDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("data set directory %q does not exist", dir)
	case err != nil:
		return fmt.Errorf("data set directory: %w", err)
	case !st.IsDir():
		return fmt.Errorf("data set directory %q is not a directory", dir)
	}
	return nil
}

// Segment is one labelled anomaly segment of an interpretation file.
type Segment struct {
	// Start and End are the 0-based rows as written in the file. Whether
	// End is inclusive depends on the data set (see ApplyInterpretation).
	Start, End int
	// Dims are the 0-based feature indices labelled as the cause (the file
	// holds 1-based indices).
	Dims []int
}

// ParseInterpretation reads an interpretation file: one segment a line,
// "start-end:d1,d2,…" with 1-based dimensions. Blank lines are ignored.
func ParseInterpretation(r io.Reader, name string) ([]Segment, error) {
	segs, _, err := parseInterpretation(r, name)
	return segs, err
}

// parseInterpretation is ParseInterpretation that also returns each
// segment's line number (1-based).
func parseInterpretation(r io.Reader, name string) ([]Segment, []int, error) {
	sc := bufio.NewScanner(r)
	var segs []Segment
	var lines []int
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		rng, dims, ok := strings.Cut(text, ":")
		if !ok {
			return nil, nil, fmt.Errorf("%s:%d: %q has no ':' between range and dimensions", name, line, text)
		}
		a, b, ok := strings.Cut(rng, "-")
		if !ok {
			return nil, nil, fmt.Errorf("%s:%d: range %q is not start-end", name, line, rng)
		}
		start, err1 := strconv.Atoi(strings.TrimSpace(a))
		end, err2 := strconv.Atoi(strings.TrimSpace(b))
		if err1 != nil || err2 != nil || start < 0 || end < start {
			return nil, nil, fmt.Errorf("%s:%d: range %q is not start-end with 0 ≤ start ≤ end", name, line, rng)
		}
		seg := Segment{Start: start, End: end}
		for _, d := range strings.Split(dims, ",") {
			d = strings.TrimSpace(d)
			if d == "" {
				continue
			}
			k, err := strconv.Atoi(d)
			if err != nil || k < 1 {
				return nil, nil, fmt.Errorf("%s:%d: dimension %q is not a 1-based column number", name, line, d)
			}
			seg.Dims = append(seg.Dims, k-1)
		}
		if len(seg.Dims) == 0 {
			return nil, nil, fmt.Errorf("%s:%d: segment %q lists no dimensions", name, line, text)
		}
		segs = append(segs, seg)
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return segs, lines, nil
}

// ApplyInterpretation sets s.Causes from segments: each segment's
// dimensions are applied to the rows with a true label from Start up to and
// including End (clipped to the series). The data sets disagree on whether
// End is inclusive; restricting to labelled rows makes both readings agree.
// When two segments touch or overlap, a row gets the union of their
// dimensions. Dimensions beyond the feature count are an error; segments
// that start beyond the series are ignored (see BeyondRows). A series
// without labels treats every row of a segment as labelled.
func ApplyInterpretation(s *Series, segs []Segment) error {
	n := s.Steps()
	nf := len(s.Features)
	s.Causes = make([][]int, n)
	for _, seg := range segs {
		for _, d := range seg.Dims {
			if d >= nf {
				return fmt.Errorf("segment %d-%d: dimension %d beyond %d features", seg.Start, seg.End, d+1, nf)
			}
		}
		for t := seg.Start; t <= seg.End && t < n; t++ {
			if s.Labels != nil && !s.Labels[t] {
				continue
			}
			s.Causes[t] = unionSorted(s.Causes[t], seg.Dims)
		}
	}
	return nil
}

// BeyondRows returns the indices of the segments that start at or after
// row n: ApplyInterpretation clips them away entirely (a test file shorter
// than its interpretation file, or a limited number of rows read).
func BeyondRows(segs []Segment, n int) []int {
	var out []int
	for k, seg := range segs {
		if seg.Start >= n {
			out = append(out, k)
		}
	}
	return out
}

func unionSorted(a, b []int) []int {
	seen := make(map[int]bool, len(a)+len(b))
	out := make([]int, 0, len(a)+len(b))
	for _, x := range append(append([]int(nil), a...), b...) {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Ints(out)
	return out
}

// Entity is one entity of an SMD/ASD-style folder.
type Entity struct {
	Name  string
	Train *Series
	Test  *Series
	// Interpretation holds the segments of E.interpretation.txt in file
	// order (nil without the file); Test.Causes is derived from them.
	Interpretation []Segment
	// InterpretationLines are the line numbers of Interpretation's
	// segments in their file.
	InterpretationLines []int
	// TrainFile, TestFile and InterpretationFile are the paths read
	// (InterpretationFile "" without one), for messages.
	TrainFile, TestFile, InterpretationFile string
}

// DiscoverEntities lists the entities of dir: every "E.train.csv.gz" (or
// "E.train.csv") that has a matching test file, sorted by name. See
// FindEntities for the training files without one.
func DiscoverEntities(dir string) ([]string, error) {
	names, _, err := FindEntities(dir)
	return names, err
}

// FindEntities lists the entities of dir like DiscoverEntities and, in
// trainOnly, the names E of the training files without an E.test.csv(.gz),
// which are not entities (sorted).
func FindEntities(dir string) (names, trainOnly []string, err error) {
	if err := checkDir(dir); err != nil {
		return nil, nil, err
	}
	var found []string
	for _, pattern := range []string{"*.train.csv.gz", "*.train.csv"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, nil, fmt.Errorf("list entities in %q: %w", dir, err)
		}
		for _, p := range m {
			found = append(found, strings.TrimSuffix(strings.TrimSuffix(filepath.Base(p), ".gz"), ".train.csv"))
		}
	}
	sort.Strings(found)
	for _, e := range compact(found) {
		// Both E.train.csv and E.train.csv.gz is an error, not a choice.
		if _, err := findFile(dir, e+".train.csv"); err != nil {
			return nil, nil, err
		}
		_, err := findFile(dir, e+".test.csv")
		switch {
		case errors.Is(err, os.ErrNotExist):
			trainOnly = append(trainOnly, e)
			continue
		case err != nil:
			return nil, nil, err
		}
		names = append(names, e)
	}
	if len(names) == 0 {
		if len(trainOnly) > 0 {
			return nil, trainOnly, fmt.Errorf("no entities (E.train.csv.gz with E.test.csv.gz) in %q: no test file for %s", dir, strings.Join(trainOnly, ", "))
		}
		return nil, nil, fmt.Errorf("no entities (E.train.csv.gz with E.test.csv.gz) in %q", dir)
	}
	return names, trainOnly, nil
}

func compact(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// findFile returns the path of base.gz or base in dir. Both, unless they
// are the same file, is an error naming both: one entity's data in two
// files was read twice by the CSV source and once (the .gz) by eval.
func findFile(dir, base string) (string, error) {
	var path string
	var info os.FileInfo
	for _, p := range []string{base + ".gz", base} {
		full := filepath.Join(dir, p)
		st, err := os.Stat(full)
		switch {
		case err != nil:
			continue
		case info == nil:
			path, info = full, st
		case !os.SameFile(info, st):
			return "", fmt.Errorf("%s and %s are two files of one entity: keep one", path, full)
		}
	}
	if info == nil {
		return "", fmt.Errorf("no %s(.gz) in %q: %w", base, dir, os.ErrNotExist)
	}
	return path, nil
}

// LoadEntity loads the train and test series of entity name in dir and, when
// E.interpretation.txt exists, the test series' cause dimensions.
func LoadEntity(dir, name string) (*Entity, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	trainPath, err := findFile(dir, name+".train.csv")
	if err != nil {
		return nil, err
	}
	testPath, err := findFile(dir, name+".test.csv")
	if err != nil {
		return nil, err
	}
	train, err := LoadCSV(trainPath)
	if err != nil {
		return nil, err
	}
	test, err := LoadCSV(testPath)
	if err != nil {
		return nil, err
	}
	train.Entity, test.Entity = name, name
	if test.Steps() == 0 {
		return nil, fmt.Errorf("%s: no data rows, only a header: nothing to evaluate", testPath)
	}
	// The label column first: a misspelt one reads as one more feature,
	// and a count mismatch would hide the cause.
	if test.Labels == nil {
		return nil, fmt.Errorf("%s has no %q column (its last column is %q)", testPath, LabelColumn, test.Features[len(test.Features)-1])
	}
	if err := sameFeatures(trainPath, train.Features, testPath, test.Features); err != nil {
		return nil, err
	}
	ip := filepath.Join(dir, name+".interpretation.txt")
	f, err := os.Open(ip)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("open interpretation: %w", err)
	default:
		defer f.Close()
		segs, lines, err := parseInterpretation(f, ip)
		if err != nil {
			return nil, err
		}
		for k, seg := range segs {
			for _, d := range seg.Dims {
				if d >= len(test.Features) {
					return nil, fmt.Errorf("%s:%d: segment %d-%d: dimension %d beyond the %d features of %s", ip, lines[k], seg.Start, seg.End, d+1, len(test.Features), testPath)
				}
			}
		}
		if err := ApplyInterpretation(test, segs); err != nil {
			return nil, fmt.Errorf("%s: %w", ip, err)
		}
		return &Entity{Name: name, Train: train, Test: test, Interpretation: segs, InterpretationLines: lines, TrainFile: trainPath, TestFile: testPath, InterpretationFile: ip}, nil
	}
	return &Entity{Name: name, Train: train, Test: test, TrainFile: trainPath, TestFile: testPath}, nil
}

// sameFeatures reports feature columns that differ between two files of
// one entity: the model reads the test file's columns in the training
// file's order, so the names must match one for one (same names, same
// order), not only in number.
func sameFeatures(aPath string, a []string, bPath string, b []string) error {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Errorf("%s and %s have different feature columns: column %d is %q in the first, %q in the second (the names must match, in the same order)",
				aPath, bPath, i+2, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		long, extra := aPath, a
		if len(b) > len(a) {
			long, extra = bPath, b
		}
		return fmt.Errorf("%s has %d features, %s %d (the first extra column is %q, column %d of %s)",
			aPath, len(a), bPath, len(b), extra[min(len(a), len(b))], min(len(a), len(b))+2, long)
	}
	return nil
}

// CSVSource loads training series from CSV files in the SMD/ASD form (a
// "label" column, if present, marks failing steps).
type CSVSource struct {
	// Paths are files or directories; a directory contributes its
	// *.train.csv.gz / *.train.csv files, or, when it has none, every
	// *.csv(.gz) file.
	Paths []string
	// StepMillis is the step recorded in the series (0: unknown).
	StepMillis int64
	// Features, when not nil, are the features the series are read
	// into: every file's columns are selected and ordered by these names.
	// A file that lacks one is an error naming the file and the columns
	// it lacks; the columns it has beyond them are not read, and Notice
	// is told which.
	Features []string
	// FeaturesOf names Features in messages (a configuration file, say).
	FeaturesOf string
	// Order, when not nil and Features is, is an order to read the
	// columns in when a file's feature columns are exactly these names in
	// another order (Notice is told); other files are read as they are.
	Order []string
	// OrderOf names Order in messages.
	OrderOf string
	// Notice, when not nil, receives the warnings ("warning: …"): the
	// CSV files of a directory not read (its *.test files, beside its
	// *.train files), the columns not read; and the reordering of Order.
	Notice func(msg string)
}

// DirPatterns returns the file name patterns of the files CSVSource reads
// from the directory dir: its *.train.csv.gz / *.train.csv files, or,
// when it has none, every *.csv(.gz) file.
func DirPatterns(dir string) []string {
	train := []string{"*.train.csv.gz", "*.train.csv"}
	for _, pat := range train {
		if m, _ := filepath.Glob(filepath.Join(dir, pat)); len(m) > 0 {
			return train
		}
	}
	return []string{"*.csv.gz", "*.csv"}
}

// notice passes msg to c.Notice.
func (c *CSVSource) notice(msg string) {
	if c.Notice != nil {
		c.Notice(msg)
	}
}

// Load reads every file once (a file named twice, directly or through
// its directory, or a directory named twice, is read once); the entity
// is the file name without ".csv(.gz)" and without a ".train" suffix, and
// the series' Origin is the file's path. Two files of one entity (E.csv
// and E.csv.gz, or E in two folders) are an error naming both. A
// directory's CSV files not read (the *.test files of the SMD/ASD form,
// which hold the evaluation's labels: omen eval scores them, training on
// them would leave nothing unseen to evaluate) are named in a warning;
// name such a file itself to train on it.
func (c *CSVSource) Load(ctx context.Context) ([]*Series, error) {
	var files []string
	var seen []os.FileInfo // of files, to read each once
	add := func(f string) error {
		st, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("csv source: %w", err)
		}
		for _, s := range seen {
			if os.SameFile(s, st) {
				return nil
			}
		}
		seen = append(seen, st)
		files = append(files, f)
		return nil
	}
	for _, p := range c.Paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("csv source: %w", err)
		}
		if !st.IsDir() {
			if err := add(p); err != nil {
				return nil, err
			}
			continue
		}
		var found []string
		for _, pat := range DirPatterns(p) {
			m, _ := filepath.Glob(filepath.Join(p, pat))
			found = append(found, m...)
		}
		sort.Strings(found)
		for _, f := range found {
			if err := add(f); err != nil {
				return nil, err
			}
		}
		c.noticeUnread(p, found)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("csv source: no CSV files in %v", c.Paths)
	}
	// An entity in two files (E.train.csv and E.train.csv.gz, or one name
	// in two folders) was trained as two entities of one name.
	entity := func(f string) string {
		base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".gz"), ".csv")
		return strings.TrimSuffix(base, ".train")
	}
	fileOf := make(map[string]string, len(files))
	for _, f := range files {
		e := entity(f)
		if g, ok := fileOf[e]; ok {
			return nil, fmt.Errorf("csv source: entity %q is in two files, %s and %s: keep one", e, g, f)
		}
		fileOf[e] = f
	}
	out := make([]*Series, 0, len(files))
	var extra []string               // columns not read, in the order first met
	extraIn := map[string][]string{} // the files of each
	reordered := []string{}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("csv source: %w", err)
		}
		s, err := LoadCSV(f)
		if err != nil {
			return nil, err
		}
		switch {
		case c.Features != nil:
			has := s.Features
			dropped, lack := s.selectFeatures(c.Features)
			if len(lack) > 0 {
				return nil, fmt.Errorf("csv source: %s lacks %s %s, features of %s (its feature columns: %s): the model is for them (nothing trained)",
					f, words.Plural(len(lack), "column", "columns"), words.JoinSome(quoteAll(lack), 8), c.FeaturesOf, words.JoinSome(has, 8))
			}
			for _, d := range dropped {
				if extraIn[d] == nil {
					extra = append(extra, d)
				}
				extraIn[d] = append(extraIn[d], f)
			}
		case c.Order != nil && !slices.Equal(s.Features, c.Order) && sameSet(s.Features, c.Order):
			s.selectFeatures(c.Order) // the same names: none lacks
			reordered = append(reordered, f)
		}
		s.Entity = entity(f)
		s.Step, s.Origin = c.StepMillis, f
		out = append(out, s)
	}
	if len(extra) > 0 {
		parts := make([]string, len(extra))
		for i, d := range extra {
			parts[i] = fmt.Sprintf("%q (%s)", d, fileList(extraIn[d], len(files)))
		}
		c.notice(fmt.Sprintf("warning: %d %s of %s, not read: %s", len(extra), words.Plural(len(extra), "column is not a feature", "columns are not features"), c.FeaturesOf, strings.Join(parts, ", ")))
	}
	if len(reordered) > 0 {
		c.notice(fmt.Sprintf("the feature columns of %s are those of %s in another order: read in its order", fileList(reordered, len(files)), c.OrderOf))
	}
	return out, nil
}

// noticeUnread warns about the CSV files of directory dir that Load does
// not read (found are those it does).
func (c *CSVSource) noticeUnread(dir string, found []string) {
	var all []string
	for _, pat := range []string{"*.csv.gz", "*.csv"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		all = append(all, m...)
	}
	var unread []string
	for _, f := range all {
		if !slices.Contains(found, f) {
			unread = append(unread, filepath.Base(f))
		}
	}
	if len(unread) == 0 {
		return
	}
	sort.Strings(unread)
	c.notice(fmt.Sprintf("warning: %s: its *.train.csv(.gz) files are read, not its other %d CSV %s (%s): "+
		"in the SMD/ASD form the *.test files hold the labelled evaluation data, which omen eval scores; give a file's path in --dir to train on it",
		dir, len(unread), words.Plural(len(unread), "file", "files"), words.JoinSome(unread, 5)))
}

// selectFeatures keeps the columns of s named in features, in their
// order, and returns the names of the others (dropped); when s lacks
// names of features, it returns them (lack) and leaves s as it is.
func (s *Series) selectFeatures(features []string) (dropped, lack []string) {
	idx := make(map[string]int, len(s.Features))
	for j, f := range s.Features {
		idx[f] = j
	}
	cols := make([]int, len(features))
	for i, f := range features {
		j, ok := idx[f]
		if !ok {
			lack = append(lack, f)
			continue
		}
		cols[i] = j
		delete(idx, f)
	}
	if len(lack) > 0 {
		return nil, lack
	}
	for _, f := range s.Features {
		if _, ok := idx[f]; ok {
			dropped = append(dropped, f)
		}
	}
	nf, n := len(s.Features), s.Steps()
	vals := make([]float64, 0, n*len(features))
	for t := range n {
		row := s.Values[t*nf : (t+1)*nf]
		for _, j := range cols {
			vals = append(vals, row[j])
		}
	}
	s.Values, s.Features = vals, slices.Clone(features)
	return dropped, nil
}

// quoteAll quotes each of names.
func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strconv.Quote(n)
	}
	return out
}

// sameSet reports whether a and b hold the same names, each once.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	in := make(map[string]bool, len(a))
	for _, x := range a {
		in[x] = true
	}
	for _, x := range b {
		if !in[x] {
			return false
		}
		delete(in, x)
	}
	return len(in) == 0
}

// fileList names files, or says "every file" when they are all n read.
func fileList(files []string, n int) string {
	if len(files) == n && n > 1 {
		return fmt.Sprintf("all %d files", n)
	}
	return words.JoinSome(files, 3)
}
