package app

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
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
// OS; below it nothing happens.
func TestMemoryReleaser(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMemoryReleaser(time.Second, 16<<20, "", reg, slog.New(slog.DiscardHandler))
	if m.check() && testutil.ToFloat64(m.releases) != 1 {
		t.Fatal("release not counted")
	}
	// 64 MiB of garbage, with the collector off so that neither a
	// collection nor the runtime's scavenger can return it first.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for range 64 {
		memorySink = append(memorySink, make([]byte, 1<<20))
	}
	memorySink = nil
	free, _, garbage := m.read()
	if free+garbage < 60<<20 {
		t.Fatalf("%d bytes free and %d garbage after dropping 64 MiB", free, garbage)
	}
	if !m.check() {
		t.Fatalf("%d bytes free and %d garbage, not released", free, garbage)
	}
	if f, _, g := m.read(); f+g >= (free+garbage)/2 {
		t.Fatalf("free heap and garbage %d → %d bytes after release", free+garbage, f+g)
	}
	high := newMemoryReleaser(time.Second, 1<<40, "", prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
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
