package api

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/omen-sre/omen/store"
)

// TestOpenAPIStatuses: every status a route can answer is among its
// documented responses. The statuses are read from the package's code:
// those Protect answers (401, 403) for every route, and for each route
// those its handler answers through writeError or writeJSON with a
// constant status, following the package's calls from it (backendError's
// statuses for every route that calls it), but 499, the status logged
// for a client that went away, which no client reads. GET /api/v1/model
// answered 503 (no model loaded) and the GET routes 403 (a request to a
// host not loopback without a token), neither documented (reviewer's
// finding).
func TestOpenAPIStatuses(t *testing.T) {
	code := statusesInCode(t)
	protect := slices.Concat(code.of("API.Protect"), code.of("queryOnce"))
	if !slices.Contains(protect, http.StatusUnauthorized) || !slices.Contains(protect, http.StatusForbidden) {
		t.Fatalf("Protect answers %v: the code no longer reads as it did (want 401 and 403)", protect)
	}
	if be := code.of("API.backendError"); len(be) < 6 {
		t.Fatalf("backendError answers %v: the code no longer reads as it did", be)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	a, err := New(Options{Backend: &MemBackend{}, Models: &MemModels{}, History: st, Backup: st, ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range a.allRoutes() {
		fn := runtime.FuncForPC(reflect.ValueOf(rt.handler).Pointer()).Name() // …api.(*API).predictions-fm
		name := strings.TrimSuffix(fn[strings.LastIndex(fn, ".")+1:], "-fm")
		handler := code.of("API." + name) // none for one writing 200 itself (openapi)
		for _, m := range rt.methods {
			op, ok := doc.Paths[rt.path][strings.ToLower(m)]
			if !ok {
				continue // TestOpenAPI reports it
			}
			for _, c := range slices.Concat(protect, handler) {
				if c == 499 {
					continue
				}
				if _, ok := op.Responses[strconv.Itoa(c)]; !ok {
					t.Errorf("%s %s answers %d (%s), which openapi.json does not list", m, rt.path, c, http.StatusText(c))
				}
			}
		}
	}
}

// codeStatuses are the statuses the package's functions answer.
type codeStatuses struct {
	funcs map[string][]*ast.FuncDecl // by name: "API.method", "function"
	names map[string]int             // "StatusNotFound" → 404
	memo  map[string][]int
}

func statusesInCode(t *testing.T) *codeStatuses {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	c := &codeStatuses{funcs: map[string][]*ast.FuncDecl{}, names: map[string]int{}, memo: map[string][]int{}}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			c.funcs[funcKey(fd)] = append(c.funcs[funcKey(fd)], fd)
		}
	}
	for s := 100; s < 600; s++ {
		if txt := http.StatusText(s); txt != "" {
			c.names["Status"+strings.NewReplacer(" ", "", "-", "").Replace(txt)] = s
		}
	}
	return c
}

// funcKey names a function "name", a method "Type.name".
func funcKey(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	typ := fd.Recv.List[0].Type
	if s, ok := typ.(*ast.StarExpr); ok {
		typ = s.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// of returns the constant statuses that key (a function or method) and
// the package's functions and methods it calls pass to writeError and
// writeJSON, sorted.
func (c *codeStatuses) of(key string) []int {
	if s, ok := c.memo[key]; ok {
		return s
	}
	c.memo[key] = nil // a cycle adds nothing
	var out []int
	for _, fd := range c.funcs[key] {
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			var callee string
			switch f := call.Fun.(type) {
			case *ast.Ident:
				callee = f.Name
			case *ast.SelectorExpr:
				callee = f.Sel.Name
				if id, ok := f.X.(*ast.Ident); ok && id.Name != "http" {
					// a method, by any receiver: the API's, a
					// backend's, …
					for k := range c.funcs {
						if strings.HasSuffix(k, "."+callee) {
							out = append(out, c.of(k)...)
						}
					}
					return true
				}
			}
			if (callee == "writeError" || callee == "writeJSON") && len(call.Args) >= 2 {
				if s, ok := c.status(call.Args[1]); ok {
					out = append(out, s)
				}
				return true
			}
			if _, ok := c.funcs[callee]; ok {
				out = append(out, c.of(callee)...)
			}
			return true
		})
	}
	slices.Sort(out)
	out = slices.Compact(out)
	c.memo[key] = out
	return out
}

// status is the value of a constant status: http.StatusX or a literal.
func (c *codeStatuses) status(e ast.Expr) (int, bool) {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		s, ok := c.names[e.Sel.Name]
		return s, ok
	case *ast.BasicLit:
		s, err := strconv.Atoi(e.Value)
		return s, err == nil
	}
	return 0, false
}
