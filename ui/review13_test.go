package ui_test

import (
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/ui"
)

var cartT0 = apitest.CartEntity + "@" + strconv.FormatInt(apitest.T0, 10)

// unlisted is the fixture after the firing cart alert left the alert list
// (15 data-minutes after it resolved): its explanation stays stored under
// its fingerprint, and under the prediction it fired on.
func unlisted() *api.MemBackend {
	b := apitest.Backend()
	b.Explanations[apitest.FiringFingerprint] = b.Explanations[cartT0]
	var kept []api.Alert
	for _, a := range b.AlertList {
		if a.Fingerprint != apitest.FiringFingerprint {
			kept = append(kept, a)
		}
	}
	b.AlertList = kept
	return b
}

// TestUnlistedAlertPage: the page of an alert no longer listed (the page
// behind Alertmanager's generatorURL) is still the alert's: it was titled
// "prediction FP", headed "Prediction on …", and did not say it was an
// alert, while /api/v1/explanations/FP answered alert_fingerprint FP (UI
// reviewer's finding 1).
func TestUnlistedAlertPage(t *testing.T) {
	srv := newServer(t, unlisted())
	fp := apitest.FiringFingerprint
	pageHas(t, srv.URL, "/api/v1/explanations/"+fp, http.StatusOK, []string{`"alert_fingerprint":"` + fp + `"`}, nil)
	pageHas(t, srv.URL, api.AlertUIPath(fp), http.StatusOK,
		[]string{`<title>alert ` + fp + ` · omen</title>`, `id="alert-unlisted"`, `id="alert-state-unlisted"`, `data-fingerprint="` + fp + `"`, `id="waterfall"`},
		[]string{`Prediction on`, `<title>prediction`})
	// A prediction's page stays a prediction's.
	pageHas(t, srv.URL, api.AlertUIPath(cartT0), http.StatusOK, []string{`Prediction on`, `<title>prediction `}, []string{`id="alert-unlisted"`})
}

// TestEntityExplanationAfterAlertLeft: an entity whose alert fired and
// left the alert list shows the explanation stored for it (of the
// prediction it fired on, older than the latest), on its page and in the
// heat map; the page said "No explanation stored for this entity yet" and
// the heat map row was grey (UI reviewer's finding 2).
func TestEntityExplanationAfterAlertLeft(t *testing.T) {
	b := unlisted()
	// The alert fired 5 steps before the latest prediction: only that
	// prediction (and the fingerprint) has an explanation.
	x := b.Explanations[cartT0]
	delete(b.Explanations, cartT0)
	delete(b.Explanations, apitest.FiringFingerprint)
	x.T = apitest.T0 - 5*apitest.Step
	x.PredictionID = apitest.CartEntity + "@" + strconv.FormatInt(x.T, 10)
	b.Explanations[x.PredictionID] = x
	b.Explanations[apitest.FiringFingerprint] = x
	srv := newServer(t, b)
	pageHas(t, srv.URL, api.EntityUIPath(apitest.CartEntity), http.StatusOK,
		[]string{`id="waterfall"`, `id="explanation-time" data-t="` + strconv.FormatInt(x.T, 10) + `" data-age-ms="75000"`, `id="no-alerts"`},
		[]string{`id="no-explanation"`})
	body := pageHas(t, srv.URL, "/ui/", http.StatusOK, nil, nil)
	row := regexp.MustCompile(`(?s)<g class="hm-row" data-entity="` + regexp.QuoteMeta(apitest.CartEntity) + `".*?</g>`).FindString(body)
	if !strings.Contains(row, `data-phi=`) || !strings.Contains(row, `data-explained-t="`+strconv.FormatInt(x.T, 10)+`"`) {
		t.Errorf("the heat map's cart row has no explanation:\n%s", row)
	}
}

