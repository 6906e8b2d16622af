package nezha

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Fault is one injected fault of fault_list.json.
type Fault struct {
	Time time.Time // inject_time, UTC
	Pod  string    // inject_pod
	Type string    // inject_type
}

// Series is one pod's metrics: Values[c][i] is column Columns[c] at Times[i]
// (Unix seconds from the Time column), sorted by time.
type Series struct {
	Pod     string
	Times   []int64
	Columns []string
	Values  [][]float64
}

// Edge is a call-graph edge of dependency.csv.
type Edge struct {
	Source, Target string
	Weight         float64
}

// Day is one day folder.
type Day struct {
	Faults []Fault
	Pods   map[string]*Series
	// Edges is nil when the folder has no metric/dependency.csv(.gz).
	Edges []Edge
	// Calls holds per-edge latency series (source_50, destination_50):
	// columns named "<caller>_<callee>". Empty when absent.
	Calls []*Series
	// Front is front_service.csv (the entry service's success rate and
	// latency) with Pod set to the lower-cased ServiceName; nil when absent.
	Front *Series
	// RootCause maps service → fault type → labelled metric.
	RootCause map[string]map[string]string
}

// ServiceOf maps a Kubernetes pod name to its service by dropping the
// ReplicaSet and pod hashes ("cartservice-579f59597d-wc2lz" → "cartservice").
func ServiceOf(pod string) string {
	parts := strings.Split(pod, "-")
	if len(parts) >= 3 {
		return strings.Join(parts[:len(parts)-2], "-")
	}
	return pod
}

