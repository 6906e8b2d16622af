package ui_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/omen-sre/omen/api/apitest"
)

// alertWordsJS measures, in each row of the overview's alert table, the
// state badge and the link of the last column (explanation, or a pending
// alert's entity): the lines their text takes (the distinct tops of its
// line boxes), their client rects (an inline link broken over lines has
// one per line) and their content height against the height of one line
// of their text (a probe's: under 1.5 of it is one line); and how far the table reaches beyond its section's content
// box.
const alertWordsJS = `(() => {
	const lines = el => {
		const r = document.createRange();
		r.selectNodeContents(el);
		return new Set(Array.from(r.getClientRects()).filter(b => b.width > 0).map(b => Math.round(b.top))).size;
	};
	const one = el => {
		const cs = getComputedStyle(el);
		const probe = document.createElement('span');
		probe.textContent = 'x';
		probe.style.whiteSpace = 'nowrap';
		el.appendChild(probe);
		const lineH = probe.getBoundingClientRect().height;
		probe.remove();
		const box = el.getBoundingClientRect();
		const pad = parseFloat(cs.paddingTop) + parseFloat(cs.paddingBottom) + parseFloat(cs.borderTopWidth) + parseFloat(cs.borderBottomWidth);
		return {Text: el.textContent, Lines: lines(el), Rects: el.getClientRects().length, Height: box.height - pad, LineHeight: lineH};
	};
	const rows = Array.from(document.querySelectorAll('#alerts tr.alert')).map(tr => ({
		State: tr.dataset.state,
		Badge: one(tr.querySelector('td:first-child .badge')),
		Link: one(tr.querySelector('td:last-child a')),
	}));
	const table = document.getElementById('alerts');
	const sec = table.closest('section');
	const sr = sec.getBoundingClientRect(), cs = getComputedStyle(sec);
	const contentRight = sr.right - parseFloat(cs.borderRightWidth) - parseFloat(cs.paddingRight);
	return {Rows: rows, Beyond: table.getBoundingClientRect().right - contentRight, SectionScroll: sec.scrollWidth - sec.clientWidth};
})()`

// TestAlertTableWordsWhole: the overview's alert table breaks neither the
// state badge ("resolv" over "ed") nor the explanation link ("expla",
// "natio", "n"), at 1280 px (a desktop, omen demo's fleet: the labels'
// column took the room, and main's overflow-wrap:anywhere let the state
// and link columns shrink inside their words) nor at 390 px (a phone,
// the stacked layout), and at 390 px the table stays inside its section.
func TestAlertTableWordsWhole(t *testing.T) {
	b := apitest.Backend()
	// Labels as many and long as a Kubernetes pod's, as the daemon's
	// alerts carry (omen demo's).
	for i := range b.AlertList {
		a := &b.AlertList[i]
		for k, v := range map[string]string{
			"container": "server", "node": "gke-prod-europe-west1-pool-highmem-8-3f2a9c1d-x7kq",
			"service": "checkoutservice", "instance": "10.48.3.17:8080", "job": "kubernetes-pods",
			"app_kubernetes_io_part_of": "online-boutique", "pod_template_hash": "7d9f8b6c4",
		} {
			a.Labels[k] = v
		}
	}
	srv := newServer(t, b)
	ctx := browser(t)
	for _, width := range []int64{1280, phoneWidth} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900), chromedp.Navigate(srv.URL+"/ui/"),
			chromedp.WaitVisible(chromedp.CSS("#alerts"))); err != nil {
			t.Fatalf("%d px: load the overview: %v", width, err)
		}
		type word struct {
			Text               string
			Lines, Rects       int
			Height, LineHeight float64
		}
		m, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
			Rows []struct {
				State       string
				Badge, Link word
			}
			Beyond, SectionScroll float64
		}](alertWordsJS))
		if err != nil {
			t.Fatalf("%d px: measure the alert table: %v", width, err)
		}
		if len(m.Rows) != len(b.AlertList) {
			t.Fatalf("%d px: %d alert rows, want %d", width, len(m.Rows), len(b.AlertList))
		}
		for _, r := range m.Rows {
			for what, w := range map[string]word{"state badge": r.Badge, "link": r.Link} {
				t.Logf("%d px, %s alert: %s %q: %d lines, %d rects, %.1f px high (a line %.1f)", width, r.State, what, w.Text, w.Lines, w.Rects, w.Height, w.LineHeight)
				if w.Lines != 1 || w.Rects != 1 || w.Height >= 1.5*w.LineHeight {
					t.Errorf("%d px, %s alert: the %s %q takes %d lines (%d rects, %.1f px high, a line %.1f px): want one",
						width, r.State, what, w.Text, w.Lines, w.Rects, w.Height, w.LineHeight)
				}
			}
		}
		if width == phoneWidth && (m.Beyond > 0.5 || m.SectionScroll > 1) {
			t.Errorf("%d px: the alert table ends %.1f px beyond its section's content box, which scrolls %.0f px sideways: want within it",
				width, m.Beyond, m.SectionScroll)
		}
	}
	if t.Failed() {
		t.Log(strings.TrimSpace(fmt.Sprint("labels: ", b.AlertList[0].Labels)))
	}
}
