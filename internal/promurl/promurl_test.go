package promurl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// TestCheck: a path ending with the API's path (/api/v1, or /api/v1/ and
// an endpoint of the API) is refused, with the base URL to give; any other
// path is a base URL, /api/v1 in it or not: the Kubernetes API server's
// proxy of a Prometheus service (…/api/v1/namespaces/…/proxy) was refused.
func TestCheck(t *testing.T) {
	for _, tc := range []struct{ url, wantErr string }{
		{url: "http://127.0.0.1:9090"},
		{url: "http://proxy/prometheus/"},
		{url: "https://kube-apiserver:6443/api/v1/namespaces/monitoring/services/prometheus-k8s:web/proxy"},
		{url: "https://kube-apiserver:6443/api/v1/namespaces/monitoring/services/prometheus-k8s:web/proxy/"},
		{url: "http://p/api/v1x"},
		{url: "http://p:9090/api/v1", wantErr: `give Prometheus's base URL, "http://p:9090"`},
		{url: "http://p:9090/api/v1/", wantErr: `give Prometheus's base URL, "http://p:9090"`},
		{url: "http://p:9090/prom/api/v1/query", wantErr: `give Prometheus's base URL, "http://p:9090/prom"`},
		{url: "http://p:9090/prom/api/v1/query_range?access_token=s3cret", wantErr: `give Prometheus's base URL, "http://p:9090/prom?access_token=xxxxx", with the parts shown as xxxxx put back from your URL (hidden here)`},
		// Every query value hidden, whatever its name, and said so; an
		// "@" in the path keeps the host (http://xxxxx@x was suggested).
		{url: "http://prom:9090/api/v1?ns=a&pwd=s3cret", wantErr: `give Prometheus's base URL, "http://prom:9090?ns=xxxxx&pwd=xxxxx", with the parts shown as xxxxx put back from your URL (hidden here)`},
		{url: "http://prom-a/team@x/api/v1", wantErr: `URL "http://xxxxx@x/api/v1" holds the API's path /api/v1: give Prometheus's base URL, "http://xxxxx@x", with the parts shown as xxxxx put back from your URL (hidden here) (omen adds`},
		// The IPv6 zone's "%" stays escaped, and nothing is hidden.
		{url: "http://[fe80::1%25en0]:9090/api/v1", wantErr: `give Prometheus's base URL, "http://[fe80::1%25en0]:9090" (omen adds`},
		{url: "http://t0ken@prom-a/team@x/api/v1?ns=a", wantErr: `give Prometheus's base URL, "http://xxxxx@x?ns=xxxxx", with the user information of your URL put back before the host and the parts shown as xxxxx put back from your URL (hidden here)`},
		{url: "http://p:9090/api/v1/label/job/values", wantErr: `give Prometheus's base URL, "http://p:9090"`},
		{url: "http://p:9090/api/v1/status/buildinfo", wantErr: `give Prometheus's base URL, "http://p:9090"`},
		{
			url:     "https://kube-apiserver:6443/api/v1/namespaces/monitoring/services/prometheus-k8s:web/proxy/api/v1/query",
			wantErr: `give Prometheus's base URL, "https://kube-apiserver:6443/api/v1/namespaces/monitoring/services/prometheus-k8s:web/proxy"`,
		},
	} {
		err := Check(tc.url)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("Check(%q): %v", tc.url, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("Check(%q): %v, want %q", tc.url, err, tc.wantErr)
		case err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0ken")):
			t.Errorf("Check(%q): %v: secret shown", tc.url, err)
		}
	}
}

// TestQueryErrorHidesQueryValues: a query's error names the server with
// its query's values hidden, in its own text and in the client's error
// (Post "URL": …, the request's URL holding the base URL's query string):
// a token there was shown.
func TestQueryErrorHidesQueryValues(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{name: "transport error", handler: func(w http.ResponseWriter, _ *http.Request) {
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			_ = c.Close()
		}},
		{name: "404", handler: http.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			base := srv.URL + "/prom?access_token=s3cretTok"
			c, err := api.NewClient(api.Config{Address: base})
			if err != nil {
				t.Fatal(err)
			}
			_, _, _, err = v1.NewAPI(c).Query(context.Background(), "up", time.Unix(1700000000, 0))
			if err == nil {
				t.Fatal("no error")
			}
			qe := QueryError(base, err)
			if msg := qe.Error(); strings.Contains(msg, "s3cretTok") || !strings.Contains(msg, "access_token=xxxxx") {
				t.Errorf("QueryError: %s", msg)
			}
			if !errors.Is(qe, err) {
				t.Errorf("QueryError %v does not wrap %v", qe, err)
			}
		})
	}
}

// TestQueryErrorCredentials: a 401, 403 or 407 answer (Prometheus's
// --web.config.file basic_auth_users, a proxy) says the credentials are
// refused, where the client's error said only "client error: 401"; other
// statuses do not.
func TestQueryErrorCredentials(t *testing.T) {
	for _, tc := range []struct {
		status int
		hint   bool
	}{{401, true}, {403, true}, {407, true}, {400, false}, {429, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tc.status) }))
		c, err := api.NewClient(api.Config{Address: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		_, _, _, err = v1.NewAPI(c).Query(context.Background(), "up", time.Unix(1700000000, 0))
		srv.Close()
		if err == nil {
			t.Fatalf("%d: no error", tc.status)
		}
		msg := QueryError(srv.URL, err).Error()
		if got := strings.Contains(msg, "refuses the credentials"); got != tc.hint || !strings.Contains(msg, fmt.Sprint(tc.status)) {
			t.Errorf("%d: %s; want the credentials hint: %v", tc.status, msg, tc.hint)
		}
	}
}
