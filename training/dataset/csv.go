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
	"sort"
	"strconv"
	"strings"
)

// LabelColumn is the name of the optional label column of a CSV file.
const LabelColumn = "label"

// ReadCSV reads a series from r in the SMD/ASD CSV form: a header whose
// first column is the time or row index ("t"), then the feature columns and
// optionally a final "label" column (0/1). Empty cells and "NaN" are
// missing values (NaN; see Series.FillMissing and EmptyFeatures). A value
// beyond ±MaxValue (±Inf, or too large for the float32 the models compute
// in) is an error naming its line and column: it would become ±Inf, which a
// model reads as missing, so an extreme value would score as normal. name
// is used in error messages (usually the file name).
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
	hasLabel := strings.TrimSpace(header[len(header)-1]) == LabelColumn
	nf := len(header) - 1
	if hasLabel {
		nf--
	}
	if nf < 1 {
		return nil, fmt.Errorf("%s:1: header has no feature columns", name)
	}
	s := &Series{Features: make([]string, nf)}
	for i := range nf {
		s.Features[i] = strings.TrimSpace(header[i+1])
		if s.Features[i] == "" {
			return nil, fmt.Errorf("%s:1: column %d has an empty name", name, i+2)
		}
	}
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
		for i := range nf {
			c := fields[i+1]
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
			switch strings.TrimSpace(fields[want-1]) {
			case "0", "0.0":
				s.Labels = append(s.Labels, false)
			case "1", "1.0":
				s.Labels = append(s.Labels, true)
			default:
				return nil, fmt.Errorf("%s:%d: label %q is neither 0 nor 1", name, line, fields[want-1])
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return s, nil
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

// Load reads every file once (a file named twice, directly or through
// its directory, or a directory named twice, is read once); the entity
// is the file name without ".csv(.gz)" and without a ".train" suffix, and
// the series' Origin is the file's path. Two files of one entity (E.csv
// and E.csv.gz, or E in two folders) are an error naming both.
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
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("csv source: %w", err)
		}
		s, err := LoadCSV(f)
		if err != nil {
			return nil, err
		}
		s.Entity = entity(f)
		s.Step, s.Origin = c.StepMillis, f
		out = append(out, s)
	}
	return out, nil
}
