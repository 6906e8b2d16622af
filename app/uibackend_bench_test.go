package app

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/ui"
)

// BenchmarkUIOverview measures GET /ui/ over a store holding the default
// History (6 h) of predictions at a 15 s step for each of the heat map's 40
// entities, none of whose latest prediction is explained: every row looks
// for the entity's newest stored explanation (EntityExplanation). Every
// fourth entity has one, under its oldest prediction.
func BenchmarkUIOverview(b *testing.B) {
	st, err := store.Open(store.Options{Path: b.TempDir(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	const entities, steps, step, t0 = 40, 6 * 3600 / 15, int64(15000), int64(1_700_000_000_000)
	for e := range entities {
		ent := fmt.Sprintf("shop/pod-%d", e)
		ps := make([]store.Prediction, 0, steps)
		for i := range int64(steps) {
			ps = append(ps, store.Prediction{Entity: ent, T: t0 + i*step, Prob: 0.1, Threshold: 0.9, ModelVersion: "v1"})
		}
		if err := st.PutPredictions(ps); err != nil {
			b.Fatal(err)
		}
		if e%4 == 0 {
			id := store.PredictionID(ent, t0+step)
			if err := st.PutExplanation(id, fmt.Appendf(nil, `{"prediction_id":%q,"entity":%q,"t":%d}`, id, ent, t0+step)); err != nil {
				b.Fatal(err)
			}
		}
	}
	bk, err := api.NewStoreBackend(api.StoreOptions{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	u, err := ui.New(ui.Options{Backend: uiBackend{bk, st}})
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	u.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/", nil))
	if n := strings.Count(rec.Body.String(), "data-explained-t="); n != entities/4 {
		b.Fatalf("GET /ui/: %d heat-map rows explained, want %d", n, entities/4)
	}
	for b.Loop() {
		rec := httptest.NewRecorder()
		u.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/", nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET /ui/: %d %s", rec.Code, rec.Body)
		}
	}
}
