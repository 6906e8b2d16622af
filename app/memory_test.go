package app

import (
	"log/slog"
	"runtime/debug"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/config"
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
