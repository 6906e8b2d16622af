package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestUnknownAPIRouteJSON: the daemon answers an unknown /api/ route (here
// an entity with an unescaped "/") with the API's JSON error envelope, not
// the mux's plain-text "404 page not found".
func TestUnknownAPIRouteJSON(t *testing.T) {
	a := startApp(t, t.TempDir(), nil)
	resp, err := http.Get("http://" + a.Addr() + "/api/v1/entities/shop/cart-0/explain")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" ||
		!strings.HasPrefix(string(body), `{"status":"error","errorType":"not_found"`) {
		t.Fatalf("%d %s %s; want a JSON 404", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
