package stream

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omen-sre/omen/telemetry"
)

// hookAppender keeps each Append's samples and calls onAppend (when set)
// with the number of Appends so far, this one included, before keeping
// them. As a PollObserver, it calls onPolled (when set) with the number
// of Appends so far: after the poll's Append has returned, before the
// next poll.
type hookAppender struct {
	onAppend func(n int)
	onPolled func(n int)
	mu       sync.Mutex
	appends  [][]telemetry.Sample
}

func (a *hookAppender) Polled(string, time.Time) {
	if a.onPolled == nil {
		return
	}
	a.mu.Lock()
	n := len(a.appends)
	a.mu.Unlock()
	a.onPolled(n)
}

func (a *hookAppender) Append(_ context.Context, bs []telemetry.Batch) error {
	a.mu.Lock()
	n := len(a.appends) + 1
	a.mu.Unlock()
	if a.onAppend != nil {
		a.onAppend(n)
	}
	var ss []telemetry.Sample
	for _, b := range bs {
		ss = append(ss, b.Samples...)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.appends = append(a.appends, ss)
	return nil
}

// TestPollerReloadRefetchesPolledStep: a query that SetQueries gives
// another expression, or adds, between two polls is behind from the
// previous poll's step: the next poll fetches that step with the new
// expression, in the Append that first holds a newer step (which the
// daemon's evaluator waits for before evaluating the step). The daemon
// drops a feature's polled values at the reload: the step the previous
// poll fetched, not yet evaluated, was then evaluated without the
// feature's value (null, or a failure label false), and nothing counted
// it. So does a query changed, or removed, and back again by two reloads
// between the polls: the daemon dropped its values at each.
func TestPollerReloadRefetchesPolledStep(t *testing.T) {
	verifyNoLeaks(t) // once the parallel rows have ended
	for _, tc := range []struct {
		name string
		sets []map[string]string // SetQueries' sets, in order, after the second poll's Append
		want map[string]float64  // by query, the value fetched again at that poll's step
	}{
		{name: "changed and added", sets: []map[string]string{{"a": "new", "b": "new"}}, want: map[string]float64{"a": 2, "b": 2}},
		{name: "changed and back", sets: []map[string]string{{"a": "new"}, {"a": "old"}}, want: map[string]float64{"a": 1}},
		{name: "removed and back", sets: []map[string]string{{"z": "new"}, {"a": "old"}}, want: map[string]float64{"a": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each row waits for three polls of a second.
			t.Parallel()
			fp := newReloadProm() // "old" answers 1, "new" 2
			close(fp.release)
			srv := httptest.NewServer(fp)
			defer srv.Close()
			app := &hookAppender{}
			var p *Poller
			// Once the second poll's Append has returned: a SetQueries
			// during an Append waits for it (see Poller.appendMu).
			app.onPolled = func(n int) {
				if n != 2 { // the second poll's Append: the reloads come after it
					return
				}
				for _, set := range tc.sets {
					if err := p.SetQueries(set); err != nil {
						t.Error(err)
					}
				}
			}
			// A step of a second: the catch-up's range query must be
			// answered within a step, which a loaded machine can miss at
			// 200 ms.
			const step = time.Second
			p, reg := catchUpPoller(t, app, srv.URL, map[string]string{"a": "old"}, step)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			// The step of the poll whose Append saw the reload (ms).
			reloadedAt := waitAppendAfterSecond(t, app, "an Append after the reload's step")
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			// The first Append holding a step after the reload's must hold
			// that step fetched again.
			ss, _ := firstAppendAfter(app, reloadedAt)
			for name, v := range tc.want {
				if !hasSample(ss, name, reloadedAt, v) {
					t.Errorf("the first Append after the reload's step %d: no value %v of %s at that step: %v", reloadedAt, v, name, ss)
				}
			}
			if v := counterValue(t, reg, "omen_prometheus_caught_up_steps_total", "source", p.Source()); v < float64(len(tc.want)) {
				t.Errorf("omen_prometheus_caught_up_steps_total = %v, want the reload's step of %d queries at least", v, len(tc.want))
			}
		})
	}
}

// gatedProm answers as reloadProm (fp, its own hold released), but holds
// the second instant query of "old" until release is closed, after
// telling started with its time (ms): the second poll under way while a
// reload changes the query's expression.
type gatedProm struct {
	fp      *reloadProm
	n       atomic.Int32
	started chan int64
	release chan struct{}
}

func (g *gatedProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err == nil && r.Form.Get("query") == "old" && !strings.HasSuffix(r.URL.Path, "/query_range") && g.n.Add(1) == 2 {
		sec, _ := strconv.ParseFloat(r.Form.Get("time"), 64)
		g.started <- int64(math.Round(sec * 1000))
		<-g.release
	}
	g.fp.ServeHTTP(w, r)
}

// TestPollerReloadDuringPollRefetchesStepBefore: SetQueries changing a
// query's expression while a poll's query is under way drops that poll's
// results (see TestPollerDropsResultsOfReplacedExpression); the next poll
// fetches with the new expression the held poll's step and the one before
// it, which the previous poll had fetched and the daemon's reload dropped
// (not evaluated yet: the held poll appended nothing). It was left
// without the feature's value.
func TestPollerReloadDuringPollRefetchesStepBefore(t *testing.T) {
	defer goleak.VerifyNone(t)
	fp := newReloadProm()
	close(fp.release)
	g := &gatedProm{fp: fp, started: make(chan int64, 1), release: make(chan struct{})}
	srv := httptest.NewServer(g)
	defer srv.Close()
	released := false
	defer func() {
		if !released {
			close(g.release)
		}
	}()
	app := &hookAppender{}
	// A step of a second: the catch-up's range query must be answered
	// within a step, which a loaded machine can miss at 200 ms.
	const step = time.Second
	p, _ := catchUpPoller(t, app, srv.URL, map[string]string{"a": "old"}, step)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var heldT int64
	select {
	case heldT = <-g.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no second poll in 10 s")
	}
	if err := p.SetQueries(map[string]string{"a": "new"}); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	released = true
	waitFor(t, "a poll after the held one", func() bool {
		app.mu.Lock()
		defer app.mu.Unlock()
		for _, ss := range app.appends {
			for _, s := range ss {
				if s.T > heldT {
					return true
				}
			}
		}
		return false
	})
	app.mu.Lock()
	defer app.mu.Unlock()
	// The Append holding a step after the held one's.
	var got []telemetry.Sample
	for _, ss := range app.appends {
		if slices.ContainsFunc(ss, func(s telemetry.Sample) bool { return s.T > heldT }) {
			got = ss
			break
		}
	}
	for _, want := range []int64{heldT - step.Milliseconds(), heldT} {
		if !slices.ContainsFunc(got, func(s telemetry.Sample) bool { return s.T == want && s.V == 2 }) {
			t.Errorf("the first Append after the held poll has no value 2 at %d (held poll's step %d): %v", want, heldT, got)
		}
	}
}

// waitAppendAfterSecond waits for an Append of app after the newest step
// of its second Append, and returns that step (ms).
func waitAppendAfterSecond(t *testing.T, app *hookAppender, what string) int64 {
	t.Helper()
	var at int64
	waitFor(t, what, func() bool {
		app.mu.Lock()
		if len(app.appends) < 2 {
			app.mu.Unlock()
			return false
		}
		at = 0
		for _, s := range app.appends[1] {
			at = max(at, s.T)
		}
		app.mu.Unlock()
		_, ok := firstAppendAfter(app, at)
		return ok
	})
	return at
}
