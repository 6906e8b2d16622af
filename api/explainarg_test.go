package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// TestExplainNotFoundSays: omen explain's error (Client.Explain) says
// what its argument was taken as and what was not found. A fingerprint, a
// prediction id at a time without prediction, a typo and a pod named
// without its namespace all said "… is no alert, prediction or entity
// omen knows: entity "X" …" alike. A typo of an entity (one or two edits,
// case ignored) is told the nearest entity, as a pod named without its
// namespace is told the entity; it was told no more than "no entity".
// Another pod of a replica set (more letters off) is told nothing.
func TestExplainNotFoundSays(t *testing.T) {
	srv := newServer(t, apitest.Backend(), api.Options{})
	c := &api.Client{URL: srv.URL}
	cart := apitest.CartEntity
	id := func(entity string, t int64) string { return entity + "@" + strconv.FormatInt(t, 10) }
	for _, tc := range []struct {
		name, arg string
		want      []string
	}{
		{"fingerprint", "0123456789abcdef", []string{"no alert with fingerprint 0123456789abcdef"}},
		{"prediction at an unknown time, none before", id(cart, 123), []string{
			`no prediction ` + id(cart, 123) + `: entity "` + cart + `" has predictions but none at 123 (1970-01-01T00:00:00.123Z)`,
			`it has none kept before it; its newest is ` + id(cart, apitest.T0) + ` (2025-11-24T16:00:00Z)`}},
		{"prediction between two", id(cart, apitest.T0-apitest.Step+1), []string{
			`has predictions but none at ` + strconv.FormatInt(apitest.T0-apitest.Step+1, 10) + ` (2025-11-24T15:59:45.001Z)`,
			`the nearest before it is ` + id(cart, apitest.T0-apitest.Step) + ` (2025-11-24T15:59:45Z), its newest ` + id(cart, apitest.T0)}},
		{"prediction after the newest", id(cart, apitest.T0+1), []string{
			`its newest, the nearest, is ` + id(cart, apitest.T0) + ` (2025-11-24T16:00:00Z)`}},
		{"prediction without explanation", id(cart, apitest.T0-apitest.Step), []string{
			`prediction ` + id(cart, apitest.T0-apitest.Step) + ` has no stored explanation`, `omen explain ` + cart}},
		{"prediction of no entity", id("cart-7d9f8b6c4-x2k9p", apitest.T0), []string{
			`no prediction cart-7d9f8b6c4-x2k9p@1764000000000: no entity "cart-7d9f8b6c4-x2k9p"; did you mean "` + id(cart, apitest.T0) + `"?`}},
		{"typo", "shop/cart-7d9f8b6c4-x2k9q", []string{`no entity "shop/cart-7d9f8b6c4-x2k9q" (nor alert or prediction); did you mean "` + cart + `"?`}},
		{"typo, case", "Shop/Cart-7d9f8b6c4-x2k9p", []string{`no entity "Shop/Cart-7d9f8b6c4-x2k9p" (nor alert or prediction); did you mean "` + cart + `"?`}},
		{"prediction of a typo", id("shop/cart-7d9f8b6c4-x2kp", apitest.T0), []string{
			`no entity "shop/cart-7d9f8b6c4-x2kp"; did you mean "` + id(cart, apitest.T0) + `"?`}},
		{"typo, two letters", "shop/cart-7d9f8b6c4-x2k8q", []string{`no entity "shop/cart-7d9f8b6c4-x2k8q" (nor alert or prediction); did you mean "` + cart + `"?`}},
		// Another pod of cart's replica set (5 letters off), no typo:
		// no hint (it was told cart's, a quarter of its length away).
		{"sibling replica", "shop/cart-7d9f8b6c4-abcde", []string{`no entity "shop/cart-7d9f8b6c4-abcde" (nor alert or prediction)` + "\n"}},
		{"prediction of a sibling replica", id("shop/cart-7d9f8b6c4-abcde", apitest.T0), []string{
			`no prediction shop/cart-7d9f8b6c4-abcde@1764000000000: no entity "shop/cart-7d9f8b6c4-abcde"` + "\n"}},
		{"far from any", "shop/checkout-0", []string{`no entity "shop/checkout-0" (nor alert or prediction)` + "\n"}}, // no hint: "\n" marks the end
		{"pod without namespace", "redis-0", []string{`no entity "redis-0" (nor alert or prediction); did you mean "infra/redis-0"?`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.Explain(context.Background(), tc.arg)
			if !errors.Is(err, api.ErrNotFound) {
				t.Fatalf("omen explain %s: %v, want ErrNotFound", tc.arg, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error()+"\n", w) {
					t.Errorf("omen explain %s:\n%v\nwant it to say\n%s", tc.arg, err, w)
				}
			}
			if strings.Contains(err.Error(), "has no current prediction") {
				t.Errorf("omen explain %s: %v", tc.arg, err)
			}
		})
	}
}

