package ui_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/explain"
)

// heatBackend is a fleet of the entities names (the first the likeliest
// to fail), each with its latest prediction explained over the fixture's
// feature groups.
func heatBackend(names []string) *api.MemBackend {
	base := apitest.Backend()
	m := &api.MemBackend{Explanations: map[string]api.Explanation{}, Service: map[string]string{}, Model: base.Model}
	for i, e := range names {
		id := e + "@" + strconv.FormatInt(apitest.T0, 10)
		ns, pod, _ := strings.Cut(e, "/")
		labels := map[string]string{"namespace": ns, "pod": pod}
		p := api.Prediction{ID: id, Entity: e, Labels: labels, T: apitest.T0, Probability: 0.9 - 0.1*float64(i),
			Threshold: 0.5, ModelVersion: base.Model.Version}
		m.PredictionList = append(m.PredictionList, p)
		groups := make([]explain.GroupAttribution, len(apitest.Features))
		for j, f := range apitest.Features {
			groups[j] = explain.GroupAttribution{Name: f, Kind: explain.KindMetric, Phi: 0.01 * float64(j+1)}
		}
		m.Explanations[id] = api.Explanation{PredictionID: id, Entity: e, Labels: labels, T: apitest.T0,
			Probability: p.Probability, Threshold: 0.5, ModelVersion: p.ModelVersion,
			Attribution: explain.Attribution{Groups: groups, Baseline: 0.08, Value: 0.08}}
	}
	return m
}

// heatNamesJS measures the heat map as drawn: each entity name's text
// (without its tooltip), tooltip and extent from the svg's left edge, the
// P(failure) bars' left edge, and the first cell's right edge in the
// viewport.
const heatNamesJS = `(() => {
	const svg = document.getElementById('heatmap'), box = svg.getBoundingClientRect();
	const bar = svg.querySelector('g.hm-row > rect').getBoundingClientRect();
	const cell = svg.querySelector('rect.hm-cell').getBoundingClientRect();
	return {
		Names: Array.from(svg.querySelectorAll('g.hm-row > a > text')).map(t => {
			const r = t.getBoundingClientRect(), title = t.querySelector('title');
			return {
				Label: Array.from(t.childNodes).filter(n => n.nodeType === 3).map(n => n.data).join(''),
				Title: title ? title.textContent : '',
				Left: r.left - box.left, Right: r.right - box.left,
			};
		}),
		BarLeft: bar.left - box.left,
		CellRight: cell.right,
	};
})()`

// TestHeatmapNameColumn: on a phone (390 px) the heat map's entity names
// take as much room as the longest shown, so its first feature-group cell
// is on the first screen: the names' column was a fixed 296 px, and a
// 390 px screen showed names and P(failure) only, the cells behind a
// sideways scroll. A name longer than hmNameChars is cut with an ellipsis,
// in full in its tooltip, and drawn inside the plot (it ran off the
// plot's left edge).
func TestHeatmapNameColumn(t *testing.T) {
	long := "observability/opentelemetry-collector-gateway-7d9f8b6c4d-x2k9p"
	cases := []struct {
		name  string
		fleet []string
		// narrow: the names' column is narrower than the former 296 px,
		// and the first cell ends within the phone's width.
		narrow bool
	}{
		{"short names", []string{"shop/cart-0", "shop/db-0", "infra/redis-0"}, true},
		{"pod names", []string{"boutique/checkoutservice-h8b2jzg72-vq96r", apitest.CartEntity, "infra/redis-0"}, true},
		{"a long name", []string{long, "shop/cart-0"}, false},
	}
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phoneWidth, 844, chromedp.EmulatePortrait, chromedp.EmulateMobile)); err != nil {
		t.Fatalf("emulate a %d px viewport: %v", phoneWidth, err)
	}
	for _, c := range cases {
		srv := newServer(t, heatBackend(c.fleet))
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#heatmap"))); err != nil {
			t.Fatalf("%s: load the overview: %v", c.name, err)
		}
		m, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
			Names []struct {
				Label, Title string
				Left, Right  float64
			}
			BarLeft, CellRight float64
		}](heatNamesJS))
		if err != nil {
			t.Fatalf("%s: measure the heat map: %v", c.name, err)
		}
		t.Logf("%s: names' column %.0f px, first cell ends at %.0f px", c.name, m.BarLeft, m.CellRight)
		if len(m.Names) != len(c.fleet) {
			t.Fatalf("%s: %d names drawn, want %d", c.name, len(m.Names), len(c.fleet))
		}
		if c.narrow && (m.BarLeft >= 296 || m.CellRight > phoneWidth) {
			t.Errorf("%s: names' column %.0f px wide, first cell ending at %.0f px; want under 296 px, and within %d px", c.name, m.BarLeft, m.CellRight, phoneWidth)
		}
		for i, n := range m.Names {
			full := c.fleet[i]
			if n.Left < -0.5 || n.Right > m.BarLeft+0.5 {
				t.Errorf("%s: name %q drawn at %.1f..%.1f px, want within 0..%.1f (the names' column)", c.name, n.Label, n.Left, n.Right, m.BarLeft)
			}
			switch {
			case len([]rune(full)) <= 44:
				if n.Label != full || n.Title != "" {
					t.Errorf("%s: name %q, tooltip %q; want %q whole, no tooltip", c.name, n.Label, n.Title, full)
				}
			case !strings.HasSuffix(n.Label, "…") || !strings.HasPrefix(full, strings.TrimSuffix(n.Label, "…")) || n.Title != full:
				t.Errorf("%s: name %q, tooltip %q; want %q cut with an ellipsis, whole in the tooltip", c.name, n.Label, n.Title, full)
			}
		}
	}
}
