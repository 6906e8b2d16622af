package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// streamingHistory's Vectors streams fewer vectors than a page of the
// answer; at the tenth it signals reached and waits for the request's
// context (reqCtx) to end, then counts the vectors fn accepts.
type streamingHistory struct {
	api.HistoryReader
	reached chan<- struct{}
	reqCtx  <-chan context.Context
	after   *atomic.Int64
}

func (h streamingHistory) Vectors(entity string, _, _ int64, fn func(store.Vector) error) error {
	for i := range int64(4000) {
		if i == 10 {
			close(h.reached)
			<-(<-h.reqCtx).Done()
		}
		if err := fn(store.Vector{Entity: entity, T: i, Values: []float64{1}, Failure: []bool{}}); err != nil {
			return err
		}
		if i >= 10 {
			h.after.Add(1)
		}
	}
	return nil
}

// TestHistoryVectorsStopsWhenClientGoes: a client that goes away during a
// history scan (its request cancelled while the reader is within a page)
// stops the reader's scan at its next vector: fn refuses it. The scan
// went on to the end of the page (up to 4096 vectors) before the handler
// looked at the request's context.
func TestHistoryVectorsStopsWhenClientGoes(t *testing.T) {
	st, _ := historyStore(t)
	reached := make(chan struct{})
	reqCtx := make(chan context.Context, 1)
	var after atomic.Int64
	a, err := api.New(api.Options{Backend: &api.MemBackend{}, ListenAddress: "127.0.0.1:0",
		History: streamingHistory{HistoryReader: st, reached: reached, reqCtx: reqCtx, after: &after}})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Handler()
	handled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handled)
		reqCtx <- r.Context()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	errc := make(chan error, 1)
	go func() {
		errc <- api.HistoryClient{Client: &api.Client{URL: srv.URL}}.Vectors(ctx, "ns/a", 0, 1e13, func(store.Vector) error { return nil })
	}()
	<-reached
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client: %v, want context.Canceled", err)
	}
	<-handled
	if n := after.Load(); n != 0 {
		t.Errorf("the scan went on for %d vectors after the request ended, want 0", n)
	}
}