// TestExplainDidYouMeanPartial: the "did you mean ns/NAME" hint looks
// at the entities GET /api/v1/predictions lists, which the API cuts at
// MaxLimit; cut, the hint says it looked at those only, found or not. It
// said nothing of the cut: a pod past the limit had no hint, as if no
// entity ended in its name. One entity is "the first entity" (it read
// "the first 1 entities").
func TestExplainDidYouMeanPartial(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxLimit int
		want     string
	}{
		{"whole list", 0, `no entity "redis-0" (nor alert or prediction); did you mean "infra/redis-0"?` + "\n"},
		{"found in a cut list", 2, `; did you mean "infra/redis-0"? (of the first 2 entities: the API cut the list at its limit)` + "\n"},
		{"not in a cut list", 1, `no entity "redis-0" (nor alert or prediction); none ends in /redis-0 (of the first entity: the API cut the list at its limit)` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, apitest.Backend(), api.Options{MaxLimit: tc.maxLimit})
			_, _, err := (&api.Client{URL: srv.URL}).Explain(context.Background(), "redis-0")
			if !errors.Is(err, api.ErrNotFound) || !strings.HasSuffix(err.Error()+"\n", tc.want) {
				t.Errorf("omen explain redis-0 with MaxLimit %d: %v; want ErrNotFound ending in %q", tc.maxLimit, err, tc.want)
			}
		})
	}
}

// TestExplainNewestAsksOne: to name an entity's newest prediction (a
// gone entity, a prediction id at a time without one), omen explain asks
// the API for that one (limit=1); it asked without a limit, which the API
// takes as its MaxLimit (10000).
func TestExplainNewestAsksOne(t *testing.T) {
	b := apitest.Backend()
	b.Explain = func(_ context.Context, entity string) (api.Explanation, error) {
		return api.Explanation{}, fmt.Errorf("entity %q has no current prediction: %w", entity, api.ErrNotFound)
	}
	a, err := api.New(api.Options{Backend: b, ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		queries []url.Values
	)
	h := a.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/predictions" {
			mu.Lock()
			queries = append(queries, r.URL.Query())
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct{ arg, want string }{
		{"infra/redis-0", `its newest stored prediction is infra/redis-0@1764000000000`},
		{apitest.CartEntity + "@123", `its newest is ` + apitest.CartEntity + `@1764000000000`},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			mu.Lock()
			queries = nil
			mu.Unlock()
			_, _, err := (&api.Client{URL: srv.URL}).Explain(context.Background(), tc.arg)
			if !errors.Is(err, api.ErrNotFound) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("omen explain %s: %v, want ErrNotFound saying %s", tc.arg, err, tc.want)
			}
			mu.Lock()
			defer mu.Unlock()
			newest := 0
			for _, q := range queries {
				if q.Get("entity") == "" || q.Has("from") || q.Has("to") {
					continue // the fleet's list (did you mean), a range
				}
				newest++
				if q.Get("limit") != "1" {
					t.Errorf("omen explain %s asked for the newest prediction with %q, want limit=1", tc.arg, q.Encode())
				}
			}
			if newest == 0 {
				t.Errorf("omen explain %s asked for no newest prediction: %v", tc.arg, queries)
			}
		})
	}
}

// TestExplainBase: the base URL of omen a link of omen's is under (its
// scheme, host and path prefix); none for a path, an id or an entity.
func TestExplainBase(t *testing.T) {
	const pred = "shop%2Fcart-0@1764000000000"
	for _, tc := range []struct{ arg, want string }{
		{"https://omen.example.com/ui/alerts/" + pred, "https://omen.example.com"},
		{"https://omen.example.com/omen/ui/alerts/" + pred + "#causes", "https://omen.example.com/omen"},
		{"http://127.0.0.1:9464/api/v1/explanations/0123456789abcdef?x=1", "http://127.0.0.1:9464"},
		{"http://[::1]:9464/a%20b/ui/entities/shop%2Fcart-0", "http://[::1]:9464/a%20b"},
		{"/ui/alerts/" + pred, ""},
		{pred, ""},
		{"shop/cart-0", ""},
		{"https://omen.example.com/", ""},
		{"https://omen.example.com/ui/alerts/", ""},
	} {
		got, ok := api.ExplainBase(tc.arg)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("ExplainBase(%q) = %q, %v; want %q", tc.arg, got, ok, tc.want)
		}
	}
}

