package api

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
	a, err := New(Options{Backend: &MemBackend{}, Models: &MemModels{}, History: st, Backup: st, ListenAddress: "127.0.0.1:0"})
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

// TestOpenAPIErrorTypes: every errorType the package's code answers with
// (a literal passed to writeError, or set for the JSON 404/405s) is in
// the document's Error.errorType enum (method_not_allowed and disk_full
// were answered but not documented).
func TestOpenAPIErrorTypes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	enum := doc.Components.Schemas["Error"].Properties["errorType"].Enum
	if len(enum) == 0 {
		t.Fatal("no Error.errorType enum in openapi.json")
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`(?:writeError\([^,]+,[^,]+,\s*|typ, err = )"([a-z_]+)"`)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range used.FindAllStringSubmatch(string(src), -1) {
			n++
			if !slices.Contains(enum, m[1]) {
				t.Errorf("%s answers errorType %q, which openapi.json's Error.errorType enum lacks", f, m[1])
			}
		}
	}
	if n < 10 {
		t.Fatalf("found %d errorType literals: the pattern no longer matches the code", n)
	}
}