// LoadDay reads a Nezha day folder.
func LoadDay(dir string) (*Day, error) {
	d := &Day{Pods: map[string]*Series{}}
	faults, err := loadFaults(filepath.Join(dir, "fault_list.json"))
	if err != nil {
		return nil, err
	}
	d.Faults = faults
	if b, err := os.ReadFile(filepath.Join(dir, "root_cause.json")); err == nil {
		if err := json.Unmarshal(b, &d.RootCause); err != nil {
			return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "root_cause.json"), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read root causes: %w", err)
	}
	mdir := filepath.Join(dir, "metric")
	ents, err := os.ReadDir(mdir)
	if err != nil {
		return nil, fmt.Errorf("list metrics: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		base := strings.TrimSuffix(name, ".gz")
		switch {
		case strings.HasSuffix(base, "_metric.csv"):
			s, err := loadSeries(filepath.Join(mdir, name))
			if err != nil {
				return nil, err
			}
			if len(s.Times) == 0 {
				continue
			}
			if s.Pod == "" {
				s.Pod = strings.TrimSuffix(base, "_metric.csv")
			}
			if old, ok := d.Pods[s.Pod]; ok {
				mergeSeries(old, s)
			} else {
				d.Pods[s.Pod] = s
			}
		case base == "source_50.csv" || base == "destination_50.csv":
			s, err := loadSeries(filepath.Join(mdir, name))
			if err != nil {
				return nil, err
			}
			s.Pod = base
			d.Calls = append(d.Calls, s)
		case base == "front_service.csv":
			s, err := loadSeries(filepath.Join(mdir, name))
			if err != nil {
				return nil, err
			}
			s.Pod = strings.ToLower(s.Pod)
			d.Front = s
		case base == "dependency.csv":
			edges, err := loadEdges(filepath.Join(mdir, name))
			if err != nil {
				return nil, err
			}
			d.Edges = edges
		}
	}
	if len(d.Pods) == 0 {
		return nil, fmt.Errorf("no pod metric files in %s", mdir)
	}
	return d, nil
}

func loadFaults(path string) ([]Fault, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fault list: %w", err)
	}
	var raw map[string][]struct {
		InjectTime string `json:"inject_time"`
		InjectPod  string `json:"inject_pod"`
		InjectType string `json:"inject_type"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var out []Fault
	for hour, fs := range raw {
		for i, f := range fs {
			t, err := time.Parse(time.DateTime, f.InjectTime)
			if err != nil {
				return nil, fmt.Errorf("fault %s/%d: inject_time: %w", hour, i, err)
			}
			if f.InjectPod == "" || f.InjectType == "" {
				return nil, fmt.Errorf("fault %s/%d: missing inject_pod or inject_type", hour, i)
			}
			out = append(out, Fault{Time: t.UTC(), Pod: f.InjectPod, Type: f.InjectType})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

func openCSV(path string) (*csv.Reader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	var r io.Reader = bufio.NewReader(f)
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("gunzip %s: %w", path, err)
		}
		r = gz
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return cr, f, nil
}

// parseTime parses the Time column: "2022-08-22 03:51:19.799087274 +0000 UTC m=+0.30".
func parseTime(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0, fmt.Errorf("time %q: want date and clock", s)
	}
	layout := "2006-01-02 15:04:05.999999999"
	t, err := time.Parse(layout, f[0]+" "+f[1])
	if err != nil {
		return 0, fmt.Errorf("time %q: %w", s, err)
	}
	if len(f) >= 3 && strings.HasPrefix(f[2], "+") || len(f) >= 3 && strings.HasPrefix(f[2], "-") {
		if off, err := time.Parse("-0700", f[2]); err == nil {
			_, sec := off.Zone()
			t = t.Add(-time.Duration(sec) * time.Second)
		}
	}
	return t.Unix(), nil
}

func loadSeries(path string) (*Series, error) {
	cr, c, err := openCSV(path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read header of %s: %w", path, err)
	}
	tcol, pcol := -1, -1
	// Pod files use Time/TimeStamp, edge files time/timestamp.
	var cols []int
	s := &Series{}
	for i, h := range head {
		switch h {
		case "Time", "time":
			tcol = i
		case "PodName", "ServiceName":
			pcol = i
		case "TimeStamp", "timestamp":
		default:
			cols = append(cols, i)
			s.Columns = append(s.Columns, h)
		}
	}
	if tcol < 0 {
		return nil, fmt.Errorf("%s: no Time column", path)
	}
	s.Values = make([][]float64, len(cols))
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if len(rec) != len(head) {
			continue
		}
		t, err := parseTime(rec[tcol])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		if pcol >= 0 && s.Pod == "" {
			s.Pod = rec[pcol]
		}
		s.Times = append(s.Times, t)
		for k, i := range cols {
			v, err := strconv.ParseFloat(rec[i], 64)
			if err != nil || math.IsInf(v, 0) {
				v = math.NaN()
			}
			s.Values[k] = append(s.Values[k], v)
		}
	}
	sortSeries(s)
	return s, nil
}

func sortSeries(s *Series) {
	idx := make([]int, len(s.Times))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return s.Times[idx[a]] < s.Times[idx[b]] })
	t := make([]int64, len(idx))
	for i, j := range idx {
		t[i] = s.Times[j]
	}
	s.Times = t
	for c := range s.Values {
		v := make([]float64, len(idx))
		for i, j := range idx {
			v[i] = s.Values[c][j]
		}
		s.Values[c] = v
	}
}

// mergeSeries appends b's rows to a for the columns they share.
func mergeSeries(a, b *Series) {
	pos := map[string]int{}
	for i, c := range b.Columns {
		pos[c] = i
	}
	for c, name := range a.Columns {
		if j, ok := pos[name]; ok {
			a.Values[c] = append(a.Values[c], b.Values[j]...)
		} else {
			for range b.Times {
				a.Values[c] = append(a.Values[c], math.NaN())
			}
		}
	}
	a.Times = append(a.Times, b.Times...)
	sortSeries(a)
}

func loadEdges(path string) ([]Edge, error) {
	cr, c, err := openCSV(path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read header of %s: %w", path, err)
	}
	si, ti, wi := -1, -1, -1
	for i, h := range head {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "source":
			si = i
		case "target":
			ti = i
		case "weight":
			wi = i
		}
	}
	if si < 0 || ti < 0 {
		return nil, fmt.Errorf("%s: want Source and Target columns", path)
	}
	var out []Edge
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		e := Edge{Source: rec[si], Target: rec[ti], Weight: 1}
		if wi >= 0 && wi < len(rec) {
			if w, err := strconv.ParseFloat(rec[wi], 64); err == nil && w > 0 {
				e.Weight = w
			}
		}
		out = append(out, e)
	}
	return out, nil
}
