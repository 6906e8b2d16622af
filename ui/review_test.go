package ui_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// pageHas fetches path and checks that the page (status code) contains
// every want and none of not.
func pageHas(t *testing.T, srv string, path string, code int, want, not []string) string {
	t.Helper()
	c, body, _ := fetch(t, srv+path)
	if c != code {
		t.Fatalf("%s: status %d, want %d:\n%s", path, c, code, body)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %s", path, w)
		}
	}
	for _, w := range not {
		if strings.Contains(body, w) {
			t.Errorf("%s has %s", path, w)
		}
	}
	return body
}

// TestModelSection: the overview's model shows durations, not ms counts;
// a "threshold" training metric is not listed a second time.
func TestModelSection(t *testing.T) {
	b := apitest.Backend()
	b.Model.Metrics["threshold"] = 0.5
	srv := newServer(t, b)
	body := pageHas(t, srv.URL, "/ui/", 200,
		[]string{`2m (8 steps of 15s), horizon 10m</span>`, `<span>registered</span>`},
		[]string{` ms, horizon `, `<span>created</span>`})
	sec := regexp.MustCompile(`(?s)<section id="model">.*?</section>`).FindString(body)
	if n := strings.Count(sec, "<span>threshold</span>"); n != 1 {
		t.Errorf("model section lists threshold %d times:\n%s", n, sec)
	}
}

// TestAnnotationLinks: URL annotations (explanation_url, runbook_url) are
// links on the alert page; a javascript: value is not.
func TestAnnotationLinks(t *testing.T) {
	b := apitest.Backend()
	b.AlertList[0].Annotations = map[string]string{
		"explanation_url": "http://127.0.0.1:9090/ui/alerts/" + apitest.FiringFingerprint,
		"runbook_url":     "https://runbooks.example/module-load",
		"other":           "javascript:alert(1)",
	}
	srv := newServer(t, b)
	pageHas(t, srv.URL, api.AlertUIPath(apitest.FiringFingerprint), 200,
		[]string{`<a href="http://127.0.0.1:9090/ui/alerts/` + apitest.FiringFingerprint + `">`,
			`<a href="https://runbooks.example/module-load">`},
		[]string{`href="javascript:`})
}

// TestResolvedAt: a resolved alert's resolved_at is shown in the alert
// lists and on its page.
func TestResolvedAt(t *testing.T) {
	b := apitest.Backend()
	srv := newServer(t, b)
	var r api.Alert
	for _, a := range b.AlertList {
		if a.State == api.AlertResolved {
			r = a
		}
	}
	if r.ResolvedAt == 0 {
		t.Fatal("fixture has no resolved alert")
	}
	attr := `data-resolved-at="` + strconv.FormatInt(r.ResolvedAt, 10) + `"`
	pageHas(t, srv.URL, "/ui/", 200, []string{`<th>resolved at</th>`, attr}, nil)
	pageHas(t, srv.URL, api.EntityUIPath(r.Entity), 200, []string{attr}, nil)
	// The resolved alert has no explanation of its own in the fixture: show
	// its page via the prediction it names.
	b.Explanations[r.Fingerprint] = b.Explanations[r.PredictionID]
	pageHas(t, srv.URL, api.AlertUIPath(r.Fingerprint), 200, []string{`<span>resolved at</span>`, `id="resolved-at" ` + attr}, nil)
}

// TestEmptyStates: a filter matching nothing says so with a link clearing
// it (not "No predictions yet" while entities are predicted); an entity
// without a stored explanation says so and offers "explain now" rather
// than a raw backend error; an unknown alert id is one plain sentence,
// not an error wrapped twice.
func TestEmptyStates(t *testing.T) {
	b := apitest.Backend()
	for id, x := range b.Explanations {
		if x.Entity == "infra/db-0" {
			delete(b.Explanations, id)
		}
	}
	srv := newServer(t, b)
	pageHas(t, srv.URL, "/ui/?match%5Bnamespace%5D=nowhere", 200,
		[]string{`id="no-match"`, `namespace="nowhere"`, `<a href="/ui/" id="clear-filter">`},
		[]string{`No predictions yet`, `The 0 entities`})
	pageHas(t, srv.URL, api.EntityUIPath("infra/db-0"), 200,
		[]string{`No explanation stored for this entity yet`, `<form class="explain-now" method="post" action="` + api.EntityUIPath("infra/db-0") + `">`},
		[]string{`not found`, `@`})
	body := pageHas(t, srv.URL, "/ui/alerts/nope", 404, []string{`no alert or prediction &#34;nope&#34;`}, nil)
	if n := strings.Count(body, "nope"); n > 2 { // the title and the sentence
		t.Errorf("error page names the id %d times:\n%s", n, body)
	}
}

