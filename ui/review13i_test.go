package ui_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
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

// TestExplanationOrigin: the heat map and the entity page link an
// alert's explanation to the alert's page when the alert is listed (it
// linked the prediction's page, which did not mention the alert), and the
// prediction's page names the listed alerts that fired on it; an
// explanation stored under a prediction id alone (an alert's no longer
// listed, or an explain-now's: the document does not say which) is not
// described as an alert's (UI re-review's findings 2 and 3).
func TestExplanationOrigin(t *testing.T) {
	fp := apitest.FiringFingerprint
	alertHref := `href="` + api.AlertUIPath(fp) + `"`
	predHref := `href="` + api.AlertUIPath(cartT0) + `"`
	heatRow := func(t *testing.T, srv string) string {
		body := pageHas(t, srv, "/ui/", http.StatusOK, nil, []string{`the explanation of an earlier alert`})
		return regexp.MustCompile(`(?s)<g class="hm-row" data-entity="` + regexp.QuoteMeta(apitest.CartEntity) + `".*?</g>`).FindString(body)
	}

	// The alert is listed: its explanation is of a prediction older than
	// the latest.
	b := apitest.Backend()
	addNewerPrediction(b, apitest.CartEntity, 1)
	srv := newServer(t, b)
	row := heatRow(t, srv.URL)
	if !strings.Contains(row, alertHref) || strings.Contains(row, predHref) || !strings.Contains(row, `the step alert `+fp+` fired on`) {
		t.Errorf("the heat map's row of a listed alert's explanation does not link or name the alert:\n%s", row)
	}
	pageHas(t, srv.URL, api.EntityUIPath(apitest.CartEntity), http.StatusOK,
		[]string{`<a id="explanation-link" ` + alertHref + `>alert ` + fp + `, prediction ` + cartT0 + `</a>`}, nil)
	pageHas(t, srv.URL, api.AlertUIPath(cartT0), http.StatusOK,
		[]string{`id="fired-on"`, `<a class="fired-alert" ` + alertHref + ` data-fingerprint="` + fp + `">`}, []string{`id="explanation-origin"`})

	// The alert left the list: the stored explanation does not say it
	// was an alert's.
	b = unlisted()
	addNewerPrediction(b, apitest.CartEntity, 1)
	srv = newServer(t, b)
	row = heatRow(t, srv.URL)
	if !strings.Contains(row, predHref) || !strings.Contains(row, `or of an explain-now`) || strings.Contains(row, `the step alert `) {
		t.Errorf("the heat map's row of an explanation stored under a prediction id alone:\n%s", row)
	}
	pageHas(t, srv.URL, api.EntityUIPath(apitest.CartEntity), http.StatusOK,
		[]string{`<a id="explanation-link" ` + predHref + `>prediction ` + cartT0 + `</a>`}, nil)
	pageHas(t, srv.URL, api.AlertUIPath(cartT0), http.StatusOK, []string{`id="explanation-origin"`}, []string{`id="fired-on"`})
}

// TestServiceGoneEntities: a service's page lists its gone entities (a
// rolling deploy's old pods) apart, with their age, as the overview does;
// they were listed among the live ones without a mark (UI re-review's
// finding 4).
func TestServiceGoneEntities(t *testing.T) {
	b := apitest.Backend()
	const old = goneCartPod
	last := addGonePod(b, 0)
	srv := newServer(t, b)
	body := pageHas(t, srv.URL, api.EntityUIPath("cart"), http.StatusOK,
		[]string{`id="service-entities"`, `class="service-entity" data-entity="` + apitest.CartEntity + `"`,
			`id="gone"`, `class="gone-entity" data-entity="` + old + `" data-t="` + strconv.FormatInt(last, 10) + `"`, `1m30s before`},
		[]string{`class="service-entity" data-entity="` + old + `"`})
	if i, j := strings.Index(body, `id="service-entities"`), strings.Index(body, `id="gone-entities"`); i < 0 || j < i || strings.Contains(body[i:j], old) {
		t.Errorf("the gone entity is listed with the live ones:\n%s", body)
	}
}

// TestGoneEntityExplainNow: a gone entity's page offers no "explain now"
// (it always failed: "has no current prediction") and says why; a
// current entity's page still offers it (UI re-review's finding 5).
func TestGoneEntityExplainNow(t *testing.T) {
	b := apitest.Backend()
	const old = goneCartPod
	addGonePod(b, 0)
	srv := newServer(t, b)
	explainNow := `<form class="explain-now" method="post" action="` + api.EntityUIPath(old) + `">`
	pageHas(t, srv.URL, api.EntityUIPath(old), http.StatusOK, []string{`id="gone-notice"`, `id="no-explain-now"`}, []string{explainNow})
	postHas(t, srv.URL, api.EntityUIPath(old), http.StatusOK,
		[]string{`id="no-explain-now"`, `is gone: omen no longer scores it`}, []string{explainNow, `has no current prediction`})
	pageHas(t, srv.URL, api.EntityUIPath(apitest.CartEntity), http.StatusOK,
		[]string{`<form class="explain-now" method="post" action="` + api.EntityUIPath(apitest.CartEntity) + `">`}, []string{`id="no-explain-now"`})
}

// TestUnknownAlertHint: the page of a fingerprint without a stored
// explanation (such as a pending alert's that has since fired, under
// another fingerprint) says a pending alert's fingerprint changes when it
// fires; it read as if the alert never fired (UI re-review's finding 6).
func TestUnknownAlertHint(t *testing.T) {
	srv := newServer(t, apitest.Backend())
	pageHas(t, srv.URL, api.AlertUIPath("00000000deadbeef"), http.StatusNotFound,
		[]string{`id="error" data-code="404"`, `00000000deadbeef`, `id="error-hint"`, `fingerprint changes when it fires`}, nil)
}

// TestUnlistedBadge: the "no longer listed" badge, whose text says
// "resolved, or ended otherwise", is neutral, not the resolved green (UI
// re-review's finding 7), and readable (white on it at 4.5:1 or more).
func TestUnlistedBadge(t *testing.T) {
	srv := newServer(t, unlisted())
	body := pageHas(t, srv.URL, api.AlertUIPath(apitest.FiringFingerprint), http.StatusOK,
		[]string{`<span class="badge unlisted" id="alert-unlisted">`}, []string{`class="badge resolved" id="alert-unlisted"`})
	m := regexp.MustCompile(`\.unlisted\{background:(#[0-9a-f]{3,6})`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no .unlisted background in the CSS")
	}
	if r := contrast("#fff", m[1]); r < 4.5 {
		t.Errorf("white on the unlisted badge %s is %.2f:1, under 4.5:1", m[1], r)
	}
}
