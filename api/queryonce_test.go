package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// TestQueryParameterOnce: a query parameter given twice answers 400
// bad_data "parameter NAME given 2 times …: give it once" on every route,
// before the handler: the handlers read the first value, so
// predictions?entity=a&entity=b listed a's alone and
// alerts?state=firing&state=resolved the firing ones, without a word.
// Given once, the same requests are answered.
func TestQueryParameterOnce(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.PutSchema([]string{"cpu"}, []string{"crashloop"}); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, &api.MemBackend{}, api.Options{History: st, Models: &api.MemModels{}})
	for _, tc := range []struct {
		method, path, param string
		once                int // the status given once
	}{
		{"GET", "/api/v1/predictions?entity=a&entity=b", "entity", 200},
		{"GET", "/api/v1/predictions?from=1&to=2&from=3", "from", 200},
		{"GET", "/api/v1/predictions?to=1&to=2", "to", 200},
		{"GET", "/api/v1/predictions?limit=1&limit=2", "limit", 200},
		{"GET", "/api/v1/predictions?after=a@1&after=b@2", "after", 200},
		{"GET", "/api/v1/predictions?match[pod]=a&match[pod]=b", "match[pod]", 200},
		{"GET", "/api/v1/alerts?state=firing&state=resolved", "state", 200},
		{"GET", "/api/v1/alerts?entity=a&entity=b", "entity", 200},
		{"GET", "/api/v1/explanations/x?entity=a&entity=b", "entity", 404},
		{"GET", "/api/v1/model?x=1&x=2", "x", 404},
		{"GET", "/api/v1/models?x=1&x=2", "x", 200},
		{"POST", "/api/v1/models?version=a&version=b", "version", 415},
		{"POST", "/api/v1/models?promote=true&promote=false", "promote", 415},
		{"POST", "/api/v1/entities/a/explain?x=1&x=2", "x", 404},
		{"GET", "/api/v1/history/entities?limit=1&limit=2", "limit", 200},
		{"GET", "/api/v1/history/entities?after=a&after=b", "after", 200},
		{"GET", "/api/v1/history/vectors?entity=a&entity=b", "entity", 200},
		{"GET", "/api/v1/history/schema?x=1&x=2", "x", 200},
	} {
		code, body := get(t, tc.method, srv.URL+tc.path, "")
		var r struct{ ErrorType, Error string }
		_ = json.Unmarshal(body, &r)
		want := "parameter " + tc.param + " given 2 times"
		if code != http.StatusBadRequest || r.ErrorType != "bad_data" || !strings.Contains(r.Error, want) || !strings.Contains(r.Error, "give it once") {
			t.Errorf("%s %s: %d %s %q; want 400 bad_data %q", tc.method, tc.path, code, r.ErrorType, r.Error, want)
		}
		// The same parameter once: the route's own answer.
		i := strings.LastIndex(tc.path, "&")
		once := tc.path[:i]
		if code, body := get(t, tc.method, srv.URL+once, ""); code != tc.once {
			t.Errorf("%s %s: %d %s; want %d", tc.method, once, code, body, tc.once)
		}
	}
}
