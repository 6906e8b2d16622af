package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// explainServer serves the API of apitest's fixture under prefix ("" or
// "/omen", as a reverse proxy would) and counts the requests it gets.
func explainServer(t *testing.T, prefix string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	a, err := api.New(api.Options{Backend: apitest.Backend(), ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Handler()
	if prefix != "" {
		h = http.StripPrefix(prefix, h)
	}
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestExplainLinkAsksItsOmen: omen explain given a link of omen's (an
// alert's explanation_url, under omen's alerting.external_url) without
// --url asks the omen the link is under (its scheme://host and path
// prefix), and prints the root causes' pages under it; it asked the
// default http://127.0.0.1:9464. With a --url that differs, --url is
// asked and stderr says so; one naming the link's omen says nothing.
func TestExplainLinkAsksItsOmen(t *testing.T) {
	linkSrv, linkHits := explainServer(t, "")
	other, otherHits := explainServer(t, "")
	proxied, proxiedHits := explainServer(t, "/omen")
	alertLink := linkSrv.URL + "/ui/alerts/" + apitest.FiringFingerprint
	const pred = "infra/db-0@1764000000000"
	for _, tc := range []struct {
		name           string
		args           []string
		asked          *atomic.Int64
		unasked        []*atomic.Int64
		wantOut        string // a root cause's link, under the omen asked
		wantErr        string // "": stderr empty
		wantPrediction string
	}{
		{"link without --url", []string{alertLink}, linkHits, []*atomic.Int64{otherHits},
			"  " + linkSrv.URL + "/ui/entities/", "", apitest.CartEntity + "@1764000000000"},
		{"link under a path prefix", []string{proxied.URL + "/omen/ui/alerts/" + url.PathEscape(pred) + "#causes"}, proxiedHits,
			[]*atomic.Int64{linkHits, otherHits}, "  " + proxied.URL + "/omen/ui/entities/", "", pred},
		{"explanation_api_url", []string{proxied.URL + "/omen/api/v1/explanations/" + apitest.FiringFingerprint}, proxiedHits,
			[]*atomic.Int64{linkHits, otherHits}, "  " + proxied.URL + "/omen/ui/entities/", "", apitest.CartEntity + "@1764000000000"},
		{"another --url", []string{alertLink, "--url", other.URL}, otherHits, []*atomic.Int64{linkHits},
			"  " + other.URL + "/ui/entities/", "omen explain: asking --url " + other.URL + ", not " + linkSrv.URL + ", the omen the link is under\n",
			apitest.CartEntity + "@1764000000000"},
		{"--url of the link's omen", []string{alertLink, "--url", strings.ToUpper(linkSrv.URL[:4]) + linkSrv.URL[4:] + "/"}, linkHits,
			[]*atomic.Int64{otherHits}, "", "", apitest.CartEntity + "@1764000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := make([]int64, len(tc.unasked))
			for i, h := range tc.unasked {
				before[i] = h.Load()
			}
			asked := tc.asked.Load()
			rc, out, errs := omen(t, append([]string{"explain", "--timeout", "30s"}, tc.args...)...)
			if rc != 0 || errs != tc.wantErr || !strings.Contains(out, "prediction "+tc.wantPrediction) || !strings.Contains(out, tc.wantOut) {
				t.Fatalf("omen explain %q = %d\nstdout:\n%s\nstderr %q; want 0, prediction %s, %q, stderr %q", tc.args, rc, out, errs,
					tc.wantPrediction, tc.wantOut, tc.wantErr)
			}
			if tc.asked.Load() == asked {
				t.Errorf("omen explain %q did not ask the omen it should", tc.args)
			}
			for i, h := range tc.unasked {
				if h.Load() != before[i] {
					t.Errorf("omen explain %q asked another omen (#%d)", tc.args, i)
				}
			}
		})
	}
	// The link's omen unreachable from here, or answering a login page:
	// the error says which URL was asked and where it came from.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>sign in</body></html>\n"))
	}))
	t.Cleanup(login.Close)
	for _, base := range []string{gone.URL, login.URL + "/omen"} {
		rc, _, errs := omen(t, "explain", "--timeout", "30s", base+"/ui/alerts/"+apitest.FiringFingerprint)
		if want := "\nomen explain: asked " + base + ", the omen the link is under; give --url"; rc != 1 || !strings.Contains(errs, want) {
			t.Errorf("omen explain of a link under %s = %d, stderr %q; want 1 saying %q", base, rc, errs, want)
		}
	}
	// Not for an answer of omen's: the link's omen was reached.
	rc, _, errs := omen(t, "explain", "--timeout", "30s", linkSrv.URL+"/ui/alerts/0123456789abcdef")
	if rc != 1 || !strings.Contains(errs, "no alert with fingerprint 0123456789abcdef") || strings.Contains(errs, "the omen the link is under") {
		t.Errorf("omen explain of an unknown alert's link = %d, stderr %q; want 1, not found, without the URL's origin", rc, errs)
	}
}

// TestExplainLinkKeepsToken: a link comes from an alert, which whoever
// can post to Alertmanager writes: omen explain given one with
// --token-file but without --url sends the token nowhere (it sent it to
// the link's host) and says to give --url (exit 2); with --url naming the
// link's omen it sends it there. Without --token-file the link's omen is
// still asked (TestExplainLinkAsksItsOmen).
func TestExplainLinkKeepsToken(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Options{Backend: apitest.Backend(), ListenAddress: "127.0.0.1:0", TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Handler()
	var requests, withToken atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("Authorization") != "" {
			withToken.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	link := srv.URL + "/ui/alerts/" + apitest.FiringFingerprint

	rc, out, errs := omen(t, "explain", "--timeout", "30s", "--token-file", tokenFile, link)
	want := "omen explain: the link is under " + srv.URL + ": give --url " + srv.URL + " to send the token of --token-file there\n"
	if rc != 2 || out != "" || errs != want || requests.Load() != 0 || withToken.Load() != 0 {
		t.Fatalf("omen explain --token-file %s = %d, stdout %q, stderr %q, %d requests (%d with a token); want 2, stderr %q, none",
			link, rc, out, errs, requests.Load(), withToken.Load(), want)
	}

	rc, out, errs = omen(t, "explain", "--timeout", "30s", "--token-file", tokenFile, "--url", srv.URL, link)
	if rc != 0 || errs != "" || !strings.Contains(out, "prediction "+apitest.CartEntity+"@1764000000000") || withToken.Load() == 0 {
		t.Errorf("omen explain --token-file --url %s %s = %d, stdout:\n%s\nstderr %q, %d requests with the token; want 0, the explanation, the token sent",
			srv.URL, link, rc, out, errs, withToken.Load())
	}
}

// TestSameBaseURL: omen explain's note that --url differs from the
// link's omen ignores what names the same omen anyway.
func TestSameBaseURL(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"http://127.0.0.1:9464", "http://127.0.0.1:9464", true},
		{"HTTP://Omen.Example.com/omen/", "http://omen.example.com/omen", true},
		{"https://omen.example.com:443", "https://omen.example.com", true},
		{"http://omen.example.com:80/", "http://omen.example.com", true},
		{"https://omen.example.com:80", "https://omen.example.com", false},
		{"http://omen.example.com", "https://omen.example.com", false},
		{"http://127.0.0.1:9464", "http://127.0.0.1:9465", false},
		{"https://omen.example.com/omen", "https://omen.example.com", false},
		{"https://omen.example.com/a", "https://omen.example.com/b", false},
	} {
		if got := sameBaseURL(tc.a, tc.b); got != tc.want {
			t.Errorf("sameBaseURL(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
