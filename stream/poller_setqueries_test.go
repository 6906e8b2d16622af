package stream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

// TestPollerSetQueries: SetQueries swaps the whole query set for the next
// evaluation, rejects an invalid set (keeping the current one) and is safe
// while Run polls.
func TestPollerSetQueries(t *testing.T) {
	defer goleak.VerifyNone(t)
	var mu sync.Mutex
	asked := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		asked[r.Form.Get("query")]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1700000000,"1"]}]}}`))
	}))
	defer srv.Close()
	take := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := asked
		asked = map[string]int{}
		return out
	}
	app := &MemAppender{}
	p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"a": "up_a", "b": "up_b"}, Step: 10 * time.Millisecond},
		prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	at := time.Unix(1700000000, 0)
	if err := p.Eval(ctx, at); err != nil {
		t.Fatal(err)
	}
	if got := take(); len(got) != 2 || got["up_a"] != 1 || got["up_b"] != 1 {
		t.Fatalf("queries asked %v", got)
	}

	if err := p.SetQueries(map[string]string{"a": "up_a2", "c": "up_c"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Eval(ctx, at); err != nil {
		t.Fatal(err)
	}
	if got := take(); len(got) != 2 || got["up_a2"] != 1 || got["up_c"] != 1 {
		t.Fatalf("after SetQueries, queries asked %v", got)
	}
	names := map[string]bool{}
	for _, s := range app.Samples() {
		names[s.Labels.Get("__name__")] = true
	}
	if !names["c"] {
		t.Fatalf("no sample named after the added query: %v", names)
	}

	for _, bad := range []map[string]string{nil, {"a": " "}, {"": "up"}} {
		if err := p.SetQueries(bad); err == nil {
			t.Fatalf("SetQueries(%v) accepted", bad)
		}
	}
	if err := p.Eval(ctx, at); err != nil {
		t.Fatal(err)
	}
	if got := take(); len(got) != 2 || got["up_a2"] != 1 || got["up_c"] != 1 {
		t.Fatalf("an invalid set replaced the current one: queries asked %v", got)
	}

	// Swapping while Run polls (checked by -race).
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx) }()
	for i := range 20 {
		q := map[string]string{"a": "up_a"}
		if i%2 == 1 {
			q["b"] = "up_b"
		}
		if err := p.SetQueries(q); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