// TestEmptyOverviewWithoutModel: before a model is loaded the overview
// says why nothing is predicted and what to do (it said only "No
// predictions yet", which read as ingestion not working); with a model
// and no predictions yet, the plain sentence.
func TestEmptyOverviewWithoutModel(t *testing.T) {
	b := apitest.Backend()
	b.PredictionList, b.AlertList, b.Model = nil, nil, nil
	pageHas(t, newServer(t, b).URL, "/ui/", 200,
		[]string{`id="no-predictions"`, `no model is loaded`, `<code>omen train</code>`}, nil)
	b = apitest.Backend()
	b.PredictionList, b.AlertList = nil, nil
	pageHas(t, newServer(t, b).URL, "/ui/", 200,
		[]string{`<p class="muted" id="no-predictions">No predictions yet.</p>`}, []string{`no model is loaded`})
}

// TestOverviewModelRefused: with no model loaded because the promoted
// one was refused (it does not fit the features), the overview says so,
// and why, above the predictions still stored (from before), and in the
// Model section; it showed them as current and dropped the section.
func TestOverviewModelRefused(t *testing.T) {
	why := "model v2 does not fit the configured features: feature mismatch"
	b := apitest.Backend()
	b.Model, b.NoModel = nil, &api.NoModelError{Reason: errors.New(why)}
	pageHas(t, newServer(t, b).URL, "/ui/", 200,
		[]string{`<p class="notice" id="no-model">No model is loaded: ` + why + `. The predictions shown are from before it stopped scoring`,
			`<p id="model-none">None loaded: ` + why + `.</p>`, `most likely to fail`}, nil)
	// The empty store says why too.
	b.PredictionList, b.AlertList = nil, nil
	pageHas(t, newServer(t, b).URL, "/ui/", 200,
		[]string{`No predictions yet: no model is loaded (` + why + `).`}, []string{`id="no-model"`})
	// None promoted: no reason to give.
	b = apitest.Backend()
	b.Model, b.NoModel = nil, &api.NoModelError{}
	pageHas(t, newServer(t, b).URL, "/ui/", 200,
		[]string{`No model is loaded: none is promoted. The predictions shown`, `None loaded: none is promoted.`}, nil)
}

// TestModelSectionTrainingThreshold: a training threshold that differs
// from the model's live threshold is kept, named as such.
func TestModelSectionTrainingThreshold(t *testing.T) {
	b := apitest.Backend()
	b.Model.Metrics["threshold"] = 0.7
	srv := newServer(t, b)
	pageHas(t, srv.URL, "/ui/", 200, []string{`<span>training threshold</span><span>70.00%</span>`}, nil)
}

// TestExplanationTime: the entity page and the heat map show when the
// prediction explained was made and, when it is older than the latest
// prediction (an alert's explanation), how much older.
func TestExplanationTime(t *testing.T) {
	b := apitest.Backend()
	srv := newServer(t, b)
	x := b.Explanations[apitest.CartEntity+"@"+strconv.FormatInt(apitest.T0, 10)]
	if x.T != apitest.T0 {
		t.Fatalf("fixture explanation at %d", x.T)
	}
	pageHas(t, srv.URL, api.EntityUIPath(apitest.CartEntity), 200,
		[]string{`id="explanation-time" data-t="` + strconv.FormatInt(apitest.T0, 10) + `" data-age-ms="0"`, `(the latest prediction)`}, []string{`class="stale"`})

	// A newer prediction without an explanation: the alert's is shown, aged.
	addNewerPrediction(b, apitest.CartEntity, 40)
	pageHas(t, srv.URL, api.EntityUIPath(apitest.CartEntity), 200,
		[]string{`data-age-ms="600000" class="stale"`, `10m before the latest prediction</strong>`}, nil)
	body := pageHas(t, srv.URL, "/ui/", 200, nil, nil)
	row := regexp.MustCompile(`(?s)<g class="hm-row" data-entity="` + regexp.QuoteMeta(apitest.CartEntity) + `".*?</g>`).FindString(body)
	if !strings.Contains(row, `class="hm-asof stale"`) || !strings.Contains(row, `(10m old)`) {
		t.Errorf("heat map row does not say its explanation is 10m old:\n%s", row)
	}
	// The alert may still fire: the tooltip must not say it resolved.
	if strings.Contains(row, "kept after the alert resolved") || !strings.Contains(row, "kept while it fires and after it resolves") {
		t.Errorf("heat map row's tooltip says the alert resolved, or not why the explanation is older:\n%s", row)
	}
}

// TestGraphIsLive: the alert page's dependency graph is read live, and the
// page says so with the time of its evidence (the fleet's latest
// prediction), next to the prediction's time.
func TestGraphIsLive(t *testing.T) {
	b := apitest.Backend()
	p := b.PredictionList[len(b.PredictionList)-1]
	p.T = apitest.T0 + 8*apitest.Step
	p.ID = p.Entity + "@" + strconv.FormatInt(p.T, 10)
	b.PredictionList = append(b.PredictionList, p)
	srv := newServer(t, b)
	pageHas(t, srv.URL, api.AlertUIPath(apitest.FiringFingerprint), 200,
		[]string{`id="graph"`, `id="graph-now" data-now="` + strconv.FormatInt(p.T, 10) + `"`,
			`— now (latest predictions, 2025-11-24 16:02:00Z), not at the prediction (2025-11-24 16:00:00Z)`,
			`Root-cause entities <span style="font-weight:normal" class="muted">(as at the prediction`}, nil)
}

