package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// BenchmarkExplanation serves one explanation of a realistic size (38
// groups, a 32×38 window) through the whole handler chain.
func BenchmarkExplanation(b *testing.B) {
	be := apitest.Fleet(200, 38, 32, 0, 1)
	a, err := api.New(api.Options{Backend: be, ListenAddress: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	h := a.Handler()
	path := api.ExplanationPath(be.AlertList[0].Fingerprint)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9464"+path, nil))
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkPredictions lists the latest predictions of 2000 entities
// filtered by a label.
func BenchmarkPredictions(b *testing.B) {
	be := apitest.Fleet(2000, 4, 2, 0, 1)
	a, err := api.New(api.Options{Backend: be, ListenAddress: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	h := a.Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9464/api/v1/predictions?match[namespace]=ns1", nil))
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
