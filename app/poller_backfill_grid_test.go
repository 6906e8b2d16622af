package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestPollerBackfillOnStepGrid: the start-up backfill's range queries
// start and end on the step grid Run polls and the daemon evaluates, end
// at the newest step before the start, and reach back at most the
// backfill. They ran from the wall clock minus the backfill to the wall
// clock, so that every backfilled point sat between two steps and the
// first steps after a start read values one step old.
func TestPollerBackfillOnStepGrid(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	var mu sync.Mutex
	type rng struct{ start, end float64 }
	var ranges []rng
	fp := &slowProm{}
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil && strings.HasSuffix(r.URL.Path, "/query_range") {
			start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
			end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
			mu.Lock()
			ranges = append(ranges, rng{start, end})
			mu.Unlock()
		}
		fp.ServeHTTP(w, r)
	}))
	t.Cleanup(prom.Close)
	cfg := loadConfig(t, testConfigYAML+"prometheus:\n  - url: "+prom.URL+"\n    backfill: 2m\n")
	src := newEmbeddedSources(t, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	before := time.Now()
	go func() { done <- src.run(ctx) }()
	waitFor(t, "the backfill's range queries", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ranges) >= 4
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	const step = 5.0
	mu.Lock()
	defer mu.Unlock()
	for _, r := range ranges[:4] {
		onGrid := func(s float64) bool { ms := int64(s*1000 + 0.5); return ms%int64(step*1000) == 0 }
		if !onGrid(r.start) || !onGrid(r.end) {
			t.Errorf("backfill range [%.3f, %.3f] off the %vs step grid", r.start, r.end, step)
		}
		if lo := float64(before.UnixMilli())/1000 - step; r.end < lo || r.end > float64(time.Now().UnixMilli())/1000 {
			t.Errorf("backfill range ends at %.3f, want the newest step before the start (%.3f)", r.end, lo+step)
		}
		if d := r.end - r.start; d > 120.001 || d < 120-step-0.001 {
			t.Errorf("backfill range [%.3f, %.3f] spans %vs, want the 2m backfill on the grid", r.start, r.end, d)
		}
	}
}
