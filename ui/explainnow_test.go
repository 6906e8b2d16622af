package ui_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/ui"
)

// countingBackend counts the explanations made on request, and the most
// made at once; each takes hold (when set) before it answers.
type countingBackend struct {
	*api.MemBackend
	hold           time.Duration
	calls, running atomic.Int32
	most           atomic.Int32
}

func (b *countingBackend) ExplainEntity(ctx context.Context, entity string) (api.Explanation, error) {
	b.calls.Add(1)
	n := b.running.Add(1)
	defer b.running.Add(-1)
	for m := b.most.Load(); n > m && !b.most.CompareAndSwap(m, n); m = b.most.Load() {
	}
	select {
	case <-time.After(b.hold):
	case <-ctx.Done():
		return api.Explanation{}, ctx.Err()
	}
	return b.MemBackend.ExplainEntity(ctx, entity)
}

// sharedServer serves the API and the UI over b with one explain gate, as
// the daemon does.
func sharedServer(t *testing.T, b api.Backend, gate *api.ExplainGate) *httptest.Server {
	t.Helper()
	u, err := ui.New(ui.Options{Backend: b, ExplainGate: gate})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Options{Backend: b, ListenAddress: "127.0.0.1:0", UI: u, ExplainGate: gate})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// post POSTs the entity page's "explain now" form to path (with the
// Sec-Fetch-Site header site, when set) and follows the redirect.
func post(t *testing.T, srvURL, path, site string) (int, string, *http.Response) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srvURL+path, strings.NewReader(url.Values{"explain": {"now"}}.Encode()))
	if err != nil {
		t.Error(err)
		return 0, "", nil
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if site != "" {
		req.Header.Set("Sec-Fetch-Site", site)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, "", nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp
}

// postHas is pageHas for the "explain now" button of the page at path.
func postHas(t *testing.T, srvURL, path string, code int, want, not []string) string {
	t.Helper()
	c, body, _ := post(t, srvURL, path, "")
	if c != code {
		t.Fatalf("POST %s: status %d, want %d:\n%s", path, c, code, body)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("POST %s lacks %s", path, w)
		}
	}
	for _, w := range not {
		if strings.Contains(body, w) {
			t.Errorf("POST %s has %s", path, w)
		}
	}
	return body
}

// TestExplainNowIsPost: the UI's "explain now" is a POST form, which the
// cross-origin check covers: a GET (a link or an <img> on any page, with
// the browser's Basic credentials) explained and stored before. The POST
// redirects to the entity's page showing what it stored, which a reload
// reads without explaining again.
func TestExplainNowIsPost(t *testing.T) {
	b := &countingBackend{MemBackend: apitest.Backend()}
	srv := sharedServer(t, b, nil)
	page := api.EntityUIPath(apitest.CartEntity)

	// The page offers a form, no link.
	pageHas(t, srv.URL, page, http.StatusOK, []string{`<form class="explain-now" method="post" action="` + page + `">`}, []string{`?explain=now`})
	// The old link explains nothing and points at the button.
	pageHas(t, srv.URL, page+"?explain=now", http.StatusBadRequest, []string{`so it is a POST`, `href="` + page + `"`}, nil)
	if n := b.calls.Load(); n != 0 {
		t.Fatalf("GET ?explain=now made %d explanations", n)
	}
	// A cross-site POST is refused.
	if code, body, _ := post(t, srv.URL, page, "cross-site"); code != http.StatusForbidden || b.calls.Load() != 0 {
		t.Fatalf("cross-site POST: %d, %d explanations: %s", code, b.calls.Load(), body)
	}
	// A same-origin POST explains once and lands on a GET page.
	code, body, resp := post(t, srv.URL, page, "same-origin")
	if code != http.StatusOK || !strings.Contains(body, `(explained now)`) || !strings.Contains(body, `id="waterfall"`) || b.calls.Load() != 1 {
		t.Fatalf("same-origin POST: %d, %d explanations:\n%s", code, b.calls.Load(), body)
	}
	if resp.Request.Method != http.MethodGet || resp.Request.URL.Query().Get("explained") == "" {
		t.Fatalf("POST led to %s %s, want a GET of the page with explained=ID", resp.Request.Method, resp.Request.URL)
	}
	// Reloading it explains nothing.
	pageHas(t, srv.URL, resp.Request.URL.RequestURI(), http.StatusOK, []string{`(explained now)`}, nil)
	if n := b.calls.Load(); n != 1 {
		t.Errorf("reloading the explained page made %d explanations, want 1 in all", n)
	}
	// explained= names an explanation of this entity only.
	pageHas(t, srv.URL, page+"?explained="+url.QueryEscape("infra/db-0@1764000000000"), http.StatusNotFound,
		[]string{`is not of ` + apitest.CartEntity}, []string{`id="waterfall"`})
}

