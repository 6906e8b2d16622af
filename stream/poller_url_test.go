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

// A base URL's query string (a proxy's tenant or token) is accepted and
// sent with every query, behind the path the client appends. It was
// refused as a mistake.
func TestPollerURLQueryString(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		jsonResponse(200, `{"status":"success","data":{"resultType":"vector","result":[]}}`)(w)
	}))
	t.Cleanup(srv.Close)
	p, err := NewPoller(&MemAppender{}, PollerOptions{URL: srv.URL + "/prom?tenant=a", Queries: map[string]string{"q": "up"}, RetryBackoff: time.Millisecond}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Eval(context.Background(), time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "POST /prom/api/v1/query?tenant=a" {
		t.Fatalf("requests %q, want [POST /prom/api/v1/query?tenant=a]", got)
	}
}
