package ui_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/ui"
)

func benchPage(b *testing.B, be api.Backend, path string) {
	u, err := ui.New(ui.Options{Backend: be})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		u.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkAlertPage renders the alert page of a 38-group explanation.
func BenchmarkAlertPage(b *testing.B) {
	be := apitest.Fleet(200, 38, 32, 0, 1)
	benchPage(b, be, api.AlertUIPath(be.AlertList[0].Fingerprint))
}

// BenchmarkOverview renders the overview of 2000 entities (heat map of the
// top 40 × 24 groups).
func BenchmarkOverview(b *testing.B) {
	benchPage(b, apitest.Fleet(2000, 38, 32, 0, 1), "/ui/")
}

// BenchmarkEntityPage renders an entity page with 6 h of 15 s history.
func BenchmarkEntityPage(b *testing.B) {
	be := apitest.Fleet(50, 38, 32, 1440, 1)
	benchPage(b, be, api.EntityUIPath(be.PredictionList[0].Entity))
}
