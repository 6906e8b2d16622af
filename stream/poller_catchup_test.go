package stream

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/omen-sre/omen/telemetry"
)

// outageProm answers instant and range queries with one series (pod a)
// whose value at a time is the time, except while down (503, as a
// Prometheus behind a proxy that lost it) and for the query "bad", which
// Prometheus refuses (bad_data). It counts the range queries.
type outageProm struct {
	down   atomic.Bool
	ranges atomic.Int64
}

func (f *outageProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		http.Error(w, "prometheus unreachable", http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Form.Get("query") == "bad" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"parse error"}`))
		return
	}
	sec := func(k string) float64 {
		v, _ := strconv.ParseFloat(r.Form.Get(k), 64)
		return v
	}
	if !strings.HasSuffix(r.URL.Path, "/query_range") {
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[%.3f,"%.3f"]}]}}`, sec("time"), sec("time"))
		return
	}
	f.ranges.Add(1)
	var pts []string
	for ts := sec("start"); ts <= sec("end")+1e-9; ts += sec("step") {
		pts = append(pts, fmt.Sprintf(`[%.3f,"%.3f"]`, ts, ts))
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"pod":"a"},"values":[%s]}]}}`, strings.Join(pts, ","))
}

// TestPollerCatchesUpAfterOutage: once Prometheus answers again after an
// outage, Run fetches the steps it missed with a range query before its
// next live poll, so that every step on the grid between the first poll
// and the last has its own value (the time, here), the gap's appended
// before the live poll after it. Before, the gap's steps had no polled
// value and the daemon evaluated them on the last values polled before the
// outage, carried forward for the lookback delta (rate and deriv frozen
// into the stored history). A bad query is not fetched again: it fails
// every time, and the live polls go on without range queries.
func TestPollerCatchesUpAfterOutage(t *testing.T) {
	defer goleak.VerifyNone(t)
	const step = 100 * time.Millisecond
	cases := []struct {
		name       string
		queries    map[string]string
		outage     bool
		wantRanges bool
	}{
		{name: "outage", queries: map[string]string{"q": "up"}, outage: true, wantRanges: true},
		{name: "bad query", queries: map[string]string{"q": "up", "b": "bad"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fp := &outageProm{}
			srv := httptest.NewServer(fp)
			defer srv.Close()
			var mu sync.Mutex
			var appends [][]int64 // the sample times of each Append, in order
			app := AppenderFunc(func(_ context.Context, bs []telemetry.Batch) error {
				var ts []int64
				for _, b := range bs {
					for _, s := range b.Samples {
						if float64(s.T)/1000 != s.V {
							return fmt.Errorf("sample at %d has value %v", s.T, s.V)
						}
						ts = append(ts, s.T)
					}
				}
				mu.Lock()
				appends = append(appends, ts)
				mu.Unlock()
				return nil
			})
			n := func() int {
				mu.Lock()
				defer mu.Unlock()
				return len(appends)
			}
			reg := prometheus.NewRegistry()
			p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: tc.queries, Step: step, CatchUp: 10 * time.Second,
				RetryBackoff: time.Millisecond, MaxRetries: 1, Timeout: time.Second}, reg, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.RunAfter(ctx, FloorStep(time.Now(), step)) }()
			wait := func(what string, cond func() bool) {
				t.Helper()
				for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						cancel()
						t.Fatalf("timed out waiting for %s", what)
					}
				}
			}
			wait("3 polls", func() bool { return n() >= 3 })
			if tc.outage {
				fp.down.Store(true)
				time.Sleep(6 * step)
				fp.down.Store(false)
			}
			after := n()
			wait("3 more appends", func() bool { return n() >= after+3 })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			mu.Lock()
			defer mu.Unlock()
			var all []int64
			prevMax := int64(0)
			for i, ts := range appends {
				if len(ts) == 0 {
					continue
				}
				if mx := slices.Max(ts); mx <= prevMax {
					t.Errorf("append %d's newest sample %d not after the previous append's %d: the catch-up came after the live poll", i, mx, prevMax)
				} else {
					prevMax = mx
				}
				all = append(all, ts...)
			}
			slices.Sort(all)
			all = slices.Compact(all)
			for i, ts := range all {
				if ts%step.Milliseconds() != 0 {
					t.Fatalf("sample at %d off the %v grid", ts, step)
				}
				if i > 0 && ts != all[i-1]+step.Milliseconds() {
					t.Errorf("no sample between %d and %d: steps missed and never fetched", all[i-1], ts)
				}
			}
			if got := fp.ranges.Load() > 0; got != tc.wantRanges {
				t.Errorf("range queries made: %v, want %v", got, tc.wantRanges)
			}
			if got, want := counterValue(t, reg, "omen_prometheus_caught_up_steps_total", "source", p.Source()) > 0, tc.wantRanges; got != want {
				t.Errorf("omen_prometheus_caught_up_steps_total > 0: %v, want %v", got, want)
			}
		})
	}
}
