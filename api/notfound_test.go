package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// TestUnknownRoutesJSON: requests under /api/ that no route takes answer
// the API's JSON error envelope (they answered the mux's plain-text "404
// page not found"), with the status code the mux chose.
func TestUnknownRoutesJSON(t *testing.T) {
	srv := newServer(t, apitest.Backend(), api.Options{})
	for _, tc := range []struct {
		method, path string
		code         int
		typ, msg     string
	}{
		{"GET", "/api/v1/nope", 404, "not_found", "no API route GET /api/v1/nope"},
		{"GET", "/api/v2/alerts", 404, "not_found", "no API route"},
		{"GET", "/api/v1/entities/shop/cart-0/explain", 404, "not_found", `escape "/" in entity names`},
		{"DELETE", "/api/v1/alerts", 405, "method_not_allowed", "method DELETE not allowed on /api/v1/alerts"},
	} {
		code, body := get(t, tc.method, srv.URL+tc.path, "")
		var r struct {
			Status    string `json:"status"`
			ErrorType string `json:"errorType"`
			Error     string `json:"error"`
		}
		if err := json.Unmarshal(body, &r); err != nil || code != tc.code || r.Status != "error" || r.ErrorType != tc.typ ||
			!strings.Contains(r.Error, tc.msg) {
			t.Errorf("%s %s: %d %s; want %d, a JSON %s error with %q", tc.method, tc.path, code, body, tc.code, tc.typ, tc.msg)
		}
	}
	if code, body := get(t, "GET", srv.URL+"/api/v1/alerts", ""); code != 200 || !strings.HasPrefix(string(body), `{"status":"success"`) {
		t.Errorf("GET /api/v1/alerts: %d %s", code, body)
	}
	if code, body := get(t, "GET", srv.URL+"/nope", ""); code != 404 || strings.HasPrefix(string(body), "{") {
		t.Errorf("GET /nope (not the API): %d %s, want the mux's 404", code, body)
	}
}
