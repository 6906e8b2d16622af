package ui_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/explain"
)

// TestMalformedFilterIs400: the overview refuses the filters the API
// refuses (400, the API's message) instead of ignoring them: /ui/?match[pod=x
// showed the whole fleet, match[pod]=a&match[pod]=b silently the first.
func TestMalformedFilterIs400(t *testing.T) {
	srv := newServer(t, apitest.Backend())
	for _, q := range []string{"match%5Bpod=x", "match%5Bpod%5D=a&match%5Bpod%5D=b", "match%5B%5D=x"} {
		_, apiBody, _ := fetch(t, srv.URL+"/api/v1/predictions?"+q)
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(apiBody), &e); err != nil || e.Error == "" {
			t.Fatalf("API on %s: %s", q, apiBody)
		}
		body := pageHas(t, srv.URL, "/ui/?"+q, http.StatusBadRequest, []string{`id="error" data-code="400"`}, []string{`id="heatmap"`})
		if want := strings.ReplaceAll(e.Error, `"`, "&#34;"); !strings.Contains(body, want) {
			t.Errorf("/ui/?%s does not say the API's %q:\n%s", q, e.Error, body)
		}
	}
	pageHas(t, srv.URL, "/ui/?match%5Bnamespace%5D=shop", http.StatusOK, []string{`id="heatmap"`}, nil)
}

// TestUnescapedEntityPath: every Kubernetes entity name holds a "/"; the
// UI reads /ui/entities/NS/POD (and a prediction id's /ui/alerts/NS/POD@T)
// as the escaped path, and its other 404s say how to escape.
func TestUnescapedEntityPath(t *testing.T) {
	srv := newServer(t, apitest.Backend())
	pageHas(t, srv.URL, "/ui/entities/"+apitest.CartEntity, http.StatusOK, []string{`<h1>` + apitest.CartEntity + `</h1>`}, nil)
	pageHas(t, srv.URL, "/ui/alerts/"+apitest.CartEntity+"@1764000000000", http.StatusOK, []string{`id="waterfall"`}, nil)
	pageHas(t, srv.URL, "/ui/nosuch/page", http.StatusNotFound, []string{`No page /ui/nosuch/page.`, `as %2F`}, nil)
}

// TestServiceNotFoundLinksOnlyGraphNodes: the 404 of a name no entity maps
// to links the dependency route only when the graph holds the name (the
// link 404ed for /ui/entities/nosuch).
func TestServiceNotFoundLinksOnlyGraphNodes(t *testing.T) {
	b := apitest.Backend()
	b.Edges = append(b.Edges, b.Edges[0])
	b.Edges[len(b.Edges)-1].From = "payments" // a graph node without entities
	srv := newServer(t, b)
	pageHas(t, srv.URL, "/ui/entities/nosuch", http.StatusNotFound, nil, []string{`id="error-link"`, `/dependencies`})
	pageHas(t, srv.URL, "/ui/entities/payments", http.StatusNotFound,
		[]string{`id="error-link" href="/api/v1/entities/payments/dependencies"`}, nil)
}

// TestProbabilitiesOrderAgainstThreshold: P 0.99308 under a threshold of
// 0.99347 showed as "0.993 (threshold 0.993)". The pages render both with
// the digits that tell them apart, and the chart marks the points at or
// over their threshold.
func TestProbabilitiesOrderAgainstThreshold(t *testing.T) {
	b := apitest.Backend()
	for i, p := range b.PredictionList {
		if p.Entity != apitest.CartEntity {
			continue
		}
		b.PredictionList[i].Threshold = 0.99347
		b.PredictionList[i].Probability = 0.99308
		if p.T == apitest.T0-apitest.Step {
			b.PredictionList[i].Probability = 0.9936 // over
		}
	}
	srv := newServer(t, b)
	body := pageHas(t, srv.URL, api.EntityUIPath(apitest.CartEntity), http.StatusOK,
		[]string{`99.31% <span class="muted">(threshold <span data-threshold="0.99347">99.35%</span>`, `id="chart-legend"`},
		[]string{`>0.993 <`, `>0.993</`})
	if n := strings.Count(body, `class="pt above"`); n != 1 {
		t.Errorf("%d chart points marked at or over the threshold, want 1", n)
	}
	if !regexp.MustCompile(`class="pt above"[^>]*fill="#c81e28"`).MatchString(body) {
		t.Errorf("the point over the threshold is not red")
	}
}

// TestAnomalyThresholdShown: /api/v1/model tells the anomaly threshold, and
// the pages show it beside the anomaly scores; the model card names its
// training metrics.
func TestAnomalyThresholdShown(t *testing.T) {
	b := apitest.Backend()
	b.Model.Metrics = map[string]float64{"val_score": 0.179, "val_loss": 0.41}
	srv := newServer(t, b)
	_, body, _ := fetch(t, srv.URL+"/api/v1/model")
	if !strings.Contains(body, `"anomaly_threshold":2.5`) {
		t.Errorf("/api/v1/model lacks anomaly_threshold: %s", body)
	}
	// The cart's anomaly score is 3 × 0.91 = 2.73.
	for _, p := range []string{api.EntityUIPath(apitest.CartEntity), api.AlertUIPath(apitest.FiringFingerprint)} {
		pageHas(t, srv.URL, p, http.StatusOK, []string{`2.73 (at or over the anomaly threshold 2.50 of model v3)`}, nil)
	}
	pageHas(t, srv.URL, "/ui/", http.StatusOK, []string{`id="model-anomaly-threshold" data-anomaly-threshold="2.5">2.500`,
		`validation AUC-PR (average precision; val_score)`, `validation loss (val_loss)`}, nil)
}

