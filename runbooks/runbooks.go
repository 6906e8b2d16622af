package runbooks

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed pages/*.md
var pages embed.FS

// Path is where Handler is mounted.
const Path = "/docs/runbooks/"

// Handler serves /docs/runbooks/<slug> as text/markdown and the index at
// /docs/runbooks/.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slug := strings.Trim(strings.TrimPrefix(r.URL.Path, Path), "/")
		if slug == "" {
			entries, _ := fs.ReadDir(pages, "pages")
			w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
			_, _ = w.Write([]byte("# omen runbooks\n\n"))
			for _, e := range entries {
				name := strings.TrimSuffix(e.Name(), ".md")
				_, _ = w.Write([]byte("- [" + name + "](" + Path + name + ")\n"))
			}
			return
		}
		if strings.ContainsAny(slug, "/.") {
			http.NotFound(w, r)
			return
		}
		b, err := pages.ReadFile("pages/" + slug + ".md")
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		_, _ = w.Write(b)
	})
}

// Slugs lists the runbooks served.
func Slugs() []string {
	entries, _ := fs.ReadDir(pages, "pages")
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".md"))
	}
	return out
}
