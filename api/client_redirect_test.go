package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/omen-sre/omen/api"
)

// TestClientTokenNotRedirected: the client follows a redirect with the
// token only within the origin it was given; net/http carries the
// Authorization header to another port of the same host (and from https
// to http), which handed the token to a server the user did not name.
func TestClientTokenNotRedirected(t *testing.T) {
	var got atomic.Int64 // requests at other carrying a token
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			got.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":[]}`))
	}))
	t.Cleanup(other.Close)
	var sameTok atomic.Int64 // requests at the redirected path of omen with the token
	omen := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away/api/v1/models":
			http.Redirect(w, r, other.URL+"/api/v1/models", http.StatusFound)
		case "/here/api/v1/models":
			http.Redirect(w, r, "/api/v1/models", http.StatusFound)
		default:
			if r.Header.Get("Authorization") == "Bearer s3cret" {
				sameTok.Add(1)
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"success","data":[]}`))
		}
	}))
	t.Cleanup(omen.Close)

	for _, tc := range []struct {
		name, base, token string
		wantErr           string
		wantOther         int64 // tokens seen at other
		wantSame          int64 // tokens seen at omen's redirect target
	}{
		{"another port, token", omen.URL + "/away", "s3cret", "another server than", 0, 0},
		{"another port, no token", omen.URL + "/away", "", "", 0, 0},
		{"same origin, token", omen.URL + "/here", "s3cret", "", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got.Store(0)
			sameTok.Store(0)
			c := &api.Client{URL: tc.base, Token: tc.token, HTTPClient: &http.Client{}}
			_, err := c.Models(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Models: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Models: %v, want an error with %q", err, tc.wantErr)
			}
			if n := got.Load(); n != tc.wantOther {
				t.Errorf("the other server got the token %d times, want %d", n, tc.wantOther)
			}
			if n := sameTok.Load(); n != tc.wantSame {
				t.Errorf("omen's redirect target got the token %d times, want %d", n, tc.wantSame)
			}
		})
	}
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"http://127.0.0.1:9464/x", "http://127.0.0.1:9464/y", true},
		{"HTTPS://Omen.example", "https://omen.example:443/", true},
		{"http://omen.example", "http://omen.example:80", true},
		{"http://127.0.0.1:9464", "http://127.0.0.1:9465", false},
		{"https://omen.example", "http://omen.example", false},
		{"https://omen.example", "https://sso.omen.example", false},
	} {
		a, b := mustURL(t, tc.a), mustURL(t, tc.b)
		if got := api.SameOrigin(a, b); got != tc.want {
			t.Errorf("SameOrigin(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
