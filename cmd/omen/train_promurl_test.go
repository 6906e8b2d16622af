package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestTrainPrometheusURL: omen train --prometheus.url gets the poller's
// URL check, with the password hidden, and a query's error names the URL
// (password hidden) and says a 404's path looks wrong. It printed an ftp
// URL's password, took …/api/v1 and failed with a bare "query_range
// req_rate (…): client_error: client error: 404".
func TestTrainPrometheusURL(t *testing.T) {
	t.Chdir(t.TempDir())
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		url  string
		rc   int
		want string
	}{
		{"ftp://u:s3cretpw@" + host, 2, `omen train: --prometheus.url: URL "ftp://u:xxxxx@` + host + `" is not an http(s) URL`},
		{"http://u:s3cretpw@" + host + "/prom/api/v1", 2, `omen train: --prometheus.url: URL "http://u:xxxxx@` + host + `/prom/api/v1" holds the API's path /api/v1: give Prometheus's base URL, "http://` + host + `/prom", with the user information`},
		{"http://p:9090/api/v1/labels", 2, `holds the API's path /api/v1: give Prometheus's base URL, "http://p:9090" (`},
		{"http://p:9090/#x", 2, "has a fragment"},
		{"http://u:s3cretpw@" + host + "/wrong", 1, `prometheus http://u:xxxxx@` + host + `/wrong: client_error: client error: 404 (404 Not Found: the URL's path looks wrong;`},
	} {
		rc, _, stderr := omen(t, "train", "--source", "prometheus", "--prometheus.url", tc.url, "--history", "1h", "--out", "m.omen")
		if rc != tc.rc || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "s3cretpw") {
			t.Errorf("train --prometheus.url %s = %d, stderr %q; want %d and %q, the password hidden", tc.url, rc, stderr, tc.rc, tc.want)
		}
	}
}
