package stream

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/errclass"
)

// logFailures logs the live polls of the poll at next of the queries of
// qs as Run does, failed (by query name; the others succeeded).
func (p *Poller) logFailures(failing *errclass.Tracker[string], qs *querySet, next time.Time, failed map[string]error) {
	p.forgetRemoved(failing, qs, next)
	for _, name := range qs.names {
		p.logOutcome(failing, qs, next, name, failed[name])
	}
}

// A failing query that SetQueries removes gets a closing INFO record,
// with how many polls it failed, as one that succeeds again does; it
// left its failure open (a WARN, then nothing).
func TestPollerFailingQueryRemovedLogged(t *testing.T) {
	h := newCaptureHandler()
	p, err := NewPoller(&MemAppender{}, PollerOptions{URL: "http://127.0.0.1:9", Queries: map[string]string{"a": "up", "b": "up"}}, nil, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	both := p.queries.Load()
	var failing errclass.Tracker[string]
	t0 := time.Unix(1700000000, 0)
	boom := errors.New("boom")
	p.logFailures(&failing, both, t0, map[string]error{"a": boom})
	p.logFailures(&failing, both, t0.Add(time.Second), map[string]error{"a": boom})
	if err := p.SetQueries(map[string]string{"b": "up"}); err != nil {
		t.Fatal(err)
	}
	p.logFailures(&failing, p.queries.Load(), t0.Add(2*time.Second), nil)
	infos := h.byQuery("a")[slog.LevelInfo]
	if len(infos) != 1 || infos[0].Message != "query no longer polled" {
		t.Fatalf("INFO records of the removed query %v, want one 'query no longer polled'", infos)
	}
	polls := int64(-1)
	infos[0].Attrs(func(a slog.Attr) bool {
		if a.Key == "failed_polls" {
			polls = a.Value.Int64()
		}
		return true
	})
	if polls != 2 || failing.Len() != 0 {
		t.Fatalf("failed_polls %d, want 2; failing %v, want none", polls, failing.Len())
	}
	if r := h.byQuery("b"); len(r) != 0 {
		t.Fatalf("records of the query that never failed: %v", r)
	}
}
