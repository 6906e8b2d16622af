package store

import (
	"errors"
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/telemetry"
)

// fakeDisk is an injectable Options.DiskFree.
type fakeDisk struct{ free atomic.Int64 }

func (f *fakeDisk) DiskFree(string) (uint64, error) {
	v := f.free.Load()
	if v < 0 {
		return 0, errors.New("statfs failed")
	}
	return uint64(v), nil
}

func TestDefaultDiskReserve(t *testing.T) {
	var o Options
	o.Path = "x"
	o.applyDefaults()
	if want := int64(2*128+2*16+64) << 20; o.DiskReserve != want {
		t.Fatalf("default reserve %d, want %d (352 MiB)", o.DiskReserve, want)
	}
}

func TestOpenRefusesFullDisk(t *testing.T) {
	disk := &fakeDisk{}
	disk.free.Store(10 << 20)
	dir := t.TempDir() + "/db"
	_, err := Open(Options{Path: dir, DiskReserve: 100 << 20, DiskFree: disk.DiskFree})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Open with 10 MiB free = %v, want ErrDiskFull", err)
	}
	for _, want := range []string{dir, "10485760 bytes", "104857600 bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	// A negative reserve disables the check.
	s := openTest(t, Options{Path: dir, DiskReserve: -1, DiskFree: disk.DiskFree})
	if err := s.PutVectors([]Vector{{Entity: "e", T: 1, Values: []float64{1}}}); err != nil {
		t.Fatal(err)
	}
}

