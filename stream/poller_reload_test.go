package stream

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

// reloadProm answers the instant and range queries of "old" with 1 and
// of "new" with 2, at every time asked. Its first query of "old" (instant
// or range) waits until release is closed, after telling started: a poll
// under way while a reload changes the query's expression.
type reloadProm struct {
	started, release chan struct{}
	once             sync.Once
	heldT            int64 // the time of the held instant query (ms), set before started is closed
}

func newReloadProm() *reloadProm {
	return &reloadProm{started: make(chan struct{}), release: make(chan struct{})}
}

func (f *reloadProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	v := map[string]string{"old": "1", "new": "2"}[r.Form.Get("query")]
	if r.Form.Get("query") == "old" {
		first := false
		f.once.Do(func() { first = true })
		if first {
			sec, _ := strconv.ParseFloat(r.Form.Get("time"), 64)
			f.heldT = int64(math.Round(sec * 1000))
			close(f.started)
			<-f.release
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if strings.HasSuffix(r.URL.Path, "/query_range") {
		from, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
		to, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
		step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
		var pts []string
		for t := from; t <= to+step/1000; t += step {
			pts = append(pts, fmt.Sprintf(`[%.3f,%q]`, t, v))
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"pod":"a"},"values":[%s]}]}}`, strings.Join(pts, ","))
		return
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[%s,%q]}]}}`, r.Form.Get("time"), v)
}

// TestPollerDropsResultsOfReplacedExpression: a poll under way when
// SetQueries (a configuration reload) changes a query's expression
// appends none of the old expression's results: the daemon's reload
// drops the feature's polled values right after SetQueries, and the old
// values appended after it were served under the new definition for the
// lookback delta. The poll's step is fetched again with the new
// expression by the next poll's catch-up. Before, the poll appended
// value 1 (old) after the reload.
func TestPollerDropsResultsOfReplacedExpression(t *testing.T) {
	defer goleak.VerifyNone(t)
	fp := newReloadProm()
	srv := httptest.NewServer(fp)
	defer srv.Close()
	defer func() {
		select {
		case <-fp.release:
		default:
			close(fp.release)
		}
	}()
	app := &MemAppender{}
	const step = 100 * time.Millisecond
	p, _ := catchUpPoller(t, app, srv.URL, map[string]string{"q": "old"}, step)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.RunAfter(ctx, time.Time{}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	select {
	case <-fp.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no poll in 10 s")
	}
	if err := p.SetQueries(map[string]string{"q": "new"}); err != nil {
		t.Fatal(err)
	}
	close(fp.release)
	// The next poll appends the held poll's step, fetched again with
	// the new expression, with its own.
	waitFor(t, "a poll after the held one", func() bool {
		app.mu.Lock()
		defer app.mu.Unlock()
		for _, b := range app.batches {
			for _, s := range b.Samples {
				if s.T > fp.heldT {
					return true
				}
			}
		}
		return false
	})
	app.mu.Lock()
	defer app.mu.Unlock()
	refetched := false
	for _, b := range app.batches {
		for _, s := range b.Samples {
			if s.V != 2 {
				t.Errorf("sample at %d of value %v: the replaced expression's", s.T, s.V)
			}
			refetched = refetched || s.T == fp.heldT && s.V == 2
		}
	}
	if !refetched {
		t.Errorf("the held poll's step %d not fetched again with the new expression", fp.heldT)
	}
}

// TestPollerEvalDropsResultsOfReplacedExpression: Eval, its query under
// way while SetQueries changes its expression, appends none of the old
// expression's results, and those of the query the reload kept; the
// query did not fail. Before, it appended value 1 (old).
func TestPollerEvalDropsResultsOfReplacedExpression(t *testing.T) {
	defer goleak.VerifyNone(t)
	fp := newReloadProm()
	srv := httptest.NewServer(fp)
	defer srv.Close()
	app := &MemAppender{}
	p, _ := catchUpPoller(t, app, srv.URL, map[string]string{"q": "old", "b": "new"}, time.Second)
	done := make(chan error, 1)
	go func() { done <- p.Eval(context.Background(), time.Unix(1700000000, 0)) }()
	<-fp.started
	if err := p.SetQueries(map[string]string{"q": "new", "b": "new"}); err != nil {
		close(fp.release)
		t.Fatal(err)
	}
	close(fp.release)
	if err := <-done; err != nil {
		t.Fatalf("Eval: %v", err)
	}
	for _, s := range app.Samples() {
		if s.V != 2 {
			t.Errorf("sample %s at %d of value %v: the replaced expression's", s.Labels, s.T, s.V)
		}
	}
	if n := len(app.Samples()); n != 1 {
		t.Errorf("%d samples, want b's alone", n)
	}
}

// TestPollerBackfillDropsResultsOfReplacedExpression: a Backfill chunk
// under way while SetQueries changes a query's expression appends none
// of the old expression's results; the next chunk uses the new one.
// Before, the chunk appended value 1 (old).
func TestPollerBackfillDropsResultsOfReplacedExpression(t *testing.T) {
	defer goleak.VerifyNone(t)
	fp := newReloadProm()
	srv := httptest.NewServer(fp)
	defer srv.Close()
	app := &MemAppender{}
	reg := prometheus.NewRegistry()
	p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"q": "old", "b": "new"}, Step: time.Second,
		MaxPointsPerQuery: 10, Timeout: 5 * time.Second}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1700000000, 0)
	done := make(chan error, 1)
	go func() { done <- p.Backfill(context.Background(), start, start.Add(19*time.Second)) }() // two chunks of 10 steps
	<-fp.started
	if err := p.SetQueries(map[string]string{"q": "new", "b": "new"}); err != nil {
		close(fp.release)
		t.Fatal(err)
	}
	close(fp.release)
	if err := <-done; err != nil {
		t.Fatalf("Backfill: %v", err)
	}
	n := map[string]int{}
	for _, s := range app.Samples() {
		n[s.Labels.Get("__name__")]++
		if s.V != 2 {
			t.Errorf("sample %s at %d of value %v: the replaced expression's", s.Labels, s.T, s.V)
		}
	}
	if n["b"] != 20 || n["q"] != 10 {
		t.Errorf("samples by query %v, want b's 20 steps and q's 10 of the second chunk", n)
	}
}
