package stream

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
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
// Append go once the SetQueries has returned or waits for appendMu
// (appendWaiting). Before, SetQueries returned at once
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
			if p.appendWaiting.Load() {
				return // SetQueries waits for the Append
			}
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

// TestPollerReloadWaitBounded: an Append that does not return (a store
// that does not answer) holds SetQueries for appendWait at most: the
// reload's caller holds locks the daemon's steps need, so it must not
// hang with the Append. SetQueries then applies the new set and logs that
// the Append under way may still store the old expression's values.
func TestPollerReloadWaitBounded(t *testing.T) {
	verifyNoLeaks(t)
	fp := newReloadProm()
	close(fp.release)
	srv := httptest.NewServer(fp)
	t.Cleanup(srv.Close)
	stuck, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	app := &hookAppender{}
	app.onAppend = func(int) { // Run's goroutine only
		once.Do(func() { close(stuck) })
		<-release
	}
	p, _ := catchUpPoller(t, app, srv.URL, map[string]string{"q": "old"}, time.Second)
	var logs bytes.Buffer
	var logMu sync.Mutex
	p.logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))
	p.appendWait = 200 * time.Millisecond
	runPoller(t, p)
	t.Cleanup(func() { close(release) }) // before runPoller's cleanup waits for Run
	<-stuck
	done := make(chan error, 1)
	go func() { done <- p.SetQueries(map[string]string{"q": "new"}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("SetQueries still waits for an Append that does not return, 30 s after it began (appendWait 200ms)")
	}
	if got := p.queries.Load().exprs["q"]; got != "new" {
		t.Errorf("query q is %q after SetQueries, want new", got)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "without waiting for the poller's Append") {
		t.Errorf("no warning that the Append under way may store the old values; log:\n%s", logs.String())
	}
}

// lockedWriter serialises writes to w under mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
