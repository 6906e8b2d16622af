package promurl

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/omen-sre/omen/internal/redact"
)

// apiEndpoints are the first path segments after /api/v1 of Prometheus's
// HTTP API (its endpoints and their groups: label/NAME/values,
// status/config, admin/tsdb/…).
var apiEndpoints = map[string]bool{
	"query": true, "query_range": true, "query_exemplars": true, "format_query": true, "parse_query": true,
	"series": true, "labels": true, "label": true, "targets": true, "scrape_pools": true, "rules": true,
	"alerts": true, "alertmanagers": true, "status": true, "metadata": true, "admin": true, "read": true,
	"write": true, "otlp": true, "notifications": true,
}

// Check returns an error when s is clearly not the base URL of a
// Prometheus server's HTTP API, which omen appends /api/v1/query and
// /api/v1/query_range to: not http(s) or without a host, with a
// fragment, or with a path ending with the API's path: /api/v1 (maybe
// with a trailing slash) or /api/v1/ followed by an endpoint of the API
// (query, query_range, series, labels, label/…, targets, rules, alerts,
// status/…, metadata, …). A path itself is accepted (Prometheus behind a
// reverse proxy, or with --web.route-prefix), even one holding /api/v1
// followed by anything else (the Kubernetes API server's proxy,
// https://kube-apiserver:6443/api/v1/namespaces/monitoring/services/prometheus-k8s:web/proxy),
// as is a query string (a proxy's tenant or token: the client sends it
// with every query); a wrong path shows as a 404 in the query errors (see
// QueryError). The error holds s with its secrets hidden (see
// redact.URL: the user information's secret, every value of the query);
// the base URL it suggests has no user information and those values
// hidden, and says so whenever its display differs from the URL to give,
// so that a copy does not put "xxxxx" in place of the password or a
// token. An "@" in the path is no user information: the suggestion keeps
// the host (http://prom-a/team@x).
func Check(s string) error {
	u, err := url.Parse(s)
	if s == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("URL %q is not an http(s) URL", redact.URL(s))
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("URL %q has a fragment: give Prometheus's base URL (http://host:9090, with the path it is served under, if any)", redact.URL(s))
	}
	segs := strings.Split(u.Path, "/")
	for i := 0; i+1 < len(segs); i++ {
		if segs[i] != "api" || segs[i+1] != "v1" {
			continue
		}
		if rest := segs[i+2:]; len(rest) > 0 && (len(rest) > 1 || rest[0] != "") && !apiEndpoints[rest[0]] {
			continue // not the API's path: /api/v1/namespaces/… of a Kubernetes proxy
		}
		base := *u
		base.Path, base.RawPath = strings.Join(segs[:i], "/"), ""
		var hidden []string
		if u.User != nil {
			base.User = nil
			hidden = append(hidden, "the user information of your URL put back before the host")
		}
		if b := base.String(); redact.URL(b) != b {
			// Whatever else the display hides: the query's values, a
			// path up to an "@".
			hidden = append(hidden, "the parts shown as xxxxx put back from your URL")
		}
		note := ""
		if len(hidden) > 0 {
			note = ", with " + strings.Join(hidden, " and ") + " (hidden here)"
		}
		return fmt.Errorf("URL %q holds the API's path /api/v1: give Prometheus's base URL, %q%s (omen adds /api/v1/query and /api/v1/query_range)", redact.URL(s), redact.URL(base.String()), note)
	}
	return nil
}

// QueryError names the Prometheus server at url (its secrets hidden by
// the caller or here) in err, a query's error; a 404 says the URL's path
// looks wrong (the client's error says only "client error: 404"), a 401,
// 403 or 407 that the credentials are refused. The
// request's URL in err (an HTTP client's error: Post "URL": …), which
// holds the base URL's query string, has its secrets hidden too: err's
// *url.Error is changed in place.
func QueryError(url string, err error) error {
	url = redact.URL(url)
	Scrub(err)
	if Is404(err) {
		return fmt.Errorf("prometheus %s: %w (404 Not Found: the URL's path looks wrong; give the base URL Prometheus serves its API under, without /api/v1, with its --web.route-prefix or reverse-proxy path if any)", url, err)
	}
	if status := clientStatus(err); status == 401 || status == 403 || status == 407 {
		return fmt.Errorf("prometheus %s: %w (the server, or a proxy before it, refuses the credentials sent, or their absence: check basic_auth, authorization, tls_config's client certificate or the URL's user information)", url, err)
	}
	return fmt.Errorf("prometheus %s: %w", url, err)
}

// clientStatus is the HTTP status of the client's error for a 4xx answer
// without Prometheus's JSON ("client error: 401"), 0 for another error.
func clientStatus(err error) int {
	var ae *v1.Error
	if !errors.As(err, &ae) || ae.Type != v1.ErrClient {
		return 0
	}
	var status int
	if _, serr := fmt.Sscanf(ae.Msg, "client error: %d", &status); serr != nil {
		return 0
	}
	return status
}

// Is404 reports whether err is the client's error for a 404 answer.
func Is404(err error) bool {
	return clientStatus(err) == 404
}

// Scrub hides the secrets (redact.URL) of the request URL of err's
// *url.Error, if any, in place: an HTTP client's error holds the
// request's URL, the base URL's query string (a token) with it.
func Scrub(err error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = redact.URL(ue.URL)
	}
}
