package ui_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts headless Chromium for one test and returns its context.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the UI test needs Chromium at %s: install it with `apt-get install -y chromium` (%v)", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1600),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), 30*time.Second)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	return bctx
}

func TestAlertPageInChromium(t *testing.T) {
	b := apitest.Backend()
	srv := newServer(t, b)
	ctx := browser(t)

	var mu sync.Mutex
	var requested []string
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, e.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}

	type bar struct {
		Group, Phi, Start, End, Text string
		Width                        float64
		Y                            float64
	}
	type pageData struct {
		Bars                                     []bar
		Baseline, Value, BaselineText, ValueText string
		Nodes, CauseLinks                        []string
	}
	url := srv.URL + "/ui/alerts/" + apitest.FiringFingerprint
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#waterfall"))); err != nil {
		t.Fatalf("load %s in Chromium: %v", url, err)
	}
	pd, err := chromedp.Run(ctx, chromedp.Evaluate[pageData](`(() => {
		const q = s => document.querySelector(s);
		const all = s => Array.from(document.querySelectorAll(s));
		return {
			Bars: all('#waterfall rect.wf-bar').map(r => {
				const bb = r.getBBox();
				const t = r.parentNode.querySelector('text.wf-phi');
				return {Group: r.dataset.group, Phi: r.dataset.phi, Start: r.dataset.start, End: r.dataset.end,
					Text: t ? t.textContent : '', Width: bb.width, Y: bb.y};
			}),
			Baseline: q('#wf-baseline').dataset.baseline, Value: q('#wf-value').dataset.value,
			BaselineText: q('#wf-baseline').textContent, ValueText: q('#wf-value').textContent,
			Nodes: all('#graph g.node').map(n => n.dataset.node),
			CauseLinks: all('#entity-causes tr.entity-cause a').map(a => a.getAttribute('href')),
		};
	})()`))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	bars, baseline, value, baselineText, valueText, nodes, causeLinks :=
		pd.Bars, pd.Baseline, pd.Value, pd.BaselineText, pd.ValueText, pd.Nodes, pd.CauseLinks

	// The API's numbers for the same alert.
	resp, err := http.Get(srv.URL + api.ExplanationPath(apitest.FiringFingerprint))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct{ Data api.Explanation }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	x := r.Data

	if len(bars) != len(x.Attribution.Groups) {
		t.Fatalf("%d waterfall bars, want one per group (%d)", len(bars), len(x.Attribution.Groups))
	}
	phi := map[string]float64{}
	for _, g := range x.Attribution.Groups {
		phi[g.Name] = g.Phi
	}
	seen := map[string]bool{}
	for i, b := range bars {
		want, ok := phi[b.Group]
		if !ok || seen[b.Group] {
			t.Errorf("bar %d: group %q unknown or repeated", i, b.Group)
			continue
		}
		seen[b.Group] = true
		got, err := strconv.ParseFloat(b.Phi, 64)
		if err != nil || got != want {
			t.Errorf("bar %s: data-phi %q, API φ %v", b.Group, b.Phi, want)
		}
		if shown := api.PhiText(want); b.Text != shown {
			t.Errorf("bar %s: shows %q, API φ %v", b.Group, b.Text, want)
		}
		if b.Width < 1 {
			t.Errorf("bar %s: rendered width %v", b.Group, b.Width)
		}
		if i > 0 {
			if math.Abs(got) > math.Abs(mustFloat(t, bars[i-1].Phi))+1e-15 || b.Y <= bars[i-1].Y {
				t.Errorf("bar %s is not below a bar of larger |φ|", b.Group)
			}
			if mustFloat(t, b.End) != mustFloat(t, bars[i-1].Start) {
				t.Errorf("bar %s ends at %s, the bar above starts at %s", b.Group, b.End, bars[i-1].Start)
			}
		}
	}
	if top := mustFloat(t, bars[0].End); top != x.Attribution.Value {
		t.Errorf("top bar ends at %v, f(x) = %v", top, x.Attribution.Value)
	}
	if bottom := mustFloat(t, bars[len(bars)-1].Start); math.Abs(bottom-x.Attribution.Baseline) > 1e-9 {
		t.Errorf("bottom bar starts at %v, baseline %v", bottom, x.Attribution.Baseline)
	}
	if mustFloat(t, baseline) != x.Attribution.Baseline || mustFloat(t, value) != x.Attribution.Value {
		t.Errorf("page baseline %s value %s, API %v %v", baseline, value, x.Attribution.Baseline, x.Attribution.Value)
	}
	if baselineText != strconv.FormatFloat(x.Attribution.Baseline, 'f', 4, 64) || valueText != strconv.FormatFloat(x.Attribution.Value, 'f', 4, 64) {
		t.Errorf("page shows baseline %q value %q, API %v %v", baselineText, valueText, x.Attribution.Baseline, x.Attribution.Value)
	}
	if len(nodes) < 2 {
		t.Errorf("dependency graph nodes %v", nodes)
	}
	if len(causeLinks) != len(x.Causes.Entities) {
		t.Errorf("cause links %v for %d causes", causeLinks, len(x.Causes.Entities))
	}
	for i, l := range causeLinks {
		if i < len(x.Causes.Entities) && l != x.Causes.Entities[i].Links.UI {
			t.Errorf("cause %d links to %q, API says %q", i, l, x.Causes.Entities[i].Links.UI)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(requested) == 0 {
		t.Error("no network requests recorded")
	}
	for _, u := range requested {
		if !strings.HasPrefix(u, srv.URL+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s (only the omen server is allowed)", u)
		}
	}
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}
