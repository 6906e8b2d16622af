package app

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/store"
)

// slowProm is a Prometheus HTTP API that answers every query after delay
// with one series (namespace shop, pod p) of value 1: a matrix at each
// step of a range query, a vector at an instant query's time. It counts
// the points of its range answers.
type slowProm struct {
	delay  time.Duration
	points atomic.Int64
}

func (f *slowProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	time.Sleep(f.delay)
	w.Header().Set("Content-Type", "application/json")
	const metric = `{"namespace":"shop","pod":"p"}`
	sec := func(k string) float64 {
		v, _ := strconv.ParseFloat(r.Form.Get(k), 64)
		return v
	}
	if strings.HasSuffix(r.URL.Path, "/query_range") {
		var pts []string
		for t := sec("start"); t <= sec("end"); t += sec("step") {
			pts = append(pts, fmt.Sprintf(`[%.3f,"1"]`, t))
		}
		f.points.Add(int64(len(pts)))
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":%s,"values":[%s]}]}}`, metric, strings.Join(pts, ","))
		return
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":%s,"value":[%.3f,"1"]}]}}`, metric, sec("time"))
}

// TestPollerBackfillNotLate: the start-up backfill of a poller with
// several queries, from a Prometheus that takes a while to answer each, is
// in whole before the first step is evaluated. Each query's results used
// to be appended on their own: the first moved the watermark to now, the
// evaluator evaluated the newest step at once on that query alone (the
// entity, lacking its instant feature, was dropped as absent: no vector)
// and the other queries' backfilled samples counted late (213 of 292).
func TestPollerBackfillNotLate(t *testing.T) {
	for _, wall := range []bool{false, true} {
		t.Run(fmt.Sprintf("wallclock=%v", wall), func(t *testing.T) {
			fp := &slowProm{delay: 50 * time.Millisecond}
			prom := httptest.NewServer(fp)
			t.Cleanup(prom.Close)
			cfg := loadConfig(t, testConfigYAML+"prometheus:\n  - url: "+prom.URL+"\n")
			a := startApp(t, t.TempDir(), func(o *Options) { o.Config = cfg; o.WallClock = wall })
			// The backfill: 4 queries over the 6m lookback at 5s.
			waitFor(t, "backfill applied and a step evaluated", 20*time.Second, func() bool {
				return fp.points.Load() >= 4*72 && a.ingest.applied.Load() >= fp.points.Load() && testutil.ToFloat64(a.eval.steps) >= 1
			})
			if late := testutil.ToFloat64(a.ingest.late); late != 0 {
				t.Errorf("omen_ingest_late_samples_total = %v after the backfill, want 0 (%d samples backfilled)", late, fp.points.Load())
			}
			// Every step evaluated stored the entity's vector. Read under
			// the evaluator's layout lock, which a step holds from its
			// count to its vectors' store: read between the two (as the
			// steps read before and after the vectors, which could agree
			// while a step was storing), a loaded machine found a step
			// counted without its vector yet.
			a.eval.layoutMu.Lock()
			steps := testutil.ToFloat64(a.eval.steps)
			n := 0
			err := a.store.Vectors("shop/p", math.MinInt64, math.MaxInt64, func(store.Vector) error { n++; return nil })
			a.eval.layoutMu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			if float64(n) != steps {
				t.Errorf("%d vectors of shop/p stored over %v steps evaluated, want one a step", n, steps)
			}
		})
	}
}

// TestPollerBackfillAfterRestartNotLate: after a restart, the poller's
// backfill fetches again the window whose steps the previous process
// evaluated (up to the step cursor): its samples are not late, nor are
// the polls that follow. Before, every backfilled sample at or before
// the cursor counted in omen_ingest_late_samples_total (a reviewer saw
// 216 of 288 after a clean restart, and OmenLateSamples pending).
func TestPollerBackfillAfterRestartNotLate(t *testing.T) {
	for _, wall := range []bool{false, true} {
		t.Run(fmt.Sprintf("wallclock=%v", wall), func(t *testing.T) {
			fp := &slowProm{delay: 50 * time.Millisecond}
			prom := httptest.NewServer(fp)
			t.Cleanup(prom.Close)
			cfg := loadConfig(t, testConfigYAML+"prometheus:\n  - url: "+prom.URL+"\n")
			dir := t.TempDir()
			mut := func(o *Options) { o.Config = cfg; o.WallClock = wall }
			a := startApp(t, dir, mut)
			waitFor(t, "backfill applied and a step evaluated", 20*time.Second, func() bool {
				return fp.points.Load() >= 4*72 && a.ingest.applied.Load() >= fp.points.Load() && testutil.ToFloat64(a.eval.steps) >= 1
			})
			if err := a.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			cur := a.eval.completed // the step cursor stored at the stop
			before := fp.points.Load()
			b := startApp(t, dir, mut)
			waitFor(t, "the second backfill applied and a step evaluated after the cursor", 20*time.Second, func() bool {
				return fp.points.Load() >= before+4*72 && b.ingest.applied.Load() >= fp.points.Load()-before && b.eval.done.Load() > cur
			})
			if r := b.eval.resumedAt.Load(); r != cur {
				t.Errorf("resumed after %v, want the cursor %v", time.UnixMilli(r).UTC(), time.UnixMilli(cur).UTC())
			}
			if late := testutil.ToFloat64(b.ingest.late); late != 0 {
				t.Errorf("omen_ingest_late_samples_total = %v after the restart's backfill, want 0 (%d samples backfilled, cursor %v)",
					late, fp.points.Load()-before, time.UnixMilli(cur).UTC())
			}
		})
	}
}
