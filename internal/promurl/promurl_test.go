package promurl

import (
	"strings"
	"testing"
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
		{url: "http://p:9090/prom/api/v1/query_range?x=1", wantErr: `give Prometheus's base URL, "http://p:9090/prom?x=1"`},
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
		}
	}
}
