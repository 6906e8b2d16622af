package alert

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestExplanationURLAnnotations: explanation_url is the alert's page in
// omen's UI (the generatorURL, which renders the explanation), not the
// JSON API, which explanation_api_url names instead; an Explainer's own
// URL replaces both, and an alert without explanation links its page only.
// explanation_url was <ExternalURL>/api/v1/explanations/<fingerprint>, JSON
// for a person clicking it in a notification.
func TestExplanationURLAnnotations(t *testing.T) {
	const ext = "http://omen.example:9090"
	tests := []struct {
		name        string
		explainer   Explainer
		wantGen     string // "{fp}" is replaced by the fingerprint, "{id}" by the prediction's id
		wantExplURL string // "{gen}" is the generatorURL
		wantAPIURL  string // "" absent
	}{
		// Per firing: the prediction it fired on, under which omen stores
		// the explanation.
		{"omen's explanation", fakeExplainer{}, ext + "/ui/alerts/{id}", "{gen}", ext + "/api/v1/explanations/{id}"},
		{"explainer's own page", ExplainerFunc(func(ctx context.Context, p Prediction) (Explanation, error) {
			e, err := fakeExplainer{}.Explain(ctx, p)
			e.URL = "https://explain.example/" + p.ID
			return e, err
		}), ext + "/ui/alerts/{fp}", "https://explain.example/{id}", ""},
		{"explanation failed", ExplainerFunc(func(context.Context, Prediction) (Explanation, error) {
			return Explanation{}, errors.New("no window")
		}), ext + "/ui/alerts/{fp}", "{gen}", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, "")
			o := testOptions(st, fakeAM)
			o.For = 1
			o.ExternalURL = ext
			o.Explainer = tc.explainer
			m, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
			t0 := time.Now()
			p := pred("checkout-7f9c", t0, 0.93)
			if err := m.Process(context.Background(), t0, []Prediction{p}); err != nil {
				t.Fatal(err)
			}
			got := pending(t, st, fakeAM)
			if len(got) != 1 || len(got[0]) != 1 {
				t.Fatalf("outbox %v, want one alert", got)
			}
			a := got[0][0]
			fp := fingerprint(a.Labels)
			r := func(s string) string {
				for _, kv := range [][2]string{{"{gen}", a.GeneratorURL}, {"{fp}", fp}, {"{id}", p.ID}} {
					s = strings.ReplaceAll(s, kv[0], kv[1])
				}
				return s
			}
			if want := r(tc.wantGen); a.GeneratorURL != want {
				t.Errorf("generatorURL %q, want %q", a.GeneratorURL, want)
			}
			if got, want := a.Annotations["explanation_url"], r(tc.wantExplURL); got != want {
				t.Errorf("explanation_url %q, want %q", got, want)
			}
			got2, ok := a.Annotations["explanation_api_url"]
			if want := r(tc.wantAPIURL); got2 != want || ok != (want != "") {
				t.Errorf("explanation_api_url %q (present %v), want %q", got2, ok, want)
			}
		})
	}
}