// TestExplainNowSharesGate: the UI's explain-now goes through the API's
// explain gate: 10 concurrent UI requests with a limit of 1 run one at a
// time (the UI called the backend directly, past MaxConcurrentExplains and
// ExplainTimeout), and one that finds the slot taken for the whole
// timeout gets a 503 page saying to retry.
func TestExplainNowSharesGate(t *testing.T) {
	t.Run("one at a time", func(t *testing.T) {
		b := &countingBackend{MemBackend: apitest.Backend(), hold: 20 * time.Millisecond}
		gate, err := api.NewExplainGate(1, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		srv := sharedServer(t, b, gate)
		var wg sync.WaitGroup
		codes := make([]int, 12)
		for i := range codes {
			wg.Go(func() {
				if i < 10 {
					codes[i], _, _ = post(t, srv.URL, api.EntityUIPath(apitest.CartEntity), "")
					return
				}
				req, _ := http.NewRequest(http.MethodPost, srv.URL+api.ExplainPath(apitest.CartEntity), nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				codes[i] = resp.StatusCode
			})
		}
		wg.Wait()
		for i, c := range codes {
			if c != http.StatusOK {
				t.Errorf("request %d: status %d", i, c)
			}
		}
		if n, m := b.calls.Load(), b.most.Load(); n != 12 || m != 1 {
			t.Errorf("%d explanations, %d at once; want 12, 1 at a time", n, m)
		}
	})
	t.Run("busy", func(t *testing.T) {
		b := &countingBackend{MemBackend: apitest.Backend(), hold: 2 * time.Second}
		gate, err := api.NewExplainGate(1, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		srv := sharedServer(t, b, gate)
		release := make(chan struct{})
		held := make(chan struct{})
		go func() {
			// Hold the slot past the UI request's wait.
			_, _ = gate.Explain(context.Background(), holder{held: held, release: release}, "x")
		}()
		<-held
		code, body, resp := post(t, srv.URL, api.EntityUIPath(apitest.CartEntity), "")
		apiCode, apiRetry := postAPI(t, srv.URL)
		close(release)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "busy") || !strings.Contains(body, "retry later") ||
			!strings.Contains(body, `<form class="explain-now"`) {
			t.Errorf("POST while busy: %d:\n%s", code, body)
		}
		checkRetryAfter(t, "busy", resp.Header.Get("Retry-After"), apiCode, apiRetry, gate)
		if n := b.calls.Load(); n != 0 {
			t.Errorf("%d explanations made while the slot was held", n)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		// Each explanation outlasts the gate's timeout.
		b := &countingBackend{MemBackend: apitest.Backend(), hold: time.Minute}
		gate, err := api.NewExplainGate(2, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		srv := sharedServer(t, b, gate)
		code, body, resp := post(t, srv.URL, api.EntityUIPath(apitest.CartEntity), "")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "ran out of time") {
			t.Errorf("POST of an explanation running out of time: %d:\n%s", code, body)
		}
		apiCode, apiRetry := postAPI(t, srv.URL)
		checkRetryAfter(t, "timeout", resp.Header.Get("Retry-After"), apiCode, apiRetry, gate)
	})
}

// postAPI POSTs the API's explain-now of the cart entity, and returns its
// status and Retry-After.
func postAPI(t *testing.T, srvURL string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srvURL+api.ExplainPath(apitest.CartEntity), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// checkRetryAfter: the UI's 503 page (Retry-After ui) carries the
// Retry-After of the API's 503 for the same condition (apiRetry), the
// gate's (the UI's busy page said 5 s, the API 30 s by default).
func checkRetryAfter(t *testing.T, cond, ui string, apiCode int, apiRetry string, gate *api.ExplainGate) {
	t.Helper()
	if apiCode != http.StatusServiceUnavailable {
		t.Errorf("%s: the API answered %d, want 503", cond, apiCode)
	}
	if want := gate.RetryAfter(); ui != want || apiRetry != want {
		t.Errorf("%s: Retry-After of the UI %q, of the API %q; want both the gate's %q", cond, ui, apiRetry, want)
	}
}

// holder is a backend whose explanation holds its slot until release.
type holder struct {
	api.Backend
	held, release chan struct{}
}

func (h holder) ExplainEntity(context.Context, string) (api.Explanation, error) {
	close(h.held)
	<-h.release
	return api.Explanation{}, nil
}

// TestExplainNowInChromium: in a browser, the "explain now" button (a
// form, without JavaScript under the UI's CSP) explains and shows the
// explanation; a page of another origin can make the browser neither GET
// nor POST an explanation.
func TestExplainNowInChromium(t *testing.T) {
	b := &countingBackend{MemBackend: apitest.Backend()}
	srv := sharedServer(t, b, nil)
	page := api.EntityUIPath(apitest.CartEntity)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, `<!DOCTYPE html><img src="`+srv.URL+api.ExplainPath(apitest.CartEntity)+`">`+
			`<img src="`+srv.URL+page+`?explain=now">`+
			`<iframe name="sink"></iframe><form method="post" target="sink" action="`+srv.URL+page+`"><input name="explain" value="now"></form>`+
			`<form method="post" target="sink" action="`+srv.URL+api.ExplainPath(apitest.CartEntity)+`"></form>`+
			`<script>document.forms[0].submit(); document.forms[1].submit(); setTimeout(() => { document.title = "done" }, 1500)</script>`)
	}))
	t.Cleanup(evil.Close)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(evil.URL)); err != nil {
		t.Fatalf("cross-site page: %v", err)
	}
	waitJS(t, ctx, `document.title == "done"`)
	if n := b.calls.Load(); n != 0 {
		t.Fatalf("a page of another origin made %d explanations", n)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+page), chromedp.Click(chromedp.CSS("form.explain-now button"))); err != nil {
		t.Fatalf("explain now: %v", err)
	}
	waitJS(t, ctx, `location.search.includes("explained=") && document.readyState == "complete" && document.body.innerText.includes("(explained now)")`)
	if n := b.calls.Load(); n != 1 {
		t.Errorf("the button made %d explanations, want 1", n)
	}
}

// waitJS waits (up to 10s) for the JavaScript predicate to hold in the
// page, through navigations.
func waitJS(t *testing.T, ctx context.Context, predicate string) {
	t.Helper()
	var last error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](predicate))
		if err == nil && ok {
			return
		}
		last = err
	}
	var href string
	href, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	t.Fatalf("%s did not hold within 10s at %s (%v)", predicate, href, last)
}
