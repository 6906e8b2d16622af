package stream

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// captureHandler is a slog.Handler that keeps every record.
type captureHandler struct {
	mu      *sync.Mutex
	records *[]slog.Record
}

func newCaptureHandler() captureHandler {
	return captureHandler{mu: &sync.Mutex{}, records: &[]slog.Record{}}
}

func (captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, r.Clone())
	return nil
}

func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h captureHandler) WithGroup(string) slog.Handler      { return h }

// byQuery returns the records whose "query" attribute is query, by level.
func (h captureHandler) byQuery(query string) map[slog.Level][]slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[slog.Level][]slog.Record{}
	for _, r := range *h.records {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "query" && a.Value.String() == query {
				out[r.Level] = append(out[r.Level], r)
				return false
			}
			return true
		})
	}
	return out
}

// countingTransport counts the requests to each URL path.
type countingTransport struct {
	tr    *http.Transport
	mu    sync.Mutex
	paths map[string]int
}

// newCountingTransport returns a countingTransport whose idle
// connections are closed at t's end.
func newCountingTransport(t *testing.T) *countingTransport {
	c := &countingTransport{tr: &http.Transport{}, paths: map[string]int{}}
	t.Cleanup(c.tr.CloseIdleConnections)
	return c
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.paths[r.URL.Path]++
	c.mu.Unlock()
	return c.tr.RoundTrip(r)
}

func (c *countingTransport) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paths[path]
}

// A URL whose path is wrong gets a 404 from Prometheus: the query error
// names the server (its password hidden) and says the path looks wrong,
// and the query is not retried. A path Prometheus is served under (a
// reverse proxy) works.
func TestPollerURLPath(t *testing.T) {
	verifyNoLeaks(t)
	promURL := testenv.Prometheus(t, "")
	target, err := url.Parse(promURL)
	if err != nil {
		t.Fatal(err)
	}
	// A reverse proxy serving Prometheus under /prometheus.
	rp := httputil.NewSingleHostReverseProxy(target)
	rpTransport := &http.Transport{}
	rp.Transport = rpTransport
	mux := http.NewServeMux()
	mux.Handle("/prometheus/", http.StripPrefix("/prometheus", rp))
	srv := httptest.NewServer(mux)
	t.Cleanup(rpTransport.CloseIdleConnections)
	t.Cleanup(srv.Close)
	proxy := srv.URL

	withUser := strings.Replace(promURL, "http://", "http://omen:s3cret@", 1)
	for _, tc := range []struct {
		name, url string
		wantErr   []string
	}{
		{name: "wrong path", url: promURL + "/wrong", wantErr: []string{"prometheus " + promURL + "/wrong: ", "404", "path looks wrong", "without /api/v1"}},
		{name: "wrong path with password", url: withUser + "/wrong", wantErr: []string{"omen:xxxxx@" + strings.TrimPrefix(promURL, "http://") + "/wrong", "path looks wrong"}},
		{name: "base URL", url: promURL},
		{name: "behind a proxy", url: proxy + "/prometheus"},
		{name: "behind a proxy, trailing slash", url: proxy + "/prometheus/"},
		{name: "proxy without its path", url: proxy, wantErr: []string{"prometheus " + proxy + ": ", "path looks wrong"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newCountingTransport(t)
			p, err := NewPoller(&MemAppender{}, PollerOptions{
				URL: tc.url, Queries: map[string]string{"q": "vector(1)"}, RoundTripper: tr,
				MaxRetries: 2, RetryBackoff: time.Millisecond,
			}, prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Eval(context.Background(), time.Now())
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Eval: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Eval succeeded")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(p.Source(), "s3cret") {
				t.Errorf("password shown: error %q, source %q", err, p.Source())
			}
			u, _ := url.Parse(tc.url)
			if n := tr.count(strings.TrimSuffix(u.Path, "/") + "/api/v1/query"); n != 1 {
				t.Errorf("%d queries, want 1 (a 404 is not retried)", n)
			}
		})
	}
}

