package stream

import (
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestPollerReloadAtPollStartCounted: a SetQueries that comes as a poll
// takes its query set is either polled by it, its reload counted, or
// counted at the next poll: the first Append after the previous poll's
// step holds that step fetched again with the new expression. The poll
// took the names of the reloads and loaded the set apart: a SetQueries in
// between was polled (its new expression's value at the poll's step
// appended) with the reload never counted, and the previous poll's step,
// evaluated when that Append passed it, went without the query's value.
// The hook (inTake) starts the SetQueries between the two and waits for
// it for up to 300 ms; with both under reloadMu, it cannot finish before
// the poll has loaded its set, and comes while the poll is under way
// (the server holds the old expression's query until it has returned).
func TestPollerReloadAtPollStartCounted(t *testing.T) {
	verifyNoLeaks(t)
	var p *Poller
	var triggered atomic.Bool
	reloadDone := make(chan struct{})
	fp := &exprProm{vals: map[string]string{"old": "1", "new": "2"}}
	fp.onRequest = func(expr string, ranged bool) error {
		if expr == "old" && triggered.Load() {
			select {
			case <-reloadDone:
			case <-time.After(10 * time.Second):
				t.Error("SetQueries did not return within 10 s")
			}
		}
		return nil
	}
	srv := httptest.NewServer(fp)
	t.Cleanup(srv.Close)
	app := &hookAppender{}
	const step = time.Second
	p, _ = catchUpPoller(t, app, srv.URL, map[string]string{"a": "old"}, step)
	var takes int
	p.inTake = func() { // Run's goroutine only
		if takes++; takes != 2 {
			return
		}
		triggered.Store(true)
		go func() {
			defer close(reloadDone)
			if err := p.SetQueries(map[string]string{"a": "new"}); err != nil {
				t.Error(err)
			}
		}()
		select {
		case <-reloadDone:
		case <-time.After(300 * time.Millisecond):
		}
	}
	t.Cleanup(func() { // after Run has stopped (runPoller's cleanup)
		if triggered.Load() {
			<-reloadDone
		}
	})
	runPoller(t, p)
	var t1 int64 // the first poll's step (ms)
	waitFor(t, "an Append after the first poll's", func() bool {
		app.mu.Lock()
		if len(app.appends) < 1 {
			app.mu.Unlock()
			return false
		}
		t1 = app.appends[0][0].T
		app.mu.Unlock()
		_, ok := firstAppendAfter(app, t1)
		return ok
	})
	if got, _ := firstAppendAfter(app, t1); !hasSample(got, "a", t1, 2) {
		t.Errorf("the first Append after the first poll's (step %d) has no value 2 of a at that step: %v", t1, got)
	}
}
