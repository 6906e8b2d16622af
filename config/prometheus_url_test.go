package config

import (
	"strings"
	"testing"
)

// TestPrometheusURL: a poller URL with a path is valid (Prometheus behind
// a reverse proxy or with --web.route-prefix); one ending in the query
// API's path, or with a query string or fragment, is refused at its line,
// its password hidden.
func TestPrometheusURL(t *testing.T) {
	for _, tc := range []struct {
		url, wantErr string
	}{
		{url: "http://127.0.0.1:9090"},
		{url: "http://proxy:8080/prometheus/"},
		{url: "https://omen:s3cret@proxy/prometheus"},
		{url: "ftp://p:9090", wantErr: `x.yml:3:10: invalid URL "ftp://p:9090": scheme must be http or https`},
		{url: "http://p:9090/api/v1", wantErr: `x.yml:3:10: prometheus[1].url: URL "http://p:9090/api/v1" ends in the query API's path: give Prometheus's base URL, "http://p:9090"`},
		{url: "http://omen:s3cret@p:9090/prom/api/v1/query", wantErr: `prometheus[1].url: URL "http://omen:xxxxx@p:9090/prom/api/v1/query" ends in the query API's path: give Prometheus's base URL, "http://omen:xxxxx@p:9090/prom"`},
		{url: "http://p:9090/?timeout=5s", wantErr: `x.yml:3:10: prometheus[1].url: URL "http://p:9090/?timeout=5s" has a query string or fragment`},
		{url: "http://p:9090/#x", wantErr: "has a query string or fragment"},
	} {
		yml := "prometheus:\n  - url: http://ok:9090\n  - url: " + tc.url + "\n"
		_, err := Load("x.yml", []byte(yml))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("url %q: %v", tc.url, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("url %q: %v, want %q", tc.url, err, tc.wantErr)
		case err != nil && strings.Contains(err.Error(), "s3cret"):
			t.Errorf("url %q: %v: password shown", tc.url, err)
		}
	}
}