func TestWritesRefusedBelowReserve(t *testing.T) {
	disk := &fakeDisk{}
	disk.free.Store(1 << 30)
	reg := prometheus.NewRegistry()
	clock := newFakeClock(1000)
	s := openTest(t, Options{Path: t.TempDir(), NoSync: true, Registerer: reg, Now: clock.Now,
		DiskReserve: 100 << 20, DiskFree: disk.DiskFree, diskInterval: time.Hour})
	if err := s.PutSchema([]string{"f"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVectors([]Vector{{Entity: "e", T: 1, Values: []float64{1}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue([]OutboxItem{{Targets: []string{"am"}, Payload: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutModel("old", []byte("old"), ModelMeta{}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(mustGauge(t, reg, "omen_store_disk_reserve_bytes")); got != 100<<20 {
		t.Errorf("disk_reserve_bytes = %v", got)
	}

	// The watcher is not due for an hour: writes re-read free space
	// themselves once the last read is older than diskRecheck.
	disk.free.Store(99 << 20)
	time.Sleep(diskRecheck + 10*time.Millisecond)
	writes := map[string]func() error{
		"batch": func() error {
			_, err := s.AppendBatches([]telemetry.Batch{smallBatch("src", 1, 1)})
			return err
		},
		"vector":      func() error { return s.PutVectors([]Vector{{Entity: "e", T: 2, Values: []float64{1}}}) },
		"prediction":  func() error { return s.PutPredictions([]Prediction{{Entity: "e", T: 2}}) },
		"explanation": func() error { return s.PutExplanation("e@2", []byte("{}")) },
		"entity":      func() error { return s.PutEntity("e", nil, 2) },
		"event": func() error {
			return s.PutEvents("e", []telemetry.Event{{T: 2, Source: "k", Reason: "r"}})
		},
		"schema": func() error { return s.PutSchema([]string{"f", "g"}, nil) },
		"model":  func() error { return s.PutModel("m", []byte("m"), ModelMeta{}) },
	}
	for name, w := range writes {
		if err := w(); !errors.Is(err, ErrDiskFull) {
			t.Errorf("%s with 99 MiB free, 100 MiB reserve: err = %v, want ErrDiskFull", name, err)
		}
	}
	// The alert pipeline's small writes go on down to half the reserve
	// (alerts, and the one about the disk, still reach Alertmanager), and
	// so do model deletes (they free space).
	alertWrites := map[string]func() error{
		"model_delete":       func() error { return s.DeleteModel("old") },
		"outbox":             func() error { return s.Enqueue([]OutboxItem{{Targets: []string{"am"}, Payload: []byte("y")}}) },
		"outbox_ack":         func() error { return s.Ack("am", []uint64{1}) },
		"drop_target":        func() error { return s.DropTarget("am") },
		"alert_state":        func() error { return s.PutAlertState(AlertState{Fingerprint: "f", State: AlertFiring, Updated: 1}) },
		"alert_state_delete": func() error { return s.DeleteAlertState("f") },
	}
	for name, w := range alertWrites {
		if err := w(); err != nil {
			t.Errorf("%s with 99 MiB free, 100 MiB reserve: %v, want it written", name, err)
		}
	}
	if got := testutil.ToFloat64(mustGauge(t, reg, "omen_store_disk_free_bytes")); got != 99<<20 {
		t.Errorf("disk_free_bytes = %v, want %v", got, 99<<20)
	}
	if got := testutil.CollectAndCount(s.m.refused); got < len(writes) {
		t.Errorf("writes_refused_total has %d series, want %d", got, len(writes))
	}
	if got := testutil.ToFloat64(s.m.refused.WithLabelValues("vector")); got != 1 {
		t.Errorf("writes_refused_total{kind=vector} = %v, want 1", got)
	}
	// Reads keep working.
	n := 0
	if err := s.Vectors("e", 0, 10, func(Vector) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("Vectors while full: %d, %v", n, err)
	}
	if _, err := s.Pending("am", 0); err != nil {
		t.Fatal(err)
	}
	// Retention still runs above half the reserve...
	if _, err := s.RunRetention(t.Context(), time.UnixMilli(1000)); err != nil {
		t.Fatalf("retention at 99 of 100 MiB: %v", err)
	}
	// ...and not below it.
	disk.free.Store(49 << 20)
	if _, err := s.RunRetention(t.Context(), time.UnixMilli(1000)); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("retention at 49 of 100 MiB: %v, want ErrDiskFull", err)
	}
	if got := testutil.ToFloat64(s.m.runs.WithLabelValues("refused")); got != 1 {
		t.Errorf("retention_runs_total{result=refused} = %v", got)
	}
	for name, w := range alertWrites {
		if name == "drop_target" {
			continue // nothing pending: no write
		}
		if err := w(); !errors.Is(err, ErrDiskFull) {
			t.Errorf("%s with 49 MiB free, 100 MiB reserve: err = %v, want ErrDiskFull", name, err)
		}
	}

	// Writes resume as soon as space is freed (re-read on each refused call).
	disk.free.Store(101 << 20)
	if err := s.PutVectors([]Vector{{Entity: "e", T: 3, Values: []float64{1}}}); err != nil {
		t.Fatalf("write after freeing space: %v", err)
	}
	// A failing read keeps the last state and does not refuse writes.
	disk.free.Store(-1)
	s.checkDisk()
	if err := s.PutVectors([]Vector{{Entity: "e", T: 4, Values: []float64{1}}}); err != nil {
		t.Fatalf("write when statfs fails: %v", err)
	}
}

func TestDiskWatcher(t *testing.T) {
	disk := &fakeDisk{}
	disk.free.Store(1 << 30)
	s, err := Open(Options{Path: t.TempDir(), NoSync: true, DiskReserve: 100 << 20, DiskFree: disk.DiskFree,
		diskInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	disk.free.Store(1 << 20)
	deadline := time.Now().Add(5 * time.Second)
	for !s.disk.low.Load() {
		if time.Now().After(deadline) {
			t.Fatal("watcher did not notice the full disk")
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.PutVectors([]Vector{{Entity: "e", T: 1, Values: []float64{1}}}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("PutVectors = %v, want ErrDiskFull", err)
	}
	if err := s.Close(); err != nil { // stops the watcher (goleak in TestMain)
		t.Fatal(err)
	}
}

func mustGauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return gathererCollector{reg, name}
}

// gathererCollector re-exports one metric family of a registry, for
// testutil.ToFloat64.
type gathererCollector struct {
	reg  *prometheus.Registry
	name string
}

func (g gathererCollector) Describe(chan<- *prometheus.Desc) {}
func (g gathererCollector) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := g.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == g.name {
			v := mf.GetMetric()[0].GetGauge().GetValue()
			ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(g.name, "x", nil, nil), prometheus.GaugeValue, v)
		}
	}
}

// sizes gathers omen_store_size_bytes by kind.
func sizes(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "omen_store_size_bytes" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestSizeBytes(t *testing.T) {
	dir := t.TempDir()
	open := func(reg prometheus.Registerer) *Store {
		s, err := Open(Options{Path: dir, NoSync: true, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open(prometheus.NewRegistry())
	if err := s.PutSchema([]string{"a", "b", "c"}, nil); err != nil {
		t.Fatal(err)
	}
	rng := newTestRand()
	for i := range 20 {
		vs := make([]Vector, 1000)
		for e := range vs {
			vs[e] = Vector{Entity: fmt.Sprintf("ns/pod-%d", e), T: int64(i), Values: []float64{rng.Float64(), rng.Float64(), rng.Float64()}}
		}
		if err := s.PutVectors(vs); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendBatches([]telemetry.Batch{makeBatch(rng, "src", uint64(i+1), 0, 100, 10)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil { // flushes the memtable to a table
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s = open(reg)
	defer s.Close()
	got := sizes(t, reg)
	// 20,000 vectors of 3 random floats are over 500 kB.
	if got["sst"] < 500e3 || got["vlog"] <= 0 {
		t.Fatalf("omen_store_size_bytes = %v, want sst ≥ 500 kB and vlog > 0", got)
	}
	// Cached: a second scrape within 30 s does not walk again.
	c := newSizeCollector(dir)
	now := time.Now()
	first := c.get(now)["sst"]
	if float64(first) != got["sst"] {
		t.Fatalf("sst %v, then %v", got["sst"], first)
	}
	c.sizes["sst"] = -1
	if c.get(now.Add(sizeRefresh / 2))["sst"] != -1 {
		t.Fatal("size recomputed within the refresh interval")
	}
	if c.get(now.Add(sizeRefresh))["sst"] != first {
		t.Fatal("size not recomputed after the refresh interval")
	}
}

func TestRetentionSkipsCorrupt(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	s := openTest(t, Options{Path: t.TempDir(), NoSync: true, Registerer: reg, Now: func() time.Time { return now }})
	if err := s.PutEntity("good", nil, now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	// Undecodable records of several kinds (torn or corrupt values).
	if err := s.db.Update(func(txn *badger.Txn) error {
		for _, k := range []string{"Nbad", "pbad", "Abad", "Xbad"} {
			if err := txn.Set([]byte(k), []byte{9, 9}); err != nil {
				return err
			}
		}
		if err := txn.Set(append([]byte{pOutItem}, 0, 0, 0, 0, 0, 0, 0, 99), []byte{9}); err != nil {
			return err
		}
		return txn.Set([]byte("Vbad-no-separator"), []byte{2})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue([]OutboxItem{{Targets: []string{"am"}, Payload: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAlertState(AlertState{Fingerprint: "f1", State: AlertResolved, Updated: now.UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	deleted, err := s.RunRetention(t.Context(), now.Add(30*24*time.Hour))
	if err != nil {
		t.Fatalf("RunRetention with corrupt records: %v", err)
	}
	// good entity, outbox item + its pending marker, alert state.
	if deleted != 4 {
		t.Errorf("deleted %d, want 4", deleted)
	}
	if got := testutil.ToFloat64(s.m.corrupt); got != 6 {
		t.Errorf("corrupt_records_total = %v, want 6", got)
	}
	if got := testutil.ToFloat64(s.m.runs.WithLabelValues("success")); got != 1 {
		t.Errorf("retention_runs_total{result=success} = %v, want 1", got)
	}
	if _, err := s.AlertState("f1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("alert state after the corrupt entity: %v, want deleted", err)
	}
}

// sourceRefusedKinds returns the kinds the package's code can refuse a
// write under: the string literal passed to enterWrite, enterAlertWrite,
// belowHalfReserve or writable, read from the non-test sources, so that a
// new call is checked without anyone remembering to list it.
func sourceRefusedKinds(t *testing.T) map[string]bool {
	t.Helper()
	gates := map[string]bool{"enterWrite": true, "enterAlertWrite": true, "belowHalfReserve": true, "writable": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || gates[fn.Name.Name] { // the gates pass their own kind on
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || !gates[sel.Sel.Name] || len(call.Args) != 1 {
					return true
				}
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Errorf("%s: %s's kind is not a string literal; this test cannot check it", fset.Position(call.Pos()), sel.Sel.Name)
					return true
				}
				k, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				kinds[k] = true
				return true
			})
		}
	}
	if len(kinds) == 0 {
		t.Fatal("found no write gate calls in the package's sources")
	}
	return kinds
}

// TestRefusedKindsStartAtZero: every kind a write can be refused under
// (found in the sources) has an omen_store_writes_refused_total series at
// 0 right after Open, and refusedKinds lists no other.
func TestRefusedKindsStartAtZero(t *testing.T) {
	want := sourceRefusedKinds(t)
	reg := prometheus.NewRegistry()
	openTest(t, Options{Path: t.TempDir(), NoSync: true, Registerer: reg})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "omen_store_writes_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	for k := range want {
		if v, ok := got[k]; !ok || v != 0 {
			t.Errorf("kind %q: series present %v, value %v; want present at 0", k, ok, v)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("kind %q is exported but no write is refused under it", k)
		}
	}
	if len(refusedKinds) != len(want) {
		t.Errorf("refusedKinds has %d entries (duplicates?), the sources %d kinds", len(refusedKinds), len(want))
	}
}
