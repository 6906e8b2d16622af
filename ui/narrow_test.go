package ui_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// phoneWidth is the viewport width of TestPagesFitPhoneWidth, CSS px (a
// phone held upright).
const phoneWidth = 390

// overflowJS lists what sticks out of the viewport's width, as the user
// would have to scroll sideways to read it: the document wider than the
// viewport, an element of main (but SVG shapes, which their svg clips)
// beyond its left or right edge, and a scroll container of main (a
// section) whose content is wider than it. A plot that keeps its size
// (the heat map, the dependency graph) scrolls sideways inside its box, a
// .plot-scroll: the box must fit the width, its content need not.
const overflowJS = `(() => {
	const vw = document.documentElement.clientWidth;
	const out = [];
	const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '') +
		' "' + (el.textContent || '').trim().slice(0, 40) + '"';
	if (document.documentElement.scrollWidth > vw) {
		out.push('the document is ' + document.documentElement.scrollWidth + ' px wide');
	}
	for (const el of document.querySelectorAll('header, header *, main, main *')) {
		if (el.tagName.toLowerCase() !== 'svg' && el.closest('svg')) continue;
		if (el.parentElement && el.parentElement.closest('.plot-scroll')) continue;
		const r = el.getBoundingClientRect();
		if (r.width === 0 && r.height === 0) continue;
		if (r.right > vw + 0.5 || r.left < -0.5) {
			out.push(name(el) + ' spans ' + Math.round(r.left) + '..' + Math.round(r.right) + ' px');
		}
		if (getComputedStyle(el).overflowX !== 'visible' && !el.classList.contains('plot-scroll') && el.scrollWidth > el.clientWidth + 1) {
			out.push(name(el) + ' scrolls sideways: ' + el.scrollWidth + ' px of content in ' + el.clientWidth);
		}
	}
	// A number or a column name broken across lines ("+0.002" over
	// "6", "SHAR" over "E"): a text of one word on two lines.
	for (const el of document.querySelectorAll('main th, main td.num')) {
		const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
		for (let n = walk.nextNode(); n; n = walk.nextNode()) {
			const word = n.data.trim();
			if (word === '' || /\s/.test(word)) continue;
			const r = document.createRange();
			r.selectNodeContents(n);
			const lines = new Set(Array.from(r.getClientRects()).map(b => Math.round(b.top)));
			if (lines.size > 1) out.push(name(el) + ': "' + word + '" broken over ' + lines.size + ' lines');
		}
	}
	return out;
})()`

