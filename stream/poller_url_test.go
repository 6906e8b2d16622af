package stream

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"

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

// TestPollerURLQueryValuesHidden: a token in the base URL's query string
// is sent, but hidden in the poller's source (a metric label and log
// attribute of every record), in its logs and in its query errors,
// transport errors included (Post "URL": …, the request's URL with the
// query string). It was shown in all of them.
func TestPollerURLQueryValuesHidden(t *testing.T) {
	u := fmt.Sprintf("http://127.0.0.1:%d/prom?access_token=s3cretTok", testenv.FreePort(t)) // nothing listens
	reg := prometheus.NewRegistry()
	var log testenv.SyncBuffer
	p, err := NewPoller(&MemAppender{}, PollerOptions{URL: u, Queries: map[string]string{"q": "up"}, MaxRetries: 1, RetryBackoff: time.Millisecond},
		reg, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	want := "prometheus/" + strings.Replace(u, "s3cretTok", "xxxxx", 1)
	if p.Source() != want {
		t.Errorf("source %q, want %q", p.Source(), want)
	}
	err = p.Eval(context.Background(), time.Unix(1700000000, 0))
	if err == nil || strings.Contains(err.Error(), "s3cretTok") || !strings.Contains(err.Error(), "access_token=xxxxx") {
		t.Errorf("Eval error %v: want the URL with its token hidden", err)
	}
	if strings.Contains(log.String(), "s3cretTok") {
		t.Errorf("log shows the token:\n%s", log.String())
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(mfs); strings.Contains(s, "s3cretTok") {
		t.Errorf("metrics show the token: %s", s)
	}
}

// TestPollerSourceName: a named poller's source is prometheus/<name>,
// so pollers whose URLs differ only in hidden parts (every query value:
// a prom-label-proxy's ?namespace=) have distinct sources (a metric label
// and the key of the evaluator's per-poller staleness); an unnamed one's
// is its URL with every query value and the password hidden.
func TestPollerSourceName(t *testing.T) {
	for _, tc := range []struct{ name, url, want string }{
		{"", "http://plp:8080/?namespace=team-a", "prometheus/http://plp:8080/?namespace=xxxxx"},
		{"", "http://plp:8080/?namespace=team-b&access_token=s3cret", "prometheus/http://plp:8080/?namespace=xxxxx&access_token=xxxxx"},
		{"", "http://omen:s3cret@plp:8080/", "prometheus/http://omen:xxxxx@plp:8080"},
		{"team-a", "http://plp:8080/?namespace=team-a", "prometheus/team-a"},
		{"team-b", "http://plp:8080/?namespace=team-b&access_token=s3cret", "prometheus/team-b"},
	} {
		p, err := NewPoller(&MemAppender{}, PollerOptions{URL: tc.url, Name: tc.name, Queries: map[string]string{"q": "up"}}, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.Source() != tc.want || PollerSource(tc.name, tc.url) != tc.want {
			t.Errorf("%q %q: source %q, PollerSource %q, want %q", tc.name, tc.url, p.Source(), PollerSource(tc.name, tc.url), tc.want)
		}
	}
}