// TestGoneEntities: entities whose latest prediction is the alert's
// missing-steps cutoff or more behind the fleet's newest (a rolling
// deploy's old pods) are left out of the heat map and listed apart with
// their age, and their page says they are gone; they stayed at the top of
// "the entities most likely to fail" (UI reviewer's finding 5).
func TestGoneEntities(t *testing.T) {
	b := apitest.Backend()
	live := map[string]bool{}
	for _, p := range b.PredictionList {
		live[p.Entity] = true
	}
	const old = goneCartPod
	last := addGonePod(b, 10)
	srv := newServer(t, b)
	pageHas(t, srv.URL, "/ui/", http.StatusOK,
		[]string{`id="gone"`, `class="gone-entity" data-entity="` + old + `" data-t="` + strconv.FormatInt(last, 10) + `"`, `1m30s before`, "The " + strconv.Itoa(len(live)) + " entities most likely to fail, by"},
		[]string{`class="hm-row" data-entity="` + old + `"`})
	pageHas(t, srv.URL, api.EntityUIPath(old), http.StatusOK, []string{`id="gone-notice" data-age-ms="90000"`}, nil)
	pageHas(t, srv.URL, api.EntityUIPath(apitest.CartEntity), http.StatusOK, nil, []string{`id="gone-notice"`})
	// One step short of the cutoff, it is current.
	b.Lock()
	for i := range b.PredictionList {
		if b.PredictionList[i].Entity == old {
			b.PredictionList[i].T += 3 * apitest.Step
		}
	}
	b.Unlock()
	pageHas(t, srv.URL, "/ui/", http.StatusOK, []string{`class="hm-row" data-entity="` + old + `"`}, []string{`id="gone"`})
}

// TestUnsupportedParametersAre400: the UI answers the API's parameters it
// does not apply with 400 instead of the unfiltered page (/ui/?state=bogus
// and /ui/?state=firing showed the whole fleet; UI reviewer's finding 8).
func TestUnsupportedParametersAre400(t *testing.T) {
	srv := newServer(t, apitest.Backend())
	for _, p := range []string{"/ui/?state=bogus", "/ui/?from=yesterday", "/ui/?state=firing", "/ui/?entity=" + apitest.CartEntity,
		"/ui/?match%5Bnamespace%5D=shop&limit=3", api.EntityUIPath(apitest.CartEntity) + "?explain=later", api.EntityUIPath(apitest.CartEntity) + "?state=firing"} {
		pageHas(t, srv.URL, p, http.StatusBadRequest, []string{`id="error" data-code="400"`}, []string{`id="heatmap"`, `id="chart"`})
	}
	pageHas(t, srv.URL, "/ui/?match%5Bnamespace%5D=shop", http.StatusOK, []string{`id="heatmap"`}, nil)
	postHas(t, srv.URL, api.EntityUIPath(apitest.CartEntity), http.StatusOK, []string{`(explained now)`}, nil)
}

// TestAlertOnlyLabelsAreNotFilters: alertname and severity, which no
// entity has, are not overview filter links (they led to "No entity
// matches the filter"; UI reviewer's finding 7); entity labels still are.
func TestAlertOnlyLabelsAreNotFilters(t *testing.T) {
	srv := newServer(t, apitest.Backend())
	for _, p := range []string{"/ui/", api.AlertUIPath(apitest.FiringFingerprint)} {
		pageHas(t, srv.URL, p, http.StatusOK,
			[]string{`<span class="lbl alert-only">alertname="ModuleLoadFailurePredicted"</span>`, `<span class="lbl alert-only">severity="critical"</span>`,
				`href="/ui/?match%5Bnamespace%5D=shop"`},
			[]string{`match%5Balertname%5D`, `match%5Bseverity%5D`})
	}
}

// TestMoreAlertsKeepsFilter: the "N more alerts" link keeps the page's
// filter (it was the fixed /api/v1/alerts; UI reviewer's finding 12).
func TestMoreAlertsKeepsFilter(t *testing.T) {
	srv := newServerOpts(t, apitest.Backend(), ui.Options{MaxAlerts: 1})
	pageHas(t, srv.URL, "/ui/?match%5Bnamespace%5D=shop", http.StatusOK,
		[]string{`id="more-alerts-json" href="/api/v1/alerts?match%5Bnamespace%5D=shop"`}, nil)
	pageHas(t, srv.URL, "/ui/", http.StatusOK, []string{`id="more-alerts-json" href="/api/v1/alerts"`}, nil)
}

