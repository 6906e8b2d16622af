package app

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
)

// TestReloadBetweenSteps: a configuration reload that changes the feature
// layout while a step is being evaluated waits for the step, which is
// stored under the schema it was evaluated with. The reloaded file
// replaces cpu_rate by cpu_rate_x1000 (the same count of features, so the
// store cannot tell by length): every stored vector must hold, under its
// schema's names, the value of that name. Before, the reload recorded the
// new schema while the step was in flight and the step's vectors were
// stored under it: cpu_rate's values named cpu_rate_x1000.
func TestReloadBetweenSteps(t *testing.T) {
	file, write := configFileWriter(t)
	write(testConfigYAML)
	o := Options{
		ConfigFile: file, ListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(),
		NATSListenAddress: "127.0.0.1:0", ShutdownTimeout: 20 * time.Second,
		Logger: slog.New(slog.DiscardHandler),
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var releaseOnce sync.Once
	unpause := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(func() {
		unpause()
		if err := a.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	// Once armed, the first evaluated step waits for release.
	var armed atomic.Bool
	var once sync.Once
	paused, contended := make(chan struct{}), make(chan struct{}, 1)
	hook := func(point string) {
		switch point {
		case "evaluated":
			if armed.Load() {
				once.Do(func() { close(paused); <-release })
			}
		case "layout contended":
			contended <- struct{}{}
		}
	}
	a.eval.testHook.Store(&hook)

	const entity = "shop/cart-1" // cpu_rate 0.2/s
	start := time.Now().Add(-4 * time.Minute).Truncate(5 * time.Second)
	rounds := func(from, to int) [][]byte {
		var out [][]byte
		for r := from; r < to; r++ {
			out = append(out, podLines(r, start.Add(time.Duration(r)*5*time.Second), 3))
		}
		return out
	}
	publish(t, a.NATSURL(), "omen.metrics.influx", rounds(0, 20)...)
	waitFor(t, "vectors with a CPU rate", 30*time.Second, func() bool {
		_, last := countVectors(t, a.Store(), entity)
		return len(last.Values) > 0 && !math.IsNaN(last.Values[0])
	})
	armed.Store(true)
	publish(t, a.NATSURL(), "omen.metrics.influx", rounds(20, 40)...)
	select {
	case <-paused:
	case <-time.After(30 * time.Second):
		t.Fatal("no step evaluated after 30 s")
	}

	write(strings.Replace(testConfigYAML, "- name: cpu_rate\n    expr: sum", "- name: cpu_rate_x1000\n    expr: 1000 * sum", 1))
	reloaded := make(chan error, 1)
	go func() { reloaded <- a.Reload() }()
	select {
	case <-contended: // the reload waits for the step
	case err := <-reloaded:
		reloaded <- err
	}
	unpause()
	if err := <-reloaded; err != nil {
		t.Fatalf("reload: %v", err)
	}

	schemas, err := a.Store().Schemas()
	if err != nil {
		t.Fatal(err)
	}
	names := map[uint32][]string{}
	for _, sc := range schemas {
		names[sc.Version] = sc.Features
	}
	newest := schemas[len(schemas)-1].Version
	waitFor(t, "vectors under the reloaded schema", 30*time.Second, func() bool {
		_, last := countVectors(t, a.Store(), entity)
		return last.Schema == newest
	})
	var checked [2]int
	err = a.Store().Vectors(entity, math.MinInt64, math.MaxInt64, func(v store.Vector) error {
		for i, n := range names[v.Schema] {
			x := v.Values[i]
			switch {
			case math.IsNaN(x):
			// cart-1's rate is 0.2/s, less at the start of the series
			// (extrapolation over fewer samples): under 1, or 1000 times
			// that.
			case n == "cpu_rate" && !(x > 0 && x <= 1):
				t.Errorf("vector at %d under schema %d: cpu_rate %v, want in (0, 1]", v.T, v.Schema, x)
			case n == "cpu_rate_x1000" && !(x >= 10 && x <= 1000):
				t.Errorf("vector at %d under schema %d: cpu_rate_x1000 %v, want in [10, 1000] (a step evaluated under the old layout?)", v.T, v.Schema, x)
			}
			if n == "cpu_rate" || n == "cpu_rate_x1000" {
				checked[slices.Index([]string{"cpu_rate", "cpu_rate_x1000"}, n)]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked[0] == 0 || checked[1] == 0 {
		t.Errorf("vectors checked under the old and the new layout: %v, want some of each", checked)
	}
}

// TestReloadRelayoutsWindows: the entities' windows follow a reload's
// feature layout: a feature keeps its values under its name, a new one is
// missing (NaN). Before, the rows kept the old column order whenever the
// count was the same, and a model fitting the new layout (promoted, or
// the old one after a reload back) scored rows of the old one for up to a
// window.
func TestReloadRelayoutsWindows(t *testing.T) {
	r, reload := reloadableRegistry(t, []string{"a", "b", "c"})
	s := r.s
	ctx := context.Background()
	step := s.step.Milliseconds()
	for k := range 3 {
		x := float64(10 * k)
		s.score(ctx, int64(k)*step, []features.Vector{{Entity: "e", T: int64(k) * step, Values: []float64{x + 1, x + 2, x + 3}}})
	}
	tests := []struct {
		names []string
		want  [][]float64 // rows, oldest first; -1: NaN
	}{
		// Without a model the scorer keeps 2 rows.
		{names: []string{"c", "a", "d"}, want: [][]float64{{13, 11, -1}, {23, 21, -1}}},
		{names: []string{"a", "c"}, want: [][]float64{{11, 13}, {21, 23}}},
		{names: []string{"a", "c"}, want: [][]float64{{11, 13}, {21, 23}}}, // unchanged
		{names: []string{"x"}, want: [][]float64{{-1}, {-1}}},
	}
	for _, tt := range tests {
		reload(tt.names)
		h := s.windows["e"]
		if h.n != len(tt.want) || h.nf != len(tt.names) {
			t.Fatalf("after a reload to %q: %d rows of %d, want %d of %d", tt.names, h.n, h.nf, len(tt.want), len(tt.names))
		}
		for k, want := range tt.want {
			for j, w := range want {
				got := float64(h.row(k)[j])
				if (w < 0) != math.IsNaN(got) || (w >= 0 && got != w) {
					t.Errorf("after a reload to %q: row %d = %v, want %v (-1: NaN)", tt.names, k, h.row(k), want)
					break
				}
			}
		}
	}
	// The next vector is appended to the relaid rows.
	s.score(ctx, 3*step, []features.Vector{{Entity: "e", T: 3 * step, Values: []float64{7}}})
	if h := s.windows["e"]; h.n != 2 || h.row(1)[0] != 7 || !math.IsNaN(float64(h.row(0)[0])) {
		t.Errorf("after the next step: %d rows, last %v, want 2: NaN then 7", h.n, h.row(h.n-1))
	}
}

// TestReloadAfterStopDeadline: a reload still waiting for a step when
// Stop's deadline passes gets an error once the step ends, not a panic:
// the store stays set (closed, it answers ErrClosed). Before, Stop set it
// to nil and the reload's PutSchema dereferenced it (reviewer's finding).
func TestReloadAfterStopDeadline(t *testing.T) {
	a := startApp(t, t.TempDir(), func(o *Options) { o.ShutdownTimeout = 300 * time.Millisecond })
	contended := layoutContended(a)
	a.eval.layoutMu.Lock() // a step in progress, longer than ShutdownTimeout
	reloaded := make(chan error, 1)
	go func() { reloaded <- a.Reload() }()
	<-contended
	stopErr := a.Stop(context.Background())
	a.eval.layoutMu.Unlock() // the step ends
	if err := <-reloaded; err == nil {
		t.Errorf("reload after the store closed succeeded (Stop: %v)", stopErr)
	}
}

// layoutContended sets a's evaluator test hook to signal the returned
// channel when a reload waits for the layout lock (a step in progress).
func layoutContended(a *App) <-chan struct{} {
	contended := make(chan struct{}, 1)
	hook := func(point string) {
		if point == "layout contended" {
			select {
			case contended <- struct{}{}:
			default:
			}
		}
	}
	a.eval.testHook.Store(&hook)
	return contended
}