// TestExplainLinkArgs: omen explain takes a prediction id as an alert's
// explanation_url writes it (URL-escaped) and the links themselves
// (explanation_url / generatorURL, explanation_api_url, behind a path
// prefix too, and an entity's page), as the id they name; they were taken
// as entity names, not found.
func TestExplainLinkArgs(t *testing.T) {
	srv := newServer(t, apitest.Backend(), api.Options{})
	c := &api.Client{URL: srv.URL}
	const pred = "infra/db-0@1764000000000"
	esc := url.PathEscape(pred)
	for _, tc := range []struct {
		arg, prediction, fingerprint string
	}{
		{esc, pred, ""},
		{"https://omen.example.com/ui/alerts/" + esc, pred, ""},
		{"https://omen.example.com/omen/ui/alerts/" + esc + "#causes", pred, ""},
		{"http://127.0.0.1:9464/api/v1/explanations/" + esc, pred, ""},
		{"https://omen.example.com/ui/alerts/" + apitest.FiringFingerprint, apitest.CartEntity + "@1764000000000", apitest.FiringFingerprint},
		{"https://omen.example.com/ui/entities/" + url.PathEscape("infra/db-0"), pred, ""},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			x, _, err := c.Explain(context.Background(), tc.arg)
			if err != nil || x.PredictionID != tc.prediction || x.AlertFingerprint != tc.fingerprint {
				t.Errorf("omen explain %s: prediction %q alert %q, %v; want %s %q", tc.arg, x.PredictionID, x.AlertFingerprint, err, tc.prediction, tc.fingerprint)
			}
		})
	}
}

// TestWriteTableAtAbsoluteLinks: with omen's base URL (omen explain's
// --url), the root causes' pages are printed as absolute URLs under it;
// they were printed as paths (/ui/entities/…), which no terminal opens.
func TestWriteTableAtAbsoluteLinks(t *testing.T) {
	srv := newServer(t, apitest.Backend(), api.Options{})
	x, _, err := (&api.Client{URL: srv.URL}).Explain(context.Background(), apitest.FiringFingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Causes.Entities) == 0 {
		t.Fatal("no root causes in the fixture's explanation")
	}
	for _, base := range []string{"https://omen.example.com/omen", "https://omen.example.com/omen/"} {
		var b bytes.Buffer
		if err := api.WriteTableAt(&b, x, 0, base); err != nil {
			t.Fatal(err)
		}
		for _, e := range x.Causes.Entities {
			want := "  https://omen.example.com/omen" + api.EntityUIPath(api.CauseEntity(e))
			if !strings.Contains(b.String(), want) {
				t.Errorf("base %s: no %q in\n%s", base, want, b.String())
			}
		}
		if strings.Contains(b.String(), "  /ui/") {
			t.Errorf("base %s: a relative link in\n%s", base, b.String())
		}
	}
}

// TestExplainGoneEntitySays: an entity omen stores predictions of but
// cannot explain now (gone: no current prediction) is named as such, with
// its newest stored prediction, not as unknown.
func TestExplainGoneEntitySays(t *testing.T) {
	b := apitest.Backend()
	b.Explain = func(_ context.Context, entity string) (api.Explanation, error) {
		return api.Explanation{}, fmt.Errorf("entity %q has no current prediction: %w", entity, api.ErrNotFound)
	}
	srv := newServer(t, b, api.Options{})
	_, _, err := (&api.Client{URL: srv.URL}).Explain(context.Background(), "infra/redis-0")
	want := `entity "infra/redis-0" has no current prediction to explain now (it is gone, or not scored since omen started); ` +
		`its newest stored prediction is infra/redis-0@1764000000000 (2025-11-24T16:00:00Z)`
	if !errors.Is(err, api.ErrNotFound) || !strings.Contains(err.Error(), want) {
		t.Errorf("omen explain of a gone entity: %v, want it to say\n%s", err, want)
	}
}

// TestExplainDidYouMeanMany: a pod named without its namespace that ends
// more than 5 entities lists the first 5, sorted, and counts the rest.
func TestExplainDidYouMeanMany(t *testing.T) {
	b := apitest.Backend()
	for i := range 7 {
		e := fmt.Sprintf("ns%d/web-0", i)
		b.PredictionList = append(b.PredictionList, api.Prediction{ID: e + "@" + strconv.FormatInt(apitest.T0, 10), Entity: e, T: apitest.T0, Threshold: 0.5})
	}
	srv := newServer(t, b, api.Options{})
	_, _, err := (&api.Client{URL: srv.URL}).Explain(context.Background(), "web-0")
	const want = `no entity "web-0" (nor alert or prediction); entities ending in /web-0: "ns0/web-0", "ns1/web-0", "ns2/web-0", "ns3/web-0", "ns4/web-0" and 2 more`
	if !errors.Is(err, api.ErrNotFound) || err == nil || err.Error() != want {
		t.Errorf("omen explain web-0: %v; want ErrNotFound, %q", err, want)
	}
}
