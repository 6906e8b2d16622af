package ui_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// TestResolvedAlertProbability: a resolved alert's probability is the one
// it had when it resolved (since 4f21067), not the newest prediction's:
// its page labelled it "P(failure) now … (the newest prediction…)" (UI
// re-review's finding 1). A firing alert's stays "now".
func TestResolvedAlertProbability(t *testing.T) {
	b := apitest.Backend()
	i := slices.IndexFunc(b.AlertList, func(a api.Alert) bool { return a.Fingerprint == apitest.FiringFingerprint })
	if i < 0 {
		t.Fatal("fixture has no firing alert")
	}
	x, err := b.Explanation(context.Background(), apitest.FiringFingerprint)
	if err != nil {
		t.Fatal(err)
	}
	p := strconv.FormatFloat(x.Probability/2, 'g', -1, 64)
	b.AlertList[i].Probability = x.Probability / 2
	srv := newServer(t, b)
	fp := api.AlertUIPath(apitest.FiringFingerprint)
	pageHas(t, srv.URL, fp, http.StatusOK, []string{`<span>P(failure) now</span><span id="prob-now" data-prob-now="` + p + `">`}, []string{`when it resolved`})
	b.Lock()
	b.AlertList[i].State, b.AlertList[i].ResolvedAt = api.AlertResolved, apitest.T0
	b.Unlock()
	pageHas(t, srv.URL, fp, http.StatusOK,
		[]string{`<span>P(failure) when it resolved</span><span id="prob-resolved" data-prob-resolved="` + p + `">`},
		[]string{`P(failure) now`, `(the newest prediction;`})
}
