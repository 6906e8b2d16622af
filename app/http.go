package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/runbooks"
	"github.com/omen-sre/omen/store"
)

// routes builds the HTTP mux: operational endpoints, the remote-write
// receiver, the explanation API and the UI.
func (a *App) routes(src *sources) (http.Handler, error) {
	s, err := a.newAPI()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(a.reg,
		promhttp.HandlerFor(a.opts.Gatherer, promhttp.HandlerOpts{EnableOpenMetrics: true})))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "omen is Healthy.")
	})
	mux.Handle("GET /-/ready", readyHandler(a.ready.Load, a.stopRequested))
	reload := reloadHandler(a.Reload)
	// Reload and remote-write change state: behind the token when one is set.
	mux.Handle("POST /-/reload", s.Protect(reload))
	mux.Handle("PUT /-/reload", s.Protect(reload))
	if src.remoteWrite != nil {
		mux.Handle("POST /api/v1/write", s.Protect(src.remoteWrite))
	}
	mux.Handle("GET "+runbooks.Path, runbooks.Handler())
	if a.opts.EnablePprof {
		mountPprof(mux, s.Protect)
	}
	a.mountAPI(mux, s)
	// Unknown /api/ routes answer the API's JSON error envelope.
	return api.JSONErrors(mux), nil
}

// mountPprof serves Go's runtime profiles under /debug/pprof/ (heap,
// goroutine, profile?seconds=N, trace, …), each behind protect: they tell
// the process's memory and code, and a CPU profile or trace costs while it
// runs.
func mountPprof(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	for path, h := range map[string]http.HandlerFunc{
		"/debug/pprof/":        pprof.Index, // and the named profiles: /debug/pprof/heap, …
		"/debug/pprof/cmdline": pprof.Cmdline,
		"/debug/pprof/profile": pprof.Profile,
		"/debug/pprof/symbol":  pprof.Symbol,
		"/debug/pprof/trace":   pprof.Trace,
	} {
		mux.Handle("GET "+path, protect(h))
	}
}

// readyHandler serves /-/ready: 200 when ready (the daemon started), else
// 503. Start sets ready as the HTTP server begins to serve, so a 503 before
// Stop was called is a request racing that: it says Retry-After: 1. Once
// Stop was called (stopping reports it) the daemon is going away and will
// not be ready again: no Retry-After (a new process is another matter).
func readyHandler(ready, stopping func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			if !stopping() {
				w.Header().Set("Retry-After", "1")
			}
			http.Error(w, "omen is not ready.", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "omen is Ready.")
	})
}

// reloadHandler serves /-/reload with reload (App.Reload): 200 when the
// configuration was applied (also when an error came after it took effect,
// an *AppliedError, whose text the answer then carries), 507 when the store
// refused the new feature schema for lack of disk space (store.ErrDiskFull
// before anything was applied: the reload changed nothing, and can be
// retried once space is freed), 503 when omen is stopping (ErrNotRunning;
// no Retry-After: this process will not reload again), 500 otherwise (an
// invalid file, a component refusing it; nothing changed).
func reloadHandler(reload func() error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		err := reload()
		var applied *AppliedError
		switch {
		case errors.As(err, &applied):
			fmt.Fprintf(w, "configuration reloaded, with errors: %v\n", applied.Err)
		case err != nil:
			code := http.StatusInternalServerError
			switch {
			case errors.Is(err, store.ErrDiskFull):
				code = http.StatusInsufficientStorage
			case errors.Is(err, ErrNotRunning):
				code = http.StatusServiceUnavailable // stopping
			}
			http.Error(w, fmt.Sprintf("reload: %v", err), code)
		default:
			fmt.Fprintln(w, "configuration reloaded")
		}
	})
}

// serverErrorHandler handles the HTTP server's ErrorLog lines
// (slog.NewLogLogger(serverErrorHandler{h}, slog.LevelError)): TLS
// handshake errors (mostly scanners and clients that do not trust the
// certificate: noise) at debug, the others (a handler's panic with its
// stack, accept errors such as too many open files) at error.
type serverErrorHandler struct{ slog.Handler }

// Enabled implements slog.Handler: the level is decided in Handle.
func (h serverErrorHandler) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (h serverErrorHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "http: TLS handshake error") {
		r.Level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h serverErrorHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return serverErrorHandler{h.Handler.WithAttrs(as)}
}

// WithGroup implements slog.Handler.
func (h serverErrorHandler) WithGroup(name string) slog.Handler {
	return serverErrorHandler{h.Handler.WithGroup(name)}
}
