package api

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocRoutes: doc.go's "# Routes" section lists every route the API
// serves (allRoutes: the registry's and the history's with the rest, as
// openapi.json does, which TestOpenAPI checks) with its method, and no
// other; it lacked the model registry's and the history's routes.
func TestDocRoutes(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	start := strings.Index(doc, "// # Routes\n")
	if start < 0 {
		t.Fatal("doc.go has no # Routes section")
	}
	section := doc[start+len("// # Routes\n"):]
	if end := strings.Index(section, "\n// # "); end >= 0 {
		section = section[:end]
	}
	var documented []string
	for _, m := range regexp.MustCompile(`(?m)^//\t([A-Z]+) +(/\S+)`).FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1]+" "+m[2])
	}
	var served []string
	for _, rt := range allRoutesAPI(t).allRoutes() {
		for _, m := range rt.methods {
			served = append(served, m+" "+rt.path)
		}
	}
	slices.Sort(documented)
	slices.Sort(served)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is served but not in doc.go's # Routes", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("%s is in doc.go's # Routes but not served", r)
		}
	}
	if d := slices.Compact(slices.Clone(documented)); len(d) != len(documented) {
		t.Errorf("doc.go's # Routes lists a route twice: %v", documented)
	}
}