func TestCheckPrometheusURL(t *testing.T) {
	for _, tc := range []struct {
		url, wantErr string
	}{
		{url: "http://127.0.0.1:9090"},
		{url: "https://prom.example/"},
		{url: "http://proxy:8080/prometheus"},
		{url: "http://omen:s3cret@proxy:8080/prometheus/"},
		{url: "http://proxy/api/v1x"},
		{url: "http://proxy/xapi/v1"},
		// /api/v1 followed by no endpoint of the API: a path of the base
		// URL (the Kubernetes API server's proxy of a service).
		{url: "http://proxy/api/v1/prom"},
		{url: "https://kube-apiserver:6443/api/v1/namespaces/monitoring/services/prometheus-k8s:web/proxy"},
		// A query string is sent with every query (a proxy's tenant, a token).
		{url: "http://p:9090/?x=1"},
		{url: "http://p:9090/prom?tenant=a&token=b"},
		{url: "http://p:9090/?"},
		{url: "", wantErr: "not an http(s) URL"},
		{url: "ftp://x", wantErr: "not an http(s) URL"},
		{url: "ftp://u:s3cretpw@x/prom", wantErr: `"ftp://u:xxxxx@x/prom" is not an http(s) URL`},
		{url: "127.0.0.1:9090", wantErr: "not an http(s) URL"},
		{url: "http:///x", wantErr: "not an http(s) URL"},
		{url: "http://p:9090/api/v1", wantErr: `holds the API's path /api/v1: give Prometheus's base URL, "http://p:9090" (omen adds`},
		{url: "http://p:9090/api/v1/", wantErr: `base URL, "http://p:9090" (`},
		{url: "http://p:9090/prom/api/v1/query", wantErr: `base URL, "http://p:9090/prom" (`},
		{url: "http://p:9090/api/v1/query_range", wantErr: `base URL, "http://p:9090" (`},
		// Any endpoint of the API, not only the query endpoints: each 404s.
		{url: "http://p:9090/prom/api/v1/labels", wantErr: `base URL, "http://p:9090/prom" (`},
		{url: "http://p:9090/api/v1/status/config", wantErr: `base URL, "http://p:9090" (`},
		{url: "http://p:9090/prom/api/v1?tenant=a", wantErr: `base URL, "http://p:9090/prom?tenant=xxxxx", with the parts shown as xxxxx put back from your URL (hidden here) (omen adds`},
		{url: "http://p:9090/prom/api/v1?tenant=a&access_token=t0ken", wantErr: `base URL, "http://p:9090/prom?tenant=xxxxx&access_token=xxxxx", with the parts shown as xxxxx put back from your URL (hidden here) (`},
		// The suggestion has no user information (a copy would send
		// "xxxxx" as the password), and says so.
		{url: "http://omen:s3cret@p:9090/api/v1", wantErr: `URL "http://omen:xxxxx@p:9090/api/v1" holds the API's path /api/v1: give Prometheus's base URL, "http://p:9090", with the user information of your URL put back before the host (hidden here)`},
		{url: "http://t0ken@p:9090/prom/api/v1/", wantErr: `base URL, "http://p:9090/prom", with the user information`},
		{url: "http://p:9090/#top", wantErr: "has a fragment"},
		{url: "http://p:9090/?x=1#top", wantErr: "has a fragment"},
		{url: "http://omen:s3cret@p:9090/#", wantErr: `"http://omen:xxxxx@p:9090/#" has a fragment`},
	} {
		err := CheckPrometheusURL(tc.url)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("CheckPrometheusURL(%q) = %v", tc.url, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("CheckPrometheusURL(%q) = %v, want %q", tc.url, err, tc.wantErr)
		case err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0ken") || strings.Contains(err.Error(), "xxxxx@p:9090\"")):
			t.Errorf("CheckPrometheusURL(%q) = %v: password shown", tc.url, err)
		}
		// NewPoller applies the same check.
		_, perr := NewPoller(&MemAppender{}, PollerOptions{URL: tc.url, Queries: map[string]string{"a": "up"}}, nil, nil)
		if (perr == nil) != (err == nil) {
			t.Errorf("NewPoller with URL %q: %v, CheckPrometheusURL: %v", tc.url, perr, err)
		}
	}
}

