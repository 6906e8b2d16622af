package app

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/omen-sre/omen/runbooks"
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
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "omen is not ready.", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "omen is Ready.")
	})
	reload := func(w http.ResponseWriter, _ *http.Request) {
		if err := a.Reload(); err != nil {
			http.Error(w, fmt.Sprintf("reload: %v", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "configuration reloaded")
	}
	// Reload and remote-write change state: behind the token when one is set.
	mux.Handle("POST /-/reload", s.Protect(http.HandlerFunc(reload)))
	mux.Handle("PUT /-/reload", s.Protect(http.HandlerFunc(reload)))
	if src.remoteWrite != nil {
		mux.Handle("POST /api/v1/write", s.Protect(src.remoteWrite))
	}
	mux.Handle("GET "+runbooks.Path, runbooks.Handler())
	a.mountAPI(mux, s)
	return mux, nil
}
