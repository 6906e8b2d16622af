package api

import (
	"net/http"
	"testing"
)

// TestAcceptsHTML: a request whose Accept header lists text/html is a
// browser's (it gets the HTML 401 page), unless text/html has q=0,
// which refuses it (it got the HTML page).
func TestAcceptsHTML(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"application/json"}, false},
		{[]string{"text/html"}, true},
		{[]string{"TEXT/HTML"}, true},
		{[]string{"text/html,application/xhtml+xml,*/*;q=0.8"}, true},
		{[]string{"application/json", "text/html;q=0.5"}, true},
		{[]string{"application/json, text/html;q=0"}, false},
		{[]string{"application/json, text/html; Q = 0.000"}, false},
		{[]string{"application/json, text/html;level=1;q=0.0"}, false},
		{[]string{"text/html;q=0.001"}, true},
		{[]string{"text/html;q=bad"}, true},
		{[]string{"text/html;q=0", "text/html"}, true},
		{[]string{"text/htmlx"}, false},
	} {
		r, err := http.NewRequest(http.MethodGet, "/api/v1/explanations/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range tc.accept {
			r.Header.Add("Accept", a)
		}
		if got := acceptsHTML(r); got != tc.want {
			t.Errorf("Accept %q: acceptsHTML %v, want %v", tc.accept, got, tc.want)
		}
	}
}