// TestGraphColourIsAbsolute: a quiet neighbourhood is not painted the
// firing red: node colours are on absolute scales (evidence against the
// model's anomaly threshold, P(failure) against its threshold), not against
// the neighbourhood's highest evidence. And a failing node is the firing
// red whatever its anomaly score: the colour was evidence alone, and a
// firing pod of P 99.49% with a small anomaly score was drawn white (UI
// reviewer's finding 4).
func TestGraphColourIsAbsolute(t *testing.T) {
	b := apitest.Backend()
	for k := range b.Evidence {
		b.Evidence[k] = 0.1
	}
	srv := newServer(t, b)
	body := pageHas(t, srv.URL, api.AlertUIPath(apitest.FiringFingerprint), http.StatusOK,
		[]string{`id="graph-legend"`, `the firing red for a failing node: one of its entities at or over its failure threshold or with a firing alert`,
			`its evidence (anomaly score plus failure probability) over the model's anomaly threshold 2.500`}, nil)
	circles := regexp.MustCompile(`<g class="node" data-node="([^"]+)"[^>]*>\s*<circle[^>]*fill="(#[0-9a-f]{6})"`).FindAllStringSubmatch(body, -1)
	if len(circles) < 4 {
		t.Fatalf("%d graph nodes", len(circles))
	}
	// cart fires (P 0.91), checkout is over its threshold (P 0.62, its
	// alert pending); frontend (0.2), db (0.35) and redis (0.05) are not.
	failing := map[string]bool{"cart": true, "checkout": true}
	for _, c := range circles {
		if red := c[2] == "#c81e28"; red != failing[c[1]] {
			t.Errorf("node %s of evidence 0.1 (anomaly threshold 2.5): fill %s, firing red %v, want %v", c[1], c[2], red, failing[c[1]])
		}
	}
	if !strings.Contains(body, `data-node="cart" data-evidence="0.1" data-level="1" data-prob="0.91" data-firing="true"`) {
		t.Errorf("the cart node does not carry its P and firing alert")
	}
	b.Evidence["db"] = 2.6
	body = pageHas(t, srv.URL, api.AlertUIPath(apitest.FiringFingerprint), http.StatusOK, nil, nil)
	if !regexp.MustCompile(`data-node="db"[^>]*>\s*<circle[^>]*fill="#c81e28"`).MatchString(body) {
		t.Errorf("a node over the anomaly threshold is not the firing red")
	}
}

// TestHeatmapAsOfHasZone: the heat map's "φ as of" time says UTC, as the
// other times do.
func TestHeatmapAsOfHasZone(t *testing.T) {
	srv := newServer(t, apitest.Backend())
	pageHas(t, srv.URL, "/ui/", http.StatusOK, []string{`φ as of 16:00:00Z`}, []string{`φ as of 16:00:00<`})
}

// TestGraphLabelsClearOfArrowheads: no edge's arrowhead lies on a node
// label ("et▲d"), measured in Chromium.
func TestGraphLabelsClearOfArrowheads(t *testing.T) {
	b := apitest.Backend()
	// Callers on every side of the centre, and callees.
	for _, from := range []string{"redis", "etcd", "db", "payments"} {
		b.Edges = append(b.Edges, explain.Edge{From: from, To: "cart", Weight: 1})
	}
	b.Edges = append(b.Edges, explain.Edge{From: "cart", To: "queue", Weight: 1}, explain.Edge{From: "cart", To: "frontend", Weight: 1})
	srv := newServer(t, b)
	ctx := browser(t)
	url := srv.URL + api.AlertUIPath(apitest.FiringFingerprint)
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#graph"))); err != nil {
		t.Fatalf("load %s in Chromium: %v", url, err)
	}
	hits, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
		const labels = Array.from(document.querySelectorAll('#graph g.node text')).map(t => [t.textContent, t.getBBox()]);
		const out = [];
		for (const e of document.querySelectorAll('#graph line.edge')) {
			const x1 = +e.getAttribute('x1'), y1 = +e.getAttribute('y1'), x2 = +e.getAttribute('x2'), y2 = +e.getAttribute('y2');
			const d = Math.hypot(x2 - x1, y2 - y1);
			// The arrowhead: its last 12px.
			for (let s = 0; s <= 12; s += 2) {
				const x = x2 - (x2 - x1) * s / d, y = y2 - (y2 - y1) * s / d;
				for (const [name, b] of labels) {
					if (x >= b.x - 1 && x <= b.x + b.width + 1 && y >= b.y - 1 && y <= b.y + b.height + 1) {
						out.push(e.dataset.from + '→' + e.dataset.to + ' on label ' + name);
					}
				}
			}
		}
		return [...new Set(out)];
	})()`))
	if err != nil {
		t.Fatalf("read the graph: %v", err)
	}
	if len(hits) > 0 {
		t.Errorf("arrowheads on labels: %v", hits)
	}
}

// TestPendingAlertPage: the page of a pending alert's fingerprint (the
// overview lists it; the daemon stores no explanation for it) says it is
// pending and links its entity; it said only "no alert or prediction …
// with a stored explanation".
func TestPendingAlertPage(t *testing.T) {
	b, pending := apitest.PendingBackend(t, 1)
	srv := newServer(t, b)
	pageHas(t, srv.URL, "/ui/alerts/"+pending.Fingerprint, http.StatusNotFound,
		[]string{pending.Fingerprint + " is a pending alert on shop/cart-0", "explains an alert when it fires", `href="/ui/entities/shop%2Fcart-0"`}, nil)
	pageHas(t, srv.URL, "/ui/alerts/0123456789abcdef", http.StatusNotFound, []string{"no alert or prediction"}, []string{"is a pending alert"})
}
