package app

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
)

// TestNoModelSaysWhy: an active model that does not fit the configured
// features is refused at the start, and the error of a request that
// needs a model (the API's 503, the UI's notice) says why; with none
// promoted it says only that none is loaded. It said "no model loaded"
// either way, and the UI showed the old predictions without a word.
func TestNoModelSaysWhy(t *testing.T) {
	cfg := config.Default()
	names := features.Names(cfg.Config)
	for _, c := range []struct {
		name    string
		promote []string // the promoted model's features; nil: none promoted
		want    string
	}{
		{"none promoted", nil, "no model loaded"},
		{"does not fit", append(names[1:len(names):len(names)], "other_feature"),
			`no model loaded: model m`},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := store.Open(store.Options{Path: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			if c.promote != nil {
				promoteTestModel(t, st, testModel(t, c.promote, 4, 8, 1))
			}
			s, err := newScorer(scorerOptions{Store: st, Config: cfg, Registerer: prometheus.NewRegistry(),
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			a := &App{scorer: s, store: st}
			_, err = a.modelInfo(t.Context())
			var nm *api.NoModelError
			if !errors.As(err, &nm) || !errors.Is(err, api.ErrUnavailable) {
				t.Fatalf("model info: %v, want an api.NoModelError (unavailable)", err)
			}
			if got := err.Error(); !strings.HasPrefix(got, c.want) || (c.promote != nil && !strings.Contains(got, "does not fit the configured features: unusable model: feature mismatch")) {
				t.Errorf("model info: %q, want it to start %q and, for a refused model, say why", got, c.want)
			}
			if (nm.Reason != nil) != (c.promote != nil) {
				t.Errorf("reason %v, want one only for a refused model", nm.Reason)
			}
		})
	}
}
