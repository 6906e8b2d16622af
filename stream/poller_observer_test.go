package stream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// observingAppender is a MemAppender that records the polls reported to
// it (PollObserver).
type observingAppender struct {
	MemAppender
	mu     sync.Mutex
	source []string
	polls  []time.Time
}

func (o *observingAppender) Polled(source string, t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.source = append(o.source, source)
	o.polls = append(o.polls, t)
}

func (o *observingAppender) reported() ([]string, []time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.source...), append([]time.Time(nil), o.polls...)
}

// emptyPrometheus serves the query API: every query succeeds with no
// series, or, with refuse, fails with bad_data.
func emptyPrometheus(t *testing.T, refuse bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case refuse:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"parse error"}`))
		case r.URL.Path == "/api/v1/query_range":
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`))
		default:
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A poll whose queries succeed with no series appends nothing, yet is
// reported to a PollObserver appender with its time (Run's polls on the
// step grid, Backfill's newest step, Eval's time): the daemon counted
// the steps after such polls as evaluated without their polled values
// (Prometheus unreachable or slow). Failed polls are not reported.
func TestPollerReportsEmptyPolls(t *testing.T) {
	verifyNoLeaks(t)
	const step = 40 * time.Millisecond
	newPoller := func(t *testing.T, refuse bool) (*Poller, *observingAppender) {
		app := &observingAppender{}
		p, err := NewPoller(app, PollerOptions{
			URL: emptyPrometheus(t, refuse), Queries: map[string]string{"a": "up == 0", "b": "vector(1) unless vector(1)"},
			Step: step, RoundTripper: newCountingTransport(t), MaxRetries: 1, RetryBackoff: time.Millisecond,
		}, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return p, app
	}
	run := func(t *testing.T, p *Poller, polls int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(polls)*step+step/2)
		defer cancel()
		if err := p.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("Run", func(t *testing.T) {
		p, app := newPoller(t, false)
		run(t, p, 6)
		sources, polls := app.reported()
		if len(polls) < 3 {
			t.Fatalf("%d polls reported, want at least 3: %v", len(polls), polls)
		}
		for i, pt := range polls {
			if sources[i] != p.Source() {
				t.Errorf("poll reported by source %q, want %q", sources[i], p.Source())
			}
			if !FloorStep(pt, step).Equal(pt) {
				t.Errorf("poll at %s, off the step grid", pt)
			}
			if i > 0 && !pt.After(polls[i-1]) {
				t.Errorf("polls reported out of order: %v", polls)
			}
		}
		if n := app.Calls(); n != 0 {
			t.Errorf("%d Appends of no samples", n)
		}
	})
	t.Run("Run, queries refused", func(t *testing.T) {
		p, app := newPoller(t, true)
		run(t, p, 3)
		if _, polls := app.reported(); len(polls) != 0 {
			t.Errorf("failed polls reported: %v", polls)
		}
	})
	t.Run("Backfill", func(t *testing.T) {
		p, app := newPoller(t, false)
		end := time.UnixMilli(1_700_000_000_010)
		if err := p.Backfill(context.Background(), end.Add(-10*step), end.Add(step/2)); err != nil { // end: the newest step
			t.Fatal(err)
		}
		_, polls := app.reported()
		if len(polls) != 1 || !polls[0].Equal(end) {
			t.Errorf("backfill reported %v, want [%s]", polls, end)
		}
	})
	t.Run("Eval", func(t *testing.T) {
		p, app := newPoller(t, false)
		ts := time.UnixMilli(1_700_000_000_000)
		if err := p.Eval(context.Background(), ts); err != nil {
			t.Fatal(err)
		}
		p2, app2 := newPoller(t, true)
		if err := p2.Eval(context.Background(), ts); err == nil {
			t.Fatal("Eval of refused queries succeeded")
		}
		_, polls := app.reported()
		_, polls2 := app2.reported()
		if len(polls) != 1 || !polls[0].Equal(ts) || len(polls2) != 0 {
			t.Errorf("Eval reported %v, refused %v; want [%s] and none", polls, polls2, ts)
		}
	})
}
