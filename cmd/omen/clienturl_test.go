package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// TestClientURLChecked: every command that calls the API (train, model,
// explain) refuses a --url that is not the API's base URL as a usage
// error (exit 2) naming the form to give, before any request: one
// without a scheme (localhost:9464 was the scheme "localhost": exit 1,
// unsupported protocol scheme), one holding /api/v1 (the client doubled
// it, and omen train read the 404 as "no feature data"), one with a
// query or fragment. The password of a URL is not shown.
func TestClientURLChecked(t *testing.T) {
	commands := [][]string{
		{"train"},
		{"model", "list"},
		{"model", "promote", "v1"},
		{"explain", "shop/app-0"},
	}
	for _, tc := range []struct {
		url, want string
	}{
		{"localhost:9464", `"localhost:9464" is not an http(s) URL: give the base URL of omen's API, http(s)://HOST:PORT`},
		{"127.0.0.1:9464", `"127.0.0.1:9464" is not an http(s) URL`},
		{"ftp://127.0.0.1:9464", "is not an http(s) URL"},
		{"http://", "is not an http(s) URL"},
		{"http://127.0.0.1:9464/api/v1", `"http://127.0.0.1:9464/api/v1" holds the API's path /api/v1: give the base URL, "http://127.0.0.1:9464"`},
		{"http://127.0.0.1:9464/api/v1/", `holds the API's path /api/v1: give the base URL, "http://127.0.0.1:9464"`},
		{"https://proxy/omen/api/v1/predictions", `give the base URL, "https://proxy/omen"`},
		{"http://u:s3cret@127.0.0.1:9464/api/v1", "holds the API's path /api/v1"},
		{"http://127.0.0.1:9464?tenant=a", "has a query or a fragment"},
		{"http://127.0.0.1:9464#x", "has a query or a fragment"},
	} {
		for _, cmd := range commands {
			args := append(append([]string(nil), cmd...), "--url", tc.url)
			rc, out, errs := omen(t, args...)
			if rc != 2 || out != "" || !strings.Contains(errs, "--url: ") || !strings.Contains(errs, tc.want) || strings.Contains(errs, "s3cret") {
				t.Errorf("omen %q = %d, stdout %q stderr %q; want 2 with %q", args, rc, out, errs, tc.want)
			}
		}
	}
	// explain has a default URL: an empty one is a mistake, not "offline".
	if rc, _, errs := omen(t, "explain", "x", "--url", ""); rc != 2 || !strings.Contains(errs, "--url: empty: give the base URL") {
		t.Errorf("omen explain --url '' = %d, stderr %q; want 2", rc, errs)
	}
}

// TestClientURLNoRoute: a base URL the check lets through (a path: omen
// behind a reverse proxy) whose requests omen has no route for answers
// its JSON 404 "no API route"; omen train reports the URL as wrong
// instead of "no feature data … (has omen run ingested anything?)",
// which it said when it read that 404 as an empty store, and omen model
// list fails naming the base URL's form.
func TestClientURLNoRoute(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	a, err := api.New(api.Options{Backend: &api.MemBackend{}, Models: &api.MemModels{}, History: st, ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	for _, args := range [][]string{
		{"train", "--url", srv.URL + "/api", "--out", t.TempDir() + "/m.omen"},
		{"model", "list", "--url", srv.URL + "/api"},
	} {
		rc, _, errs := omen(t, args...)
		if rc != 1 || !strings.Contains(errs, "no API route GET /api/api/v1/") || !strings.Contains(errs, "without /api/v1") ||
			strings.Contains(errs, "no feature data") || strings.Contains(errs, "ingested") {
			t.Errorf("omen %q = %d, stderr %q; want 1 naming the missing route and the base URL's form", args, rc, errs)
		}
	}
}
