package api

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/omen-sre/omen/store"
)

// allRoutesAPI is an API serving every route: the model registry's and
// the history's with the rest.
func allRoutesAPI(t *testing.T) *API {
	t.Helper()
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	a, err := New(Options{Backend: &MemBackend{}, Models: &MemModels{}, History: st, Backup: st, ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// patternMatches reports whether a route's path pattern (with {name}
// segments and a trailing {$}) takes the escaped path p.
func patternMatches(pattern, p string) bool {
	ps, qs := strings.Split(pattern, "/"), strings.Split(p, "/")
	if ps[len(ps)-1] == "{$}" {
		ps[len(ps)-1] = ""
	}
	if len(ps) != len(qs) {
		return false
	}
	for i := range ps {
		wildcard := strings.HasPrefix(ps[i], "{") && qs[i] != ""
		if ps[i] != qs[i] && !wildcard {
			return false
		}
	}
	return true
}

// TestAllowHeader: a method a route does not serve answers 405 with an
// Allow header listing exactly the methods served at that path (GET
// bringing HEAD), for every route: explain-now's GET answered Allow: POST
// but its PUT Allow: GET, HEAD, POST (its GET route, which only answers
// 405, counted as served). The no-version routes (noVersionRoutes) answer
// their method with 400 and are not served methods: PUT /api/v1/models
// listed DELETE, which there only ever answers 400 no model version; a
// path only they take (/api/v1/models/) is no route's, 404.
func TestAllowHeader(t *testing.T) {
	a := allRoutesAPI(t)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	ops, noVersion := a.allRoutes(), a.noVersionRoutes()
	fill := strings.NewReplacer("{id}", "shop%2Fapp-0@1", "{entity}", "shop%2Fapp-0", "{version}", "v1", "{$}", "")
	methods := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
	for _, rt := range slices.Concat(ops, noVersion) {
		p := fill.Replace(rt.path)
		var served, badData []string
		for _, o := range ops {
			if patternMatches(o.path, p) {
				served = append(served, o.methods...)
			}
		}
		for _, o := range noVersion {
			if o.path == rt.path || fill.Replace(o.path) == p {
				badData = append(badData, o.methods...)
			}
		}
		if slices.Contains(served, "GET") {
			served = append(served, "HEAD")
		}
		slices.Sort(served)
		served = slices.Compact(served)
		want := strings.Join(served, ", ")
		for _, m := range methods {
			if slices.Contains(served, m) {
				continue
			}
			req, err := http.NewRequest(m, srv.URL+p, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			got := resp.Header.Get("Allow")
			switch {
			case slices.Contains(badData, m):
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s %s: %d; want 400 (no model version)", m, p, resp.StatusCode)
				}
			case len(served) == 0:
				if _, has := resp.Header["Allow"]; resp.StatusCode != http.StatusNotFound || has {
					t.Errorf("%s %s: %d, Allow %q; want 404, no Allow", m, p, resp.StatusCode, got)
				}
			case resp.StatusCode != http.StatusMethodNotAllowed || got != want:
				t.Errorf("%s %s: %d, Allow %q; want 405, Allow %q", m, p, resp.StatusCode, got, want)
			}
		}
	}
}
