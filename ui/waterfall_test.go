package ui_test

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/explain"
)

// manyGroups replaces the firing alert's attribution with 30 groups, long
// names among them (as the demo's 30 features), and returns the backend.
func manyGroups(t *testing.T) (*api.MemBackend, explain.Attribution) {
	t.Helper()
	b := apitest.Backend()
	id := apitest.CartEntity + "@" + strconv.FormatInt(apitest.T0, 10)
	x, ok := b.Explanations[id]
	if !ok {
		t.Fatal("fixture lacks the alert's explanation")
	}
	a := explain.Attribution{Baseline: 0.08, Method: "exact"}
	var abs float64
	for i := range 30 {
		name := fmt.Sprintf("feature_%02d", i)
		switch i {
		case 0:
			name = "config_propagation_delay_seconds"
		case 1:
			name = "init_container_waiting_failure_reason_crashloop_total"
		}
		phi := 0.3 / float64(1+i*i)
		if i%3 == 2 {
			phi = -phi
		}
		a.Groups = append(a.Groups, explain.GroupAttribution{Name: name, Kind: explain.KindMetric, Phi: phi})
		abs += math.Abs(phi)
	}
	a.Value = a.Baseline
	for i := range a.Groups {
		a.Groups[i].Share = math.Abs(a.Groups[i].Phi) / abs
		a.Value += a.Groups[i].Phi
	}
	x.Attribution = a
	b.Explanations[id] = x
	return b, a
}

// TestWaterfallOthers: the waterfall draws the 12 groups of largest |φ|
// and one bar summing the rest, so the bars still add up from the
// baseline to f(x); a long name is cut with an ellipsis, whole in its
// tooltip.
func TestWaterfallOthers(t *testing.T) {
	b, a := manyGroups(t)
	srv := newServer(t, b)
	_, body, _ := fetch(t, srv.URL+api.AlertUIPath(apitest.FiringFingerprint))
	wf := regexp.MustCompile(`(?s)<svg id="waterfall".*?</svg>`).FindString(body)
	if n := strings.Count(wf, `class="wf-bar `); n != 13 {
		t.Fatalf("%d waterfall bars, want 12 and one for the others", n)
	}
	m := regexp.MustCompile(`class="wf-bar [a-z]+ wf-others"[^>]*data-group="others \(18 groups\)" data-others="18"[^>]*data-phi="([^"]+)"[^>]*data-start="([^"]+)"`).FindStringSubmatch(wf)
	if m == nil {
		t.Fatalf("no bar for the 18 other groups:\n%s", wf)
	}
	var rest float64
	for _, g := range sortedByAbs(a.Groups)[12:] {
		rest += g.Phi
	}
	if phi, _ := strconv.ParseFloat(m[1], 64); math.Abs(phi-rest) > 1e-12 {
		t.Errorf("others φ %v, want %v", phi, rest)
	}
	if start, _ := strconv.ParseFloat(m[2], 64); math.Abs(start-a.Baseline) > 1e-12 {
		t.Errorf("bottom bar starts at %v, baseline %v", start, a.Baseline)
	}
	if !strings.Contains(wf, `<title>init_container_waiting_failure_reason_crashloop_total</title>init_container_waiting_failure_reason_c…</text>`) {
		t.Errorf("long name not cut with its tooltip:\n%s", wf)
	}
	if !strings.Contains(wf, `</title>config_propagation_delay_seconds</text>`) {
		t.Error("a 32-character name is not drawn whole")
	}
}

func sortedByAbs(gs []explain.GroupAttribution) []explain.GroupAttribution {
	out := append([]explain.GroupAttribution(nil), gs...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if math.Abs(out[j].Phi) > math.Abs(out[i].Phi) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestWaterfallNamesInChromium: every group name of the waterfall is drawn
// inside the SVG (the reviewer saw "onfig_propagation_delay_seconds"); the
// "others" name is italic and a heat-map row's aged "φ as of" is orange
// (the page's CSS, not overridden presentation attributes).
func TestWaterfallNamesInChromium(t *testing.T) {
	b, _ := manyGroups(t)
	addNewerPrediction(b, apitest.CartEntity, 1)
	srv := newServer(t, b)
	ctx := browser(t)
	url := srv.URL + api.AlertUIPath(apitest.FiringFingerprint)
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#waterfall"))); err != nil {
		t.Fatalf("load %s in Chromium: %v", url, err)
	}
	type name struct {
		Text string
		X, W float64
	}
	names, err := chromedp.Run(ctx, chromedp.Evaluate[[]name](`Array.from(document.querySelectorAll('#waterfall text.wf-name')).map(t => {
		const bb = t.getBBox(); return {Text: t.textContent, X: bb.x, W: bb.width};
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no group names")
	}
	for _, n := range names {
		if n.X < 0 {
			t.Errorf("name %q starts at x=%.1f, outside the plot", n.Text, n.X)
		}
	}
	style, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('#waterfall text.wf-others')).fontStyle`))
	if err != nil || style != "italic" {
		t.Errorf("others name font-style %q (%v), want italic", style, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#heatmap"))); err != nil {
		t.Fatal(err)
	}
	fill, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('#heatmap text.hm-asof.stale')).fill`))
	if err != nil || fill != "rgb(161, 92, 0)" {
		t.Errorf("aged 'φ as of' fill %q (%v), want orange rgb(161, 92, 0)", fill, err)
	}
}