// TestPagesFitPhoneWidth: at 390 px (a phone) every page fits the width:
// the waterfall's values, the tables' share and score columns and the
// model card's values were off-screen, behind a sideways scroll of their
// section (reviewer's finding). The figures wrap or stack, the waterfall
// and the chart have narrow layouts; the heat map and the dependency graph
// keep their size and scroll sideways inside their box (checkScrollPlot:
// scaled down to the width, at 0.48 and 0.67, their texts were
// unreadable).
func TestPagesFitPhoneWidth(t *testing.T) {
	b := apitest.Backend()
	// Long values, as the daemon's: annotation URLs, a model card's
	// training metrics, a long pod name.
	for i := range b.AlertList {
		a := &b.AlertList[i]
		a.Annotations = map[string]string{
			"summary":             "shop/cart-7d9f8b6c4-x2k9p is likely to fail to load its modules within 10m",
			"explanation_api_url": "http://127.0.0.1:9464/api/v1/explanations/" + a.Fingerprint + "?with=causes",
			"runbook_url":         "https://runbooks.example.com/omen/module-load-failure-predicted#what-to-do-first",
		}
	}
	// The daemon's metric and entity names are longer than the
	// fixture's.
	for id, x := range b.Explanations {
		for i := range x.Causes.Metrics {
			x.Causes.Metrics[i].Name = "dependency_not_found_ratio_" + x.Causes.Metrics[i].Name
			x.Causes.Metrics[i].Phi /= 1000
		}
		for i := range x.Causes.Entities {
			c := &x.Causes.Entities[i]
			c.WorstEntity = new("boutique/" + c.Entity + "service-h8b2jzg72-vq96r")
			c.Entity += "service"
			c.Score += 0.0001
		}
		b.Explanations[id] = x
	}
	b.Model.Metrics = map[string]float64{"val_score": 0.179, "val_loss": 0.41, "threshold": 0.44}
	b.Model.Version = "v20261127T084554Z-3b5d5c371295"
	srv := newServer(t, b)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phoneWidth, 844, chromedp.EmulatePortrait, chromedp.EmulateMobile)); err != nil {
		t.Fatalf("emulate a %d px viewport: %v", phoneWidth, err)
	}
	// plot: the plot of its own size (heat map, dependency graph) the
	// page shows.
	pages := []struct{ name, path, plot string }{
		{"overview", "/ui/", "heatmap"},
		{"entity", api.EntityUIPath(apitest.CartEntity), ""},
		{"alert", api.AlertUIPath(apitest.FiringFingerprint), "graph"},
		{"resolved alert", api.AlertUIPath(apitest.ResolvedFingerprint), "graph"},
		{"prediction", api.AlertUIPath(apitest.CartEntity + "@1764000000000"), "graph"},
		{"low prediction", api.AlertUIPath("infra/redis-0@1764000000000"), "graph"},
		{"service", api.EntityUIPath("cart"), ""},
		{"not found", api.EntityUIPath("nosuch"), ""},
	}
	for _, p := range pages {
		url := srv.URL + p.path
		if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
			t.Fatalf("%s: load %s: %v", p.name, url, err)
		}
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.clientWidth`))
		if err != nil || width != phoneWidth {
			t.Fatalf("%s: viewport %d px wide (%v), want %d", p.name, width, err, phoneWidth)
		}
		out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](overflowJS))
		if err != nil {
			t.Fatalf("%s: measure the page: %v", p.name, err)
		}
		if len(out) > 0 {
			t.Errorf("%s page at %d px: %d things stick out of the width:\n%s", p.name, phoneWidth, len(out), strings.Join(out, "\n"))
		}
		// The waterfall's and the chart's names and values are drawn at
		// a readable size: their narrow layouts, near 1:1, not the wide
		// ones shrunk.
		// Their texts are inside them, not cut at their edges.
		plots, err := chromedp.Run(ctx, chromedp.Evaluate[[]struct {
			ID               string
			WideShown, Found bool
			Scale            float64
			Cut              []string
		}](`['waterfall', 'chart'].map(id => {
			const w = document.getElementById(id), n = document.getElementById(id + '-narrow');
			const cut = [];
			if (n) {
				const box = n.getBoundingClientRect();
				for (const t of n.querySelectorAll('text')) {
					const r = t.getBoundingClientRect();
					if (r.left < box.left - 1 || r.right > box.right + 1) cut.push(t.textContent);
				}
			}
			return {ID: id, Found: !!w, WideShown: !!w && w.getBoundingClientRect().width > 0,
				Scale: n ? n.getBoundingClientRect().width / n.viewBox.baseVal.width : 0, Cut: cut};
		})`))
		if err != nil {
			t.Fatalf("%s: measure the plots: %v", p.name, err)
		}
		for _, pl := range plots {
			if pl.Found && (pl.WideShown || pl.Scale < 0.9 || len(pl.Cut) > 0) {
				t.Errorf("%s: #%s shown %v, #%s-narrow at scale %.2f with texts cut at its edges %q; want the narrow one only, at 0.9 or more, its texts inside it",
					p.name, pl.ID, pl.WideShown, pl.ID, pl.Scale, pl.Cut)
			}
		}
		if p.plot != "" {
			checkScrollPlot(t, ctx, p.name, p.plot)
		}
	}

	// A desktop's width keeps the wide layouts, at 1:1.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 1000), chromedp.Navigate(srv.URL+api.EntityUIPath(apitest.CartEntity)),
		chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
		t.Fatalf("load the entity page at 1280 px: %v", err)
	}
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`['waterfall', 'waterfall-narrow', 'chart', 'chart-narrow'].map(id => {
		const e = document.getElementById(id);
		return e.getBoundingClientRect().width / e.viewBox.baseVal.width;
	})`))
	if err != nil || len(wide) != 4 || wide[0] != 1 || wide[1] != 0 || wide[2] != 1 || wide[3] != 0 {
		t.Errorf("at 1280 px: scales of the waterfall, its narrow layout, the chart, its narrow layout %v (%v), want [1 0 1 0]", wide, err)
	}
	// The heat map and the graph fit it, at 1:1, without the phone's
	// hint to scroll them.
	for _, p := range []struct{ path, plot string }{{"/ui/", "heatmap"}, {api.AlertUIPath(apitest.FiringFingerprint), "graph"}} {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+p.path), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
			t.Fatalf("load %s at 1280 px: %v", p.path, err)
		}
		m, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
			Scale      float64
			Scrolls    bool
			HintHeight float64
		}](`(() => {
			const e = document.getElementById('`+p.plot+`'), box = e.parentElement;
			return {Scale: e.getBoundingClientRect().width / e.viewBox.baseVal.width, Scrolls: box.scrollWidth > box.clientWidth,
				HintHeight: document.getElementById('`+p.plot+`-hint').getBoundingClientRect().height};
		})()`))
		if err != nil || m.Scale != 1 || m.Scrolls || m.HintHeight != 0 {
			t.Errorf("at 1280 px: #%s at scale %v, scrolling %v, its hint %v px high (%v); want 1:1, no scroll, no hint", p.plot, m.Scale, m.Scrolls, m.HintHeight, err)
		}
	}
}

// minPlotScale is the least scale, rendered width over drawn width, at
// which the heat map's and the dependency graph's 11 px texts stay
// readable: at 390 px they were drawn at 0.4 and 0.65, shrunk to the
// width.
const minPlotScale = 0.99

// checkScrollPlot: at the phone's width the page's plot id (heatmap,
// graph) keeps its size (minPlotScale) and scrolls sideways inside its
// box, which fits the viewport (the page does not scroll: overflowJS),
// with a hint saying so.
func checkScrollPlot(t *testing.T, ctx context.Context, page, id string) {
	t.Helper()
	m, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Found, InBox                bool
		Scale, Width, Drawn         float64
		BoxLeft, BoxRight, Viewport float64
		OverflowX                   string
		ScrollMax                   float64
		HintHeight                  float64
	}](`(() => {
		const e = document.getElementById('`+id+`');
		if (!e) return {Found: false};
		const box = e.parentElement, r = e.getBoundingClientRect(), b = box.getBoundingClientRect();
		const hint = document.getElementById('`+id+`-hint');
		box.scrollLeft = 1e6;
		const scrollMax = box.scrollLeft;
		box.scrollLeft = 0;
		return {Found: true, InBox: box.classList.contains('plot-scroll'), Scale: r.width / e.viewBox.baseVal.width,
			Width: r.width, Drawn: e.viewBox.baseVal.width, BoxLeft: b.left, BoxRight: b.right,
			Viewport: document.documentElement.clientWidth, OverflowX: getComputedStyle(box).overflowX,
			ScrollMax: scrollMax, HintHeight: hint ? hint.getBoundingClientRect().height : 0};
	})()`))
	switch {
	case err != nil:
		t.Fatalf("%s: measure #%s: %v", page, id, err)
	case !m.Found:
		t.Errorf("%s: no #%s", page, id)
	case m.Scale < minPlotScale:
		t.Errorf("%s: #%s drawn %.0f px wide, rendered %.0f px (scale %.2f); want a scale of %v or more, scrolled sideways", page, id, m.Drawn, m.Width, m.Scale, minPlotScale)
	case !m.InBox || m.OverflowX != "auto":
		t.Errorf("%s: #%s in a .plot-scroll box %v, its overflow-x %q; want one, auto", page, id, m.InBox, m.OverflowX)
	case m.BoxLeft < 0 || m.BoxRight > m.Viewport:
		t.Errorf("%s: #%s's box spans %.0f..%.0f px of a %.0f px viewport", page, id, m.BoxLeft, m.BoxRight, m.Viewport)
	case m.ScrollMax < m.Width-(m.BoxRight-m.BoxLeft)-1:
		t.Errorf("%s: #%s's box scrolls %.0f px sideways, want the %.0f px of plot it does not show", page, id, m.ScrollMax, m.Width-(m.BoxRight-m.BoxLeft))
	case m.HintHeight == 0:
		t.Errorf("%s: #%s-hint not shown: nothing says the plot scrolls", page, id)
	}
}
