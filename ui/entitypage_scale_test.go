package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/ui"
)

const scaleT0 = int64(1764000000000)

// scaleStore stores n entities (ns/pod-00000 …) with labels and three
// predictions each at a 15 s step, the newest at scaleT0, but every
// seventh entity's (gone: its predictions end 10 minutes earlier).
func scaleStore(tb testing.TB, n int) *store.Store {
	tb.Helper()
	return apitest.EntityStore(tb, n, func(i int, id string) (store.EntityInfo, []store.Prediction) {
		end := scaleT0
		if i%7 == 3 {
			end -= 600000
		}
		e := store.EntityInfo{ID: id, Labels: map[string]string{"namespace": "ns", "pod": id[3:], "app": fmt.Sprintf("svc%d", i%5)},
			FirstSeen: end - 30000, LastSeen: end}
		var ps []store.Prediction
		for k := range 3 {
			ps = append(ps, store.Prediction{Entity: id, T: end - int64(k)*15000, Prob: 0.01 * float64(i%100), Anomaly: 0.5, Threshold: 0.5, ModelVersion: "v1"})
		}
		return e, ps
	})
}

// scaleUI is the UI over st with a model of a 15 s step (so that gone
// entities are told apart).
func scaleUI(tb testing.TB, st *store.Store) *ui.UI {
	tb.Helper()
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st, Model: func(context.Context) (api.ModelInfo, error) {
		return api.ModelInfo{Version: "v1", StepMs: 15000, AnomalyThreshold: 1}, nil
	}})
	if err != nil {
		tb.Fatal(err)
	}
	u, err := ui.New(ui.Options{Backend: b})
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func get(tb testing.TB, u *ui.UI, path string) (int, string) {
	tb.Helper()
	rec := httptest.NewRecorder()
	u.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// BenchmarkEntityPageManyEntities renders an entity page (a current and a
// gone entity) and, for comparison, the overview and a service's page,
// among 50,000 stored entities. The first overview (logged) reads every
// entity's latest prediction into the store's memory (store.EachLatest),
// which the pages timed then read.
func BenchmarkEntityPageManyEntities(b *testing.B) {
	u := scaleUI(b, scaleStore(b, 50000))
	start := time.Now()
	if code, body := get(b, u, "/ui/"); code != http.StatusOK {
		b.Fatalf("GET /ui/: %d %s", code, body)
	}
	b.Logf("first GET /ui/: %v", time.Since(start))
	for _, bc := range []struct{ name, path string }{
		{"entity", api.EntityUIPath("ns/pod-01234")},
		{"gone", api.EntityUIPath("ns/pod-01235")},
		{"service", api.EntityUIPath("svc4")},
		{"overview", "/ui/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if code, body := get(b, u, bc.path); code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", bc.path, code, body)
				}
			}
		})
	}
}

// fleetOnly hides a backend's one-entity reads: its latest predictions
// of one entity are every entity's (a superset, which the Backend
// contract allows), and it is no ui.NewestFinder. The pages over it are
// what they were before they read one entity's.
type fleetOnly struct{ api.Backend }

func (f fleetOnly) Predictions(ctx context.Context, q api.PredictionQuery) ([]api.Prediction, error) {
	if q.From.IsZero() && q.To.IsZero() {
		q.Entity = ""
	}
	return f.Backend.Predictions(ctx, q)
}

// The entity page (and its explain-now, and the alert page without a
// dependency graph) read every entity's latest prediction to find one
// entity's and the fleet's newest time (whether the entity is gone):
// 0.4-7.5 s a page with 150,000 entities kept. They now read the entity's
// and the store's newest time, and answer the same pages.
func TestEntityPageReadsOneEntity(t *testing.T) {
	const n = 5000
	st := scaleStore(t, n)
	id := store.PredictionID("ns/pod-01235", scaleT0-600000)
	if err := st.PutExplanation(id, fmt.Appendf(nil, `{"prediction_id":%q,"entity":"ns/pod-01235","t":%d}`, id, scaleT0-600000)); err != nil {
		t.Fatal(err)
	}
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st, Model: func(context.Context) (api.ModelInfo, error) {
		return api.ModelInfo{Version: "v1", StepMs: 15000, AnomalyThreshold: 1}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := ui.New(ui.Options{Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := ui.New(ui.Options{Backend: fleetOnly{b}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		code       int
		want       string
		cheap      bool
	}{
		{"current", api.EntityUIPath("ns/pod-01234"), http.StatusOK, `id="no-explanation"`, true},
		{"gone", api.EntityUIPath("ns/pod-01235"), http.StatusOK, `id="gone-notice" data-age-ms="600000"`, true},
		{"alert page without a graph", api.AlertUIPath(id), http.StatusOK, fmt.Sprintf(`data-now="%d"`, scaleT0), true},
		{"service", api.EntityUIPath("svc4"), http.StatusOK, `class="gone-entity"`, false},
		{"unknown", api.EntityUIPath("ns/nothing"), http.StatusNotFound, "No entity or service", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, fast, tc.path)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("GET %s: %d, want %d with %s:\n%.2000s", tc.path, code, tc.code, tc.want, body)
			}
			if scode, sbody := get(t, slow, tc.path); scode != code || sbody != body {
				t.Errorf("GET %s: %d, %d bytes; %d, %d bytes reading every entity's", tc.path, code, len(body), scode, len(sbody))
			}
			if !tc.cheap {
				return // the service's entities: every entity's labels
			}
			allocs := testing.AllocsPerRun(3, func() { get(t, fast, tc.path) })
			// Reading the n entities' latest predictions allocates
			// several times n.
			if allocs > 3000 {
				t.Errorf("GET %s among %d entities: %.0f allocations, every entity was read", tc.path, n, allocs)
			}
		})
	}
	// The explain-now POST of a gone entity reads the same.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, api.EntityUIPath("ns/pod-01235"), strings.NewReader("explain=now"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	fast.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), "is gone: omen no longer scores it (its latest prediction is 10m0s behind") {
		t.Errorf("explain now of a gone entity: %d %.2000s", rec.Code, rec.Body)
	}
}
