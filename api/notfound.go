package api

import (
	"fmt"
	"net/http"
	"strings"
)

// JSONErrors serves mux, answering the requests under /api/ that no route
// of mux takes (an unknown path, an entity name or prediction id with an
// unescaped "/", a method the path does not take) with the API's JSON
// error envelope, 404 not_found or 405 method_not_allowed (with the Allow
// header), instead of the mux's plain-text "404 page not found". Other
// paths (the UI, /metrics) are served by mux as they are. Allow leaves out
// the methods that at the path reach only a route answering 400 no model
// version (DELETE /api/v1/models); a path only such routes take (DELETE
// /api/v1/models/) answers its other methods 404.
func JSONErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			if h, pattern := mux.Handler(r); pattern == "" {
				h.ServeHTTP(&jsonErrorWriter{ResponseWriter: w, r: r, mux: mux}, r)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// noRoutePrefix begins the message of JSONErrors' 404, which the Client
// tells from a resource's 404 (Error.NoRoute).
const noRoutePrefix = "no API route "

// jsonErrorWriter turns the mux's plain-text error answer into the API's
// JSON envelope: the status code (and headers such as Allow) are kept,
// the text body is dropped. An answer that is not an error passes as it
// is.
type jsonErrorWriter struct {
	http.ResponseWriter
	r    *http.Request
	mux  *http.ServeMux
	code int // 0 until WriteHeader
}

// servedAllow is the mux's Allow header allow without the methods that
// reach, at the request's path, only a route answering 400 whatever the
// request (noVersionRoutes: DELETE /api/v1/models): Allow lists the
// methods the path serves.
func (w *jsonErrorWriter) servedAllow(allow string) string {
	var served []string
	for m := range strings.SplitSeq(allow, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		r := w.r.Clone(w.r.Context())
		r.Method = m
		if _, pattern := w.mux.Handler(r); isNoVersionPattern(pattern) {
			continue
		}
		served = append(served, m)
	}
	return strings.Join(served, ", ")
}

func (w *jsonErrorWriter) WriteHeader(code int) {
	if w.code != 0 {
		return
	}
	w.code = code
	if code < 400 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	h := w.Header()
	h.Del("Content-Length")
	if code == http.StatusMethodNotAllowed && w.mux != nil {
		if allow := w.servedAllow(h.Get("Allow")); allow != "" {
			h.Set("Allow", allow)
		} else { // only no-version routes at the path: no route serves it
			h.Del("Allow")
			code = http.StatusNotFound
		}
	}
	path := w.r.URL.EscapedPath()
	var typ string
	var err error
	switch code {
	case http.StatusNotFound:
		typ, err = "not_found", fmt.Errorf(noRoutePrefix+"%s %s (escape \"/\" in entity names and prediction ids as %%2F; the routes: /api/v1/openapi.json)", w.r.Method, path)
	case http.StatusMethodNotAllowed:
		typ, err = "method_not_allowed", fmt.Errorf("method %s not allowed on %s (allowed: %s)", w.r.Method, path, h.Get("Allow"))
	default:
		typ, err = "bad_data", fmt.Errorf("%s %s: %s", w.r.Method, path, http.StatusText(code))
	}
	writeError(w.ResponseWriter, code, typ, err)
}

func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.code < 400 {
		return w.ResponseWriter.Write(b)
	}
	return len(b), nil // the mux's text, replaced by the envelope
}
