package app

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/testenv"
)

var memorySink [][]byte

// TestMemoryReleaser: freed heap above the threshold is returned to the
// OS; below it nothing happens, unless no collection ran since the
// previous check: then one collection is forced, once, and finds the
// objects that died after the last one.
func TestMemoryReleaser(t *testing.T) {
	// The collector off throughout, so that neither a collection nor the
	// runtime's scavenger runs but those the test and check make.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	reg := prometheus.NewRegistry()
	m := newMemoryReleaser(time.Second, 16<<20, "", reg, slog.New(slog.DiscardHandler))
	m.check() // the first check only records the collections so far
	runtime.GC()
	// 64 MiB of garbage allocated since the last collection.
	for range 64 {
		memorySink = append(memorySink, make([]byte, 1<<20))
	}
	memorySink = nil
	st := m.read()
	if st.free+st.garbage < 60<<20 {
		t.Fatalf("%d bytes free and %d garbage after dropping 64 MiB", st.free, st.garbage)
	}
	if !m.check() {
		t.Fatalf("%d bytes free and %d garbage, not released", st.free, st.garbage)
	}
	if after := m.read(); after.free+after.garbage >= (st.free+st.garbage)/2 || after.released < st.released+60<<20 {
		t.Fatalf("free heap and garbage %d → %d bytes, released %d → %d after release", st.free+st.garbage, after.free+after.garbage, st.released, after.released)
	}
	if got := testutil.ToFloat64(m.released); got < 60<<20 {
		t.Errorf("released bytes counted %v, want ≥ 60 MiB", got)
	}
	// No collection since the release: the quiet spell's forced
	// collections, once.
	if !m.check() {
		t.Fatal("no forced collections in the quiet spell after a release")
	}
	if m.check() {
		t.Fatal("forced collections twice in one quiet spell")
	}

	// 64 MiB that die after the last collection: they look live (the
	// live figure is that collection's) until the next one.
	for range 64 {
		memorySink = append(memorySink, make([]byte, 1<<20))
	}
	runtime.GC()
	memorySink = nil
	if m.check() {
		t.Fatal("released after a collection ran by itself, with nothing free")
	}
	before, n := m.read(), testutil.ToFloat64(m.releases)
	if !m.check() {
		t.Fatal("no collection forced when none ran since the previous check")
	}
	if after := m.read(); after.released < before.released+60<<20 {
		t.Fatalf("released %d → %d bytes by the forced collection, want 64 MiB more", before.released, after.released)
	}
	if m.check() {
		t.Fatal("forced a second collection in the same quiet spell")
	}
	if got := testutil.ToFloat64(m.releases); got != n+1 {
		t.Errorf("releases counted %v after the forced one, want %v", got, n+1)
	}

	// A buffer parked in a sync.Pool outlives one collection: the quiet
	// spell's two free it.
	var pool sync.Pool
	runtime.GC()
	m.check() // a collection ran by itself: not quiet
	buf := new([]byte)
	*buf = make([]byte, 8<<20)
	pool.Put(buf)
	buf = nil //nolint:ineffassign,wastedassign // the pool alone holds it
	before = m.read()
	if !m.check() {
		t.Fatal("no forced collections when none ran since the previous check")
	}
	// The released figure is net: pages other goroutines (earlier tests'
	// leftovers) take back meanwhile count against it, so a margin of
	// 2 MiB (a kept buffer releases nothing of its 8 MiB). CI once saw
	// 32 KiB short of 8 MiB.
	if after := m.read(); after.released < before.released+6<<20 {
		t.Errorf("released %d → %d bytes: the pooled 8 MiB buffer was kept", before.released, after.released)
	}
	runtime.KeepAlive(&pool)

	high := newMemoryReleaser(time.Second, 1<<40, "", prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	high.check()
	runtime.GC()
	if high.check() {
		t.Fatal("released below the minimum")
	}
}

// TestApplyRuntimeConfig: GOGC and the memory limit are set and restored.
func TestApplyRuntimeConfig(t *testing.T) {
	gogc := debug.SetGCPercent(100)
	defer debug.SetGCPercent(gogc)
	restore := applyRuntimeConfig(config.RuntimeConfig{GOGC: 60, MemoryLimit: 1 << 40})
	if got := debug.SetGCPercent(60); got != 60 {
		t.Errorf("GOGC %d, want 60", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<40 {
		t.Errorf("memory limit %d, want 1 TiB", got)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after restore %d, want 100", got)
	}
	if got := debug.SetMemoryLimit(-1); got == 1<<40 {
		t.Error("memory limit not restored")
	}
}

// TestStoreServesAfterPageOuts: with the releaser paging out the store's
// mapped files every 50 ms (the storage path a symbolic link, which the
// kernel shows resolved), everything stored is read back intact, before
// and after a restart (which flushes the memtable to an SSTable).
func TestStoreServesAfterPageOuts(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	mut := func(o *Options) {
		o.Config.Runtime.MemoryReleaseInterval = model.Duration(50 * time.Millisecond)
		o.NATSListenAddress = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	}
	pagedOut := func(a *App) float64 {
		mfs, err := a.opts.Gatherer.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "omen_memory_file_mappings_paged_out_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	check := func(a *App) {
		t.Helper()
		n0 := pagedOut(a)
		waitFor(t, "mappings paged out", 10*time.Second, func() bool { return pagedOut(a) >= n0+4 })
		if b, s := countBatches(t, a.Store()); b != 30 || s != 30*50*4 {
			t.Errorf("%d batches with %d samples read back, want 30 with %d", b, s, 30*50*4)
		}
		_, last := countVectors(t, a.Store(), "shop/cart-9")
		// cart-9's CPU counter grows 0.5·10 per 5 s round: rate = 1/s.
		if got := last.Values[0]; math.Abs(got-1) > 1e-9 {
			t.Errorf("cpu_rate of cart-9 read back = %v, want 1", got)
		}
	}
	a := startApp(t, link, mut)
	start := time.Now().Add(-3 * time.Minute).Truncate(5 * time.Second)
	var payloads [][]byte
	for r := range 30 {
		payloads = append(payloads, podLines(r, start.Add(time.Duration(r)*5*time.Second), 50))
	}
	publish(t, a.NATSURL(), "omen.metrics.influx", payloads...)
	waitFor(t, "vectors of the last round", 30*time.Second, func() bool {
		_, last := countVectors(t, a.Store(), "shop/cart-49")
		return last.T >= start.Add(140*time.Second).UnixMilli()
	})
	check(a)
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	ssts, _ := filepath.Glob(filepath.Join(dir, "badger", "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no SSTable after the restart's flush")
	}
	check(startApp(t, link, mut))
}
