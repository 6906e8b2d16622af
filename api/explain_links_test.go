package api_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/explain"
)

// TestExplanationDependenciesLinks: an explanation (stored or explained
// now) links to the dependency neighbourhood of its entity and of its
// entity causes only when the backend's graph holds them, and every such
// link answers 200 with the node it names, "." and ".." included (escaped
// %2E, %2E%2E). Before, every explanation linked its entity's and causes'
// neighbourhoods, 404s without a graph (omen's default), and a cause named
// ".." linked /api/v1/entities/../dependencies, which the server cleans
// into /api/v1/dependencies (reviewer's finding).
func TestExplanationDependenciesLinks(t *testing.T) {
	str := func(s string) *string { return &s }
	x := api.Explanation{PredictionID: "shop/x@1000", Entity: "shop/x", T: 1000,
		Causes: api.Causes{Entities: []api.EntityCause{
			{Entity: "..", WorstEntity: str("shop/x")},
			{Entity: ".", WorstEntity: str("")},
			{Entity: "db", WorstEntity: str("")},
			{Entity: "shop/y", WorstEntity: str("shop/y")},
		}}}
	tests := []struct {
		name  string
		edges []explain.Edge
		// want are the dependencies links of the entity and of the causes
		// in order, with the node each answers.
		want      []string
		wantNodes map[string]string
	}{
		{
			name: "no graph",
			want: []string{"", "", "", "", ""},
		},
		{
			name:  "graph",
			edges: []explain.Edge{{From: "..", To: "db", Weight: 1}, {From: "..", To: ".", Weight: 1}},
			want: []string{"/api/v1/entities/shop%2Fx/dependencies", "/api/v1/entities/%2E%2E/dependencies",
				"/api/v1/entities/%2E/dependencies", "/api/v1/entities/db/dependencies", ""},
			wantNodes: map[string]string{"/api/v1/entities/shop%2Fx/dependencies": "..", "/api/v1/entities/%2E%2E/dependencies": "..",
				"/api/v1/entities/%2E/dependencies": ".", "/api/v1/entities/db/dependencies": "db"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &api.MemBackend{
				Explanations: map[string]api.Explanation{x.PredictionID: x},
				Edges:        tt.edges,
				Service:      map[string]string{"shop/x": ".."},
				Explain:      func(context.Context, string) (api.Explanation, error) { return x, nil },
			}
			srv := newServer(t, b, api.Options{})
			for _, req := range []struct{ method, path string }{
				{"GET", api.ExplanationPath(x.PredictionID)},
				{"POST", api.ExplainPath(x.Entity)},
			} {
				code, body := get(t, req.method, srv.URL+req.path, "")
				if code != 200 {
					t.Fatalf("%s %s: %d %s", req.method, req.path, code, body)
				}
				var resp struct{ Data api.Explanation }
				if err := json.Unmarshal(body, &resp); err != nil {
					t.Fatal(err)
				}
				links := []*api.Links{resp.Data.Links}
				for _, c := range resp.Data.Causes.Entities {
					links = append(links, c.Links)
				}
				got := make([]string, len(links))
				for i, l := range links {
					if l != nil {
						got[i] = l.Dependencies
					}
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%s %s: dependencies links %q, want %q", req.method, req.path, got, tt.want)
				}
				for _, l := range got {
					if l == "" {
						continue
					}
					code, body := get(t, "GET", srv.URL+l, "")
					var n struct{ Data api.Neighbourhood }
					if err := json.Unmarshal(body, &n); code != 200 || err != nil || n.Data.Node != tt.wantNodes[l] {
						t.Errorf("GET %s: %d node %q, want 200 node %q: %s", l, code, n.Data.Node, tt.wantNodes[l], body)
					}
				}
			}
		})
	}
}

// TestPathSegment: a name is one path segment of a link, "." and ".."
// too, which url.PathEscape leaves as they are.
func TestPathSegment(t *testing.T) {
	for name, want := range map[string]string{
		".": "%2E", "..": "%2E%2E", "...": "...", "a/..": "a%2F..", "shop/x": "shop%2Fx", "": "",
	} {
		if got := api.PathSegment(name); got != want {
			t.Errorf("PathSegment(%q) = %q, want %q", name, got, want)
		}
	}
}
