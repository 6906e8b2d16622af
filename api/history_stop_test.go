package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
)

// blockingHistory's Vectors streams up to total vectors; at the vector
// blockAt (from the scan's start) it signals reached and waits for
// release to end, then counts the vectors fn accepts. Each call signals
// calls.
type blockingHistory struct {
	api.HistoryReader
	total, blockAt int64
	reached        chan<- struct{}
	release        <-chan struct{}
	after          *atomic.Int64
	calls          chan<- struct{}
}

func (h blockingHistory) Vectors(entity string, from, _ int64, fn func(store.Vector) error) error {
	if h.calls != nil {
		h.calls <- struct{}{}
	}
	for i := max(from, 0); i < h.total; i++ {
		if i == h.blockAt {
			close(h.reached)
			<-h.release
		}
		if err := fn(store.Vector{Entity: entity, T: i, Values: []float64{1}, Failure: []bool{}}); err != nil {
			return err
		}
		if i >= h.blockAt {
			h.after.Add(1)
		}
	}
	return nil
}

// heldStop is omen's stop (Options.Stop) as seen in the gap before the
// goroutines of context.AfterFunc run: its Err reports the stop at once
// (stop), its Done closes only at release. The gap, short and rare, is
// held open for a test.
type heldStop struct {
	context.Context
	done chan struct{}
}

func (h heldStop) Done() <-chan struct{} { return h.done }

// newHeldStop returns a heldStop, the function that stops it and the
// one that releases it (also at t.Cleanup).
func newHeldStop(t *testing.T) (h heldStop, stop, release func()) {
	ctx, cancel := context.WithCancel(t.Context())
	h = heldStop{Context: ctx, done: make(chan struct{})}
	release = sync.OnceFunc(func() { close(h.done) })
	t.Cleanup(release)
	t.Cleanup(cancel)
	return h, cancel, release
}

// TestHistoryVectorsStopsWhenOmenStops: omen stopping (Options.Stop)
// stops a history stream's scan at its next vector, as a client going
// away does: before its first page is sent the answer is 503
// unavailable, after it the stream is cut (no end line). The scan went
// on to its end: http.Server.Shutdown waits for a request without
// ending its context. Options.Stop cancels the request's context from
// a goroutine of its own, a little later (held: that gap held open):
// the scan went on in the gap, to the end when held.
func TestHistoryVectorsStopsWhenOmenStops(t *testing.T) {
	st, _ := historyStore(t)
	for _, tc := range []struct {
		name    string
		blockAt int64
		held    bool
		want    string
	}{
		{"before the first page", 10, false, "(503 unavailable)"},
		{"after the first page", 4096 + 10, false, "cut after"},
		{"before the first page, held", 10, true, "(503 unavailable)"},
		{"after the first page, held", 4096 + 10, true, "cut after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				stop    context.Context
				stopNow func()
				release <-chan struct{}
			)
			if tc.held {
				h, hstop, _ := newHeldStop(t)
				stop, stopNow, release = h, hstop, h.Context.Done()
			} else {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				stop, stopNow, release = ctx, cancel, ctx.Done()
			}
			reached := make(chan struct{})
			var after atomic.Int64
			srv := newServer(t, &api.MemBackend{}, api.Options{Stop: stop,
				History: blockingHistory{HistoryReader: st, total: 10_000, blockAt: tc.blockAt, reached: reached, release: release, after: &after}})
			errc := make(chan error, 1)
			go func() {
				errc <- api.HistoryClient{Client: &api.Client{URL: srv.URL}}.Vectors(t.Context(), "ns/a", 0, 1e13, func(store.Vector) error { return nil })
			}()
			<-reached
			stopNow()
			if err := <-errc; err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("client: %v; want %s", err, tc.want)
			}
			srv.Close() // waits for the handler
			if n := after.Load(); n != 0 {
				t.Errorf("the scan went on for %d vectors after omen stopped, want 0", n)
			}
		})
	}
}

// TestHistoryVectorsStopWithStalledClient: omen stopping ends a history
// stream whose client stopped reading at once, its write waiting on the
// client included; it waited for the write timeout (here 10 minutes),
// holding the daemon's stop (for up to its shutdown timeout, then the
// server closed the connection).
func TestHistoryVectorsStopWithStalledClient(t *testing.T) {
	st, _ := historyStore(t)
	stop, stopNow := context.WithCancel(t.Context())
	defer stopNow()
	calls := make(chan struct{}, 100)
	var after atomic.Int64
	a, err := api.New(api.Options{Backend: &api.MemBackend{}, ListenAddress: "127.0.0.1:0", Stop: stop, WriteTimeout: 10 * time.Minute,
		History: blockingHistory{HistoryReader: st, total: 1 << 40, blockAt: -1, after: &after, calls: calls}})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Handler()
	handled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handled)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	conn := testenv.DialStalling(t, srv.Listener.Addr().String())
	fmt.Fprintf(conn, "GET %s?entity=ns%%2Fa HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", api.HistoryVectorsPath)
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("history: %s", resp.Status)
	}
	// The client reads nothing more. Two pages read: the first is
	// written; the handler blocks writing the second, or soon will.
	<-calls
	<-calls
	time.Sleep(200 * time.Millisecond)
	stopNow()
	select {
	case <-handled:
	case <-time.After(time.Minute):
		t.Fatal("the history stream still runs a minute after omen stopped (write timeout 10 minutes)")
	}
}
