package api

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/omen-sre/omen/store"
)

// TestOpenAPI checks that the document parses as OpenAPI 3, that every
// route the mux serves is documented with its methods, and that nothing
// else is.
func TestOpenAPI(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := New(Options{Backend: &MemBackend{}, Models: &MemModels{}, History: st, ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, r := range a.allRoutes() {
		for _, m := range r.methods {
			served[strings.ToLower(m)+" "+r.path] = true
		}
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m, op := range ops {
			documented[m+" "+p] = true
			var o struct {
				OperationID string                     `json:"operationId"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(op, &o); err != nil || o.OperationID == "" || (o.Responses["200"] == nil && o.Responses["201"] == nil) {
				t.Errorf("%s %s: operation without operationId or success response (%v)", m, p, err)
			}
		}
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("routes not documented: %v; documented but not served: %v", missing, extra)
	}
	// every $ref resolves
	var all map[string]any
	_ = json.Unmarshal(OpenAPI(), &all)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if k == "$ref" {
					ref, _ := c.(string)
					var cur any = all
					for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
						m, _ := cur.(map[string]any)
						cur = m[part]
					}
					if cur == nil {
						t.Errorf("unresolved $ref %q", ref)
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(all)
}
