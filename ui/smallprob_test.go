package ui_test

import (
	"html"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/explain"
)

// TestSmallProbabilities: a calibrated failure probability is often far
// below 1 %. The waterfall printed a baseline of 6.3e-07 as
// "E[f(X)] = 0.0000", every φ as +0.0000 and every axis tick as 0; the
// entity page's tooltips gave the threshold the decimals of the tiny
// probability ("0.000054% (under the threshold 40.848708%)").
func TestSmallProbabilities(t *testing.T) {
	b := apitest.Backend()
	const thr = 0.40848708
	for i, p := range b.PredictionList {
		if p.Entity == apitest.CartEntity {
			b.PredictionList[i].Probability, b.PredictionList[i].Threshold = 5.4e-07, thr
		}
	}
	id := apitest.CartEntity + "@" + strconv.FormatInt(apitest.T0, 10)
	x := b.Explanations[id]
	x.Probability, x.Threshold = 5.4e-05, thr
	x.Attribution = explain.Attribution{Baseline: 6.3e-07, Value: 6.3e-07 + 4.17e-05 + 1.17e-05, Method: "exact", Groups: []explain.GroupAttribution{
		{Name: "restarts", Kind: explain.KindMetric, Phi: 4.17e-05, Share: 0.78},
		{Name: "memory", Kind: explain.KindMetric, Phi: 1.17e-05, Share: 0.22},
	}}
	b.Explanations[id] = x
	srv := newServer(t, b)

	_, body, _ := fetch(t, srv.URL+api.AlertUIPath(apitest.FiringFingerprint))
	wf := regexp.MustCompile(`(?s)<svg id="waterfall".*?</svg>`).FindString(body)
	for _, want := range []string{`data-baseline="6.3e-07">0.00000063</tspan>`, `">0.000054</tspan>`,
		`data-phi="4.17e-05">+4.2e-05</text>`, `φ +1.2e-05 (22.0%), 0.00000063 → 0.000012`} {
		if !strings.Contains(html.UnescapeString(wf), want) {
			t.Errorf("waterfall lacks %q:\n%s", want, wf)
		}
	}
	var labels []string
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`text-anchor="middle">([^<]*)</text>`).FindAllStringSubmatch(wf, -1) {
		labels = append(labels, m[1])
		if seen[m[1]] {
			t.Errorf("axis tick %q twice: %q", m[1], labels)
		}
		seen[m[1]] = true
	}
	if len(labels) < 3 {
		t.Errorf("axis ticks %q, want several", labels)
	}
	if !strings.Contains(body, `>0.0054% <span class="muted">(threshold <span data-threshold="0.40848708">40.85%</span>)`) {
		t.Errorf("alert page P(failure) not 0.0054%% (threshold 40.85%%):\n%s", regexp.MustCompile(`<span id="prob".*`).FindString(body))
	}

	_, body, _ = fetch(t, srv.URL+api.EntityUIPath(apitest.CartEntity))
	if want := `0.000054% (under the threshold 40.85%)</title>`; !strings.Contains(body, want) {
		t.Errorf("entity page tooltips lack %q:\n%s", want, regexp.MustCompile(`<circle class="pt.*`).FindString(body))
	}
}

// TestProbThresholdPrecision: the probability and its threshold each keep
// their own two significant digits, with more decimals for both only
// where the renderings would not order as the values do.
func TestProbThresholdPrecision(t *testing.T) {
	for _, tc := range []struct {
		p, thr float64
		want   string
	}{
		{5.4e-07, 0.40848708, "0.000054% / 40.85%"},
		{0.99308, 0.99347, "99.31% / 99.35%"},
		{0.40847, 0.40848708, "40.847% / 40.849%"},
		{0.0000996, 0.0001, "0.00996% / 0.0100%"},
		{0.5, 0.5, "50.00% / 50.00%"},
	} {
		b := apitest.Backend()
		b.AlertList[0].Probability, b.AlertList[0].Threshold = tc.p, tc.thr
		srv := newServer(t, b)
		_, body, _ := fetch(t, srv.URL+"/ui/")
		m := regexp.MustCompile(`data-prob="` + regexp.QuoteMeta(strconv.FormatFloat(tc.p, 'g', -1, 64)) +
			`">([^ ]*) <span class="muted">/ ([^<]*)</span>`).FindStringSubmatch(body)
		if m == nil || m[1]+" / "+m[2] != tc.want {
			t.Errorf("P %g, threshold %g: %q, want %q", tc.p, tc.thr, m, tc.want)
		}
	}
}