// TestServiceOfPods: the demo's pods carry only namespace and pod labels;
// a service page lists them by the pod name without its Deployment
// suffixes, as the dependency graph names them. A name that maps to
// nothing is a 404 that says how entities map to services (and links the
// API's dependency route only when the graph holds the name: see
// TestServiceNotFoundLinksOnlyGraphNodes).
func TestServiceOfPods(t *testing.T) {
	b := apitest.Backend()
	for i, p := range b.PredictionList {
		if p.Entity == apitest.CartEntity {
			b.PredictionList[i].Labels = map[string]string{"namespace": "shop", "pod": "cartservice-7d9f8b6c4-x2k9p"}
		}
	}
	srv := newServer(t, b)
	pageHas(t, srv.URL, "/ui/entities/cartservice", 200,
		[]string{`Service cartservice`, `href="` + api.EntityUIPath(apitest.CartEntity) + `"`}, nil)
	// Not linked to a dependency route that 404s too.
	pageHas(t, srv.URL, "/ui/entities/nosuchservice", 404,
		[]string{`id="error-hint"`, `service, app, app_kubernetes_io_name, module`},
		[]string{`id="error-link"`, `/dependencies`})
}

// TestCausesRaiseRisk: the alert page's ranked causes are the groups that
// raise the failure probability; a stored cause with φ < 0 (documents
// written before explain.Causes left those out) is not listed as one.
func TestCausesRaiseRisk(t *testing.T) {
	b := apitest.Backend()
	id := apitest.CartEntity + "@" + strconv.FormatInt(apitest.T0, 10)
	x := b.Explanations[id]
	x.Causes.Metrics = []api.MetricCause{{Name: "restarts", Kind: "metric", Phi: 0.3, Share: 0.5},
		{Name: "latency_p99", Kind: "metric", Phi: -0.0002, Share: 0.01}, {Name: "dns_errors", Kind: "metric", Phi: 0.1, Share: 0.2}}
	b.Explanations[id] = x
	srv := newServer(t, b)
	body := pageHas(t, srv.URL, api.AlertUIPath(apitest.FiringFingerprint), 200, []string{`id="lowering"`}, nil)
	rows := regexp.MustCompile(`class="metric-cause" data-metric="([^"]+)"`).FindAllStringSubmatch(body, -1)
	var got []string
	for _, r := range rows {
		got = append(got, r[1])
	}
	if strings.Join(got, ",") != "restarts,dns_errors" {
		t.Errorf("metric causes %v, want restarts, dns_errors", got)
	}
}

// TestPendingAndNewestProbability: a pending alert (listed since the API
// lists them) has no explanation yet, so its row links to its entity,
// not to an alert page that would be a 404; an alert page says the
// newest prediction's probability beside the fired-on one's when they
// differ (the API's probability against fired_probability).
func TestPendingAndNewestProbability(t *testing.T) {
	b := apitest.Backend()
	var firing *api.Alert
	for i := range b.AlertList {
		if b.AlertList[i].Fingerprint == apitest.FiringFingerprint {
			firing = &b.AlertList[i]
		}
	}
	if firing == nil {
		t.Fatal("fixture has no firing alert")
	}
	pending := *firing
	pending.Fingerprint, pending.State, pending.ResolvedAt = "pending0000000001", api.AlertPending, 0
	b.AlertList = append(b.AlertList, pending)
	firing = &b.AlertList[slices.IndexFunc(b.AlertList, func(a api.Alert) bool { return a.Fingerprint == apitest.FiringFingerprint })]
	srv := newServer(t, b)
	pageHas(t, srv.URL, "/ui/", 200,
		[]string{`data-fingerprint="pending0000000001" data-state="pending"`, `<a class="pending-entity" href="` + api.EntityUIPath(pending.Entity) + `">entity</a>`},
		[]string{`href="` + api.AlertUIPath("pending0000000001") + `"`})
	x, err := b.Explanation(context.Background(), apitest.FiringFingerprint)
	if err != nil || x.Probability == 0 {
		t.Fatalf("fixture's explanation of the firing alert: %+v, %v", x, err)
	}
	firing.Probability = x.Probability
	pageHas(t, srv.URL, api.AlertUIPath(apitest.FiringFingerprint), 200, nil, []string{`id="prob-now"`})
	firing.Probability = x.Probability / 2
	pageHas(t, srv.URL, api.AlertUIPath(apitest.FiringFingerprint), 200,
		[]string{`<span id="prob-now" data-prob-now="` + strconv.FormatFloat(x.Probability/2, 'g', -1, 64) + `">`}, nil)
}
