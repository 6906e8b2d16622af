package config

import (
	"strings"
	"testing"
)

// TestPrometheusURL: a poller URL with a path is valid (Prometheus behind
// a reverse proxy or with --web.route-prefix), as is one with a query
// string (a proxy's tenant or token; it was refused), as is a Kubernetes
// API server's proxy (/api/v1/namespaces/…/proxy: /api/v1 followed by no
// endpoint of Prometheus's API; it was refused); one ending with the
// API's path (…/api/v1, or /api/v1/ and an endpoint of the API, as
// …/api/v1/query*, …/api/v1/labels), or with a fragment, is refused at
// its line, its password hidden and left out of the suggested base URL.
func TestPrometheusURL(t *testing.T) {
	for _, tc := range []struct {
		url, wantErr string
	}{
		{url: "http://127.0.0.1:9090"},
		{url: "http://proxy:8080/prometheus/"},
		{url: "https://omen:s3cret@proxy/prometheus"},
		{url: "ftp://p:9090", wantErr: `x.yml:3:10: invalid URL "ftp://p:9090": scheme must be http or https`},
		{url: "http://p:9090/?timeout=5s"},
		{url: "http://proxy/prom?tenant=a"},
		{url: "https://kube-apiserver:6443/api/v1/namespaces/monitoring/services/prometheus-k8s:web/proxy"},
		{url: "http://p:9090/api/v1", wantErr: `x.yml:3:10: prometheus[1].url: URL "http://p:9090/api/v1" holds the API's path /api/v1: give Prometheus's base URL, "http://p:9090" (`},
		{url: "http://p:9090/prom/api/v1/labels", wantErr: `x.yml:3:10: prometheus[1].url: URL "http://p:9090/prom/api/v1/labels" holds the API's path /api/v1: give Prometheus's base URL, "http://p:9090/prom" (`},
		{url: "http://omen:s3cret@p:9090/prom/api/v1/query", wantErr: `prometheus[1].url: URL "http://omen:xxxxx@p:9090/prom/api/v1/query" holds the API's path /api/v1: give Prometheus's base URL, "http://p:9090/prom", with the user information of your URL put back before the host (hidden here)`},
		{url: "http://p:9090/#x", wantErr: `x.yml:3:10: prometheus[1].url: URL "http://p:9090/#x" has a fragment`},
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

// TestPrometheusURLShownTwice: two prometheus entries whose pollers'
// source would be one (a metric label and the key of the evaluator's
// per-poller staleness: the name, else the URL with its password and
// every query value hidden) are refused at the second's line, with the
// hint to name them; named, URLs differing only in hidden parts (a
// prom-label-proxy's namespace) are two sources. A name is checked.
func TestPrometheusURLShownTwice(t *testing.T) {
	const hint = "give the two entries distinct `name`s"
	for _, tc := range []struct {
		name, a, b, wantErr string
	}{
		{name: "other host", a: "http://p:9090", b: "http://q:9090"},
		{name: "other namespace", a: "http://plp:8080/?namespace=team-a", b: "http://plp:8080/?namespace=team-b", wantErr: `x.yml:3:10: prometheus[1].url shows as prometheus[0].url, "http://plp:8080/?namespace=xxxxx" (password and query values hidden): the two pollers' source, in metrics, logs and the evaluator's staleness, would be one; poll each server once, or ` + hint},
		{name: "other namespace, named", a: "http://plp:8080/?namespace=team-a\n    name: team-a", b: "http://plp:8080/?namespace=team-b\n    name: team-b"},
		{name: "one named", a: "http://plp:8080/?namespace=team-a\n    name: team-a", b: "http://plp:8080/?namespace=team-b"},
		{name: "same name", a: "http://p:9090\n    name: p", b: "http://q:9090\n    name: p", wantErr: `x.yml:5:11: prometheus[1].name "p" is prometheus[0].name too: give each poller its own`},
		{name: "bad name", a: "http://p:9090", b: "http://q:9090\n    name: team a", wantErr: `x.yml:4:11: prometheus[1].name "team a": use only letters, digits, '_', '.', ':' and '-'`},
		{name: "empty name", a: "http://p:9090", b: "http://q:9090\n    name: \"\"", wantErr: `x.yml:4:11: prometheus[1].name is empty: name the poller or remove the key`},
		{name: "same URL", a: "http://p:9090", b: "http://p:9090", wantErr: `x.yml:3:10: prometheus[1].url shows as prometheus[0].url, "http://p:9090" (password and query values hidden)`},
		{name: "trailing slash", a: "http://p:9090", b: "http://p:9090/", wantErr: `prometheus[1].url shows as prometheus[0].url, "http://p:9090/"`},
		{name: "other password", a: "http://omen:s3cretA@p:9090", b: "http://omen:s3cretB@p:9090", wantErr: `prometheus[1].url shows as prometheus[0].url, "http://omen:xxxxx@p:9090"`},
		{name: "other token", a: "http://plp:8080/?namespace=a&access_token=s3cretA", b: "http://plp:8080/?namespace=a&access_token=s3cretB", wantErr: `prometheus[1].url shows as prometheus[0].url, "http://plp:8080/?namespace=xxxxx&access_token=xxxxx"`},
		// An "@" after the host followed by a host hides all before it
		// (it may be a token holding a "/"): two such URLs show the same
		// and need names.
		{name: "@ in path", a: "http://prom-a/t@x/", b: "http://prom-b/t@x/", wantErr: `prometheus[1].url shows as prometheus[0].url, "http://xxxxx@x/"`},
		{name: "@ in path, named", a: "http://prom-a/t@x/\n    name: a", b: "http://prom-b/t@x/\n    name: b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yml := "prometheus:\n  - url: " + tc.a + "\n  - url: " + tc.b + "\n"
			_, err := Load("x.yml", []byte(yml))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("%v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("%v, want %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Errorf("%v: secret shown", err)
			}
		})
	}
}