// A query Prometheus refuses (a PromQL syntax error) is sent once a poll,
// not retried; it is logged as a warning at its first failure, at debug
// level while the error stays the same, as a warning again when the error
// changes, and at info when it succeeds again. The failures are counted.
func TestPollerRefusedQueryLogsOnce(t *testing.T) {
	verifyNoLeaks(t)
	promURL := testenv.Prometheus(t, "")
	tr := newCountingTransport(t)
	h := newCaptureHandler()
	reg := prometheus.NewRegistry()
	const step = 40 * time.Millisecond
	p, err := NewPoller(&MemAppender{}, PollerOptions{
		URL:          promURL,
		Queries:      map[string]string{"bad": "rate(up[5m]", "good": "vector(1)"},
		Step:         step,
		RoundTripper: tr,
		MaxRetries:   3, RetryBackoff: time.Millisecond,
	}, reg, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	runPoller(t, p)
	waitFor(t, "8 failed polls", func() bool {
		return counterValue(t, reg, "omen_prometheus_queries_total", "outcome", "error") >= 8
	})
	recs := h.byQuery("bad")
	if n := len(recs[slog.LevelWarn]); n != 1 {
		t.Fatalf("%d warnings for the refused query, want 1: %v", n, recs[slog.LevelWarn])
	}
	if n := len(recs[slog.LevelDebug]); n < 6 {
		t.Errorf("%d debug records for the refused query, want at least 6", n)
	}
	warn := recs[slog.LevelWarn][0]
	var msg string
	warn.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			msg = a.Value.String()
		}
		return true
	})
	if !strings.Contains(msg, "bad_data") || !strings.Contains(msg, "prometheus "+promURL) {
		t.Errorf("warning's err %q, want bad_data from %s", msg, promURL)
	}
	if n := len(h.byQuery("good")[slog.LevelWarn]); n != 0 {
		t.Errorf("%d warnings for the good query", n)
	}
	// Each poll sends each query once: the refused one is not retried.
	if e := counterValue(t, reg, "omen_prometheus_queries_total", "outcome", "error"); e < 8 {
		t.Errorf("omen_prometheus_queries_total{outcome=error} = %v, want at least 8", e)
	}
	if r := counterValue(t, reg, "omen_prometheus_queries_total", "outcome", "retry"); r != 0 {
		t.Errorf("omen_prometheus_queries_total{outcome=retry} = %v, want 0", r)
	}
	if q, e := tr.count("/api/v1/query"), counterValue(t, reg, "omen_prometheus_queries_total", "outcome", "error"); float64(q) > 2*e+2 {
		t.Errorf("%d queries for %v failures: retried", q, e)
	}

	// Another error: a warning again.
	if err := p.SetQueries(map[string]string{"bad": "sum(", "good": "vector(1)"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a second warning", func() bool { return len(h.byQuery("bad")[slog.LevelWarn]) == 2 })
	// Fixed: an info record, then nothing more.
	if err := p.SetQueries(map[string]string{"bad": "vector(2)", "good": "vector(1)"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recovery", func() bool { return len(h.byQuery("bad")[slog.LevelInfo]) == 1 })
	before := len(h.byQuery("bad")[slog.LevelDebug])
	time.Sleep(4 * step)
	recs = h.byQuery("bad")
	if len(recs[slog.LevelWarn]) != 2 || len(recs[slog.LevelInfo]) != 1 || len(recs[slog.LevelDebug]) != before {
		t.Errorf("after the recovery: %d warnings, %d infos, %d debug records (%d before)",
			len(recs[slog.LevelWarn]), len(recs[slog.LevelInfo]), len(recs[slog.LevelDebug]), before)
	}
}