// TestHeatmapColumnNames: long group names are not cut off by the header
// (names over about 22 characters were, rotated −60° in 120px): the header
// grows to the longest, which each column carries whole in its tooltip;
// a heat map without explanations says so instead of a legend for cells
// that are not drawn (UI reviewer's finding 10).
func TestHeatmapColumnNames(t *testing.T) {
	b := apitest.Backend()
	long := "container_memory_working_set_bytes_over_limit_ratio" // 51 characters
	for id, x := range b.Explanations {
		x.Attribution.Groups[0].Name = long
		b.Explanations[id] = x
	}
	srv := newServer(t, b)
	body := pageHas(t, srv.URL, "/ui/", http.StatusOK, []string{`class="col" data-group="` + long + `"><title>` + long + `</title>` + long + `</text>`}, nil)
	m := regexp.MustCompile(`translate\([0-9.]+,([0-9.]+)\) rotate\(-60\)" class="col" data-group="` + long).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no column text")
	}
	// 11px system-ui runs about 6px a character; rotated −60°, a name
	// rises 0.87 of its length.
	if y, _ := strconv.ParseFloat(m[1], 64); y < 0.87*6*float64(len(long)) {
		t.Errorf("the column names' baseline is at %v: a name of %d characters is cut off", y, len(long))
	}
	for id := range b.Explanations {
		delete(b.Explanations, id)
	}
	pageHas(t, srv.URL, "/ui/", http.StatusOK, []string{`id="heatmap-unexplained"`, `id="heatmap"`}, []string{`red cells push`})
}

// TestContrast: text colours meet WCAG AA (4.5:1) on their background:
// white on the pending badge was 2.16:1, on the resolved one 3.53:1, and
// .muted 4.39:1 on white (UI reviewer's finding 11).
func TestContrast(t *testing.T) {
	srv := newServer(t, apitest.Backend())
	body := pageHas(t, srv.URL, "/ui/", http.StatusOK, nil, nil)
	rule := func(sel, prop string) string {
		m := regexp.MustCompile(regexp.QuoteMeta(sel) + `\{[^}]*` + prop + `:(#[0-9a-f]{3,6})`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no %s of %s in the CSS", prop, sel)
		}
		return m[1]
	}
	badgeText := rule(".badge", "color")
	cases := []struct{ what, fg, bg string }{
		{".firing badge", badgeText, rule(".firing", "background")},
		{".resolved badge", badgeText, rule(".resolved", "background")},
		{".muted on white", rule(".muted", "color"), "#fff"},
		{".muted on the page", rule(".muted", "color"), rule("body", "background")},
	}
	pending := rule(".pending", "background")
	fg := badgeText
	if m := regexp.MustCompile(`\.pending\{[^}]*;color:(#[0-9a-f]{3,6})`).FindStringSubmatch(body); m != nil {
		fg = m[1]
	}
	cases = append(cases, struct{ what, fg, bg string }{".pending badge", fg, pending})
	for _, c := range cases {
		if r := contrast(c.fg, c.bg); r < 4.5 {
			t.Errorf("%s: %s on %s is %.2f:1, under 4.5:1", c.what, c.fg, c.bg, r)
		}
	}
}

func contrast(a, b string) float64 {
	lum := func(h string) float64 {
		h = strings.TrimPrefix(h, "#")
		if len(h) == 3 {
			h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
		}
		var c [3]float64
		for i := range c {
			v, _ := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
			x := float64(v) / 255
			if x <= 0.03928 {
				c[i] = x / 12.92
			} else {
				c[i] = math.Pow((x+0.055)/1.055, 2.4)
			}
		}
		return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
	}
	la, lb := lum(a), lum(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}
