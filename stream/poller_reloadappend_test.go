package stream

import (
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestPollerReloadWaitsForAppend: a SetQueries that changes a query's
// expression after a poll has checked its queries (current), before its
// Append, waits for the Append to return: no result of the old
// expression is appended once SetQueries has returned (the daemon drops
// the feature's polled values then, and those appended after it were
// served under the new definition for the lookback). Nothing is lost:
// the next poll fetches the poll's step again with the new expression.
// The hook (beforeAppend) starts the SetQueries there and lets the
// Append go once the SetQueries has returned or waits for appendMu (a
// writer waiting refuses TryRLock). Before, SetQueries returned at once
// and the poll appended the old expression's value after it.
func TestPollerReloadWaitsForAppend(t *testing.T) {
	verifyNoLeaks(t)
	fp := newReloadProm() // "old" answers 1, "new" 2
	close(fp.release)
	srv := httptest.NewServer(fp)
	t.Cleanup(srv.Close)
	var returned atomic.Bool // SetQueries has returned
	var after []int          // the Appends begun after it (Run's goroutine only)
	app := &hookAppender{}
	app.onAppend = func(n int) {
		if returned.Load() {
			after = append(after, n)
		}
	}
	const step = time.Second
	p, _ := catchUpPoller(t, app, srv.URL, map[string]string{"q": "old"}, step)
	reloadDone := make(chan struct{})
	polls := 0
	p.beforeAppend = func() { // Run's goroutine only
		if polls++; polls != 1 {
			return
		}
		go func() {
			defer close(reloadDone)
			if err := p.SetQueries(map[string]string{"q": "new"}); err != nil {
				t.Error(err)
			}
			returned.Store(true)
		}()
		for {
			select {
			case <-reloadDone:
				return
			default:
			}
			if !p.appendMu.TryRLock() {
				return // SetQueries waits for the Append
			}
			p.appendMu.RUnlock()
			time.Sleep(time.Millisecond)
		}
	}
	t.Cleanup(func() { <-reloadDone }) // after Run has stopped (runPoller's cleanup)
	runPoller(t, p)
	// The first poll's step (ms), then an Append after it.
	var first int64
	waitFor(t, "an Append after the first poll's", func() bool {
		app.mu.Lock()
		if len(app.appends) == 0 {
			app.mu.Unlock()
			return false
		}
		for _, s := range app.appends[0] {
			first = max(first, s.T)
		}
		app.mu.Unlock()
		_, ok := firstAppendAfter(app, first)
		return ok
	})
	<-reloadDone
	app.mu.Lock()
	for _, n := range after {
		for _, s := range app.appends[n-1] {
			if s.V == 1 {
				t.Errorf("Append %d, begun after SetQueries returned, holds the old expression's value at %d", n, s.T)
			}
		}
	}
	app.mu.Unlock()
	if got, _ := firstAppendAfter(app, first); !hasSample(got, "q", first, 2) {
		t.Errorf("the first Append after the first poll's step %d has no value 2 of q at that step: %v", first, got)
	}
}
