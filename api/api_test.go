package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newServer(t *testing.T, b api.Backend, o api.Options) *httptest.Server {
	t.Helper()
	o.Backend = b
	if o.ListenAddress == "" {
		o.ListenAddress = "127.0.0.1:0"
	}
	a, err := api.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, method, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./api -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./api -update to accept):\n%s", path, got)
	}
}

func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func TestGolden(t *testing.T) {
	srv := newServer(t, apitest.Backend(), api.Options{})
	cart := "shop%2Fcart-7d9f8b6c4-x2k9p"
	from := time.UnixMilli(apitest.T0 - 3*apitest.Step).UTC().Format(time.RFC3339)
	cases := []struct {
		name, method, path string
		code               int
	}{
		{"predictions", "GET", "/api/v1/predictions", 200},
		{"predictions_match", "GET", "/api/v1/predictions?match[namespace]=infra", 200},
		{"predictions_match_two", "GET", "/api/v1/predictions?match[namespace]=shop&match[service]=cart", 200},
		{"predictions_range", "GET", "/api/v1/predictions?entity=shop/cart-7d9f8b6c4-x2k9p&from=" + from + "&to=" + "1764000000", 200},
		{"predictions_limit", "GET", "/api/v1/predictions?limit=2", 200},
		{"alerts", "GET", "/api/v1/alerts", 200},
		{"alerts_firing", "GET", "/api/v1/alerts?state=firing", 200},
		{"alerts_match", "GET", "/api/v1/alerts?match[namespace]=infra", 200},
		{"explanation_alert", "GET", "/api/v1/explanations/" + apitest.FiringFingerprint, 200},
		{"explanation_prediction", "GET", "/api/v1/explanations/" + cart + "@1764000000000", 200},
		{"explain_entity", "POST", "/api/v1/entities/" + cart + "/explain", 200},
		{"dependencies", "GET", "/api/v1/entities/" + cart + "/dependencies", 200},
		{"model", "GET", "/api/v1/model", 200},
		{"err_bad_from", "GET", "/api/v1/predictions?from=yesterday", 400},
		{"err_to_before_from", "GET", "/api/v1/predictions?from=200&to=100", 400},
		{"err_bad_limit", "GET", "/api/v1/alerts?limit=-1", 400},
		{"err_bad_state", "GET", "/api/v1/alerts?state=burning", 400},
		{"err_bad_matcher", "GET", "/api/v1/alerts?match[=x", 400},
		{"err_unknown_explanation", "GET", "/api/v1/explanations/nope", 404},
		{"err_unknown_entity", "POST", "/api/v1/entities/nope/explain", 404},
		{"err_unknown_dependencies", "GET", "/api/v1/entities/nope/dependencies", 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := get(t, c.method, srv.URL+c.path, "")
			if code != c.code {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.path, code, c.code, body)
			}
			golden(t, c.name, indent(t, body))
		})
	}
}

func TestFilters(t *testing.T) {
	srv := newServer(t, apitest.Backend(), api.Options{})
	list := func(path string) []api.Prediction {
		code, body := get(t, "GET", srv.URL+path, "")
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		var r struct{ Data []api.Prediction }
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		return r.Data
	}
	cases := []struct {
		path  string
		count int
		check func(api.Prediction) bool
	}{
		{"/api/v1/predictions", 5, func(p api.Prediction) bool { return p.T == apitest.T0 }},
		{"/api/v1/predictions?match[namespace]=shop", 3, func(p api.Prediction) bool { return p.Labels["namespace"] == "shop" }},
		{"/api/v1/predictions?match[namespace]=shop&match[service]=db", 0, nil},
		{"/api/v1/predictions?entity=infra/db-0", 1, func(p api.Prediction) bool { return p.Entity == "infra/db-0" }},
		// Unix seconds with a fraction and RFC 3339 mixed: the last 5 steps of db.
		{"/api/v1/predictions?entity=infra/db-0&from=1763999940&to=2025-11-24T16:00:00.000Z", 5,
			func(p api.Prediction) bool { return p.T >= apitest.T0-4*apitest.Step && p.T <= apitest.T0 }},
		{"/api/v1/predictions?match[namespace]=infra&from=1763999940.5", 8, func(p api.Prediction) bool { return p.T >= 1763999940500 }},
		{"/api/v1/predictions?match[namespace]=infra&from=1763999940.5&limit=3", 3, nil},
	}
	for _, c := range cases {
		ps := list(c.path)
		if len(ps) != c.count {
			t.Errorf("%s: %d predictions, want %d", c.path, len(ps), c.count)
		}
		for _, p := range ps {
			if c.check != nil && !c.check(p) {
				t.Errorf("%s: unexpected %+v", c.path, p)
			}
		}
	}
}

func TestParseTime(t *testing.T) {
	cases := []struct {
		in   string
		want int64 // ms
		err  bool
	}{
		{"1764000000", 1764000000000, false},
		{"1764000000.25", 1764000000250, false},
		{"1234.567", 1234567, false},
		{"1764000000.001", 1764000000001, false}, // exact: through a float64 it was …000
		{"-1.5", -1500, false},
		{"1.5e3", 1500000, false},
		{"99999999999999", 0, true},
		{"1795721200000", 0, true},               // milliseconds, as the API writes times: year 58,874 as seconds
		{"1795721200000.5", 0, true},             // the same through the float path
		{"253402300799", 253402300799000, false}, // 9999-12-31T23:59:59Z, the last second accepted
		{"253402300800", 0, true},
		{"10000000000000.000", 1e16, false}, // the limit: the history client's "no bound"
		{"2025-11-24T16:00:00Z", 1764000000000, false},
		{"2025-11-24T17:00:00.5+01:00", 1764000000500, false},
		{"NaN", 0, true},
		{"1e300", 0, true},
		{"yesterday", 0, true},
		{"", 0, true},
	}
	for _, c := range cases {
		got, err := api.ParseTime(c.in)
		if (err != nil) != c.err {
			t.Errorf("ParseTime(%q) error %v, want error %v", c.in, err, c.err)
			continue
		}
		if !c.err && got.UnixMilli() != c.want {
			t.Errorf("ParseTime(%q) = %d, want %d", c.in, got.UnixMilli(), c.want)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"1764000000", "1764000000.25", "2025-11-24T16:00:00Z", "-1", "1e13", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := api.ParseTime(s)
		if err == nil && tm.IsZero() && s != "-62135596800" {
			// the zero time is only reachable by asking for it
			if _, perr := time.Parse(time.RFC3339Nano, s); perr != nil {
				t.Errorf("ParseTime(%q) = zero time without error", s)
			}
		}
	})
}

func TestIsLoopback(t *testing.T) {
	cases := map[string]bool{
		"127.0.0.1:9464": true, "localhost:9464": true, "[::1]:9464": true, "127.1.2.3:80": true,
		"::1": true, "localhost": true,
		":9464": false, "0.0.0.0:9464": false, "[::]:9464": false, "10.0.0.1:9464": false,
		"omen.example:9464": false, "": false,
	}
	for addr, want := range cases {
		if got := api.IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestAuth(t *testing.T) {
	b := apitest.Backend()
	for _, addr := range []string{":9464", "0.0.0.0:9464", "10.1.2.3:9464"} {
		if _, err := api.New(api.Options{Backend: b, ListenAddress: addr}); err == nil {
			t.Errorf("New on %s without a token: no error", addr)
		}
	}
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := api.New(api.Options{Backend: b, ListenAddress: ":9464", TokenFile: empty}); err == nil {
		t.Error("New with an empty token file: no error")
	}
	if _, err := api.New(api.Options{Backend: b, ListenAddress: ":9464", TokenFile: filepath.Join(dir, "missing")}); err == nil {
		t.Error("New with a missing token file: no error")
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ui := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ui") })
	// The server itself listens on loopback (tests only use loopback); the
	// options say what the daemon was configured with.
	secured := newServer(t, b, api.Options{ListenAddress: "0.0.0.0:9464", TokenFile: tokenFile, UI: ui})
	open := newServer(t, b, api.Options{ListenAddress: "127.0.0.1:9464"})

	basic := func(user, pw string) http.Header {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(user, pw)
		return r.Header
	}
	cases := []struct {
		name   string
		srv    *httptest.Server
		path   string
		header http.Header
		code   int
	}{
		{"no token", secured, "/api/v1/alerts", nil, 401},
		{"wrong token", secured, "/api/v1/alerts", http.Header{"Authorization": {"Bearer s3cret-tokeN"}}, 401},
		{"prefix of token", secured, "/api/v1/alerts", http.Header{"Authorization": {"Bearer s3cret"}}, 401},
		{"token", secured, "/api/v1/alerts", http.Header{"Authorization": {"Bearer s3cret-token"}}, 200},
		{"token lower-case scheme", secured, "/api/v1/model", http.Header{"Authorization": {"bearer s3cret-token"}}, 200},
		{"basic", secured, "/api/v1/model", basic("omen", "s3cret-token"), 200},
		{"basic wrong", secured, "/api/v1/model", basic("omen", "nope"), 401},
		{"ui no token", secured, "/ui/", nil, 401},
		{"ui basic wrong", secured, "/ui/alerts/x", basic("omen", "nope"), 401},
		{"browser api no token", secured, "/api/v1/explanations/x", http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}, 401},
		{"ui basic", secured, "/ui/", basic("", "s3cret-token"), 200},
		{"openapi no token", secured, "/api/v1/openapi.json", nil, 401},
		{"loopback no token", open, "/api/v1/alerts", nil, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", c.srv.URL+c.path, nil)
			for k, v := range c.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.code, body)
			}
			browser := strings.HasPrefix(c.path, "/ui/") || c.header.Get("Accept") != ""
			switch {
			case c.code == 401 && browser:
				// A browser is asked for the token as a Basic password,
				// and told so on a page should its user cancel.
				if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
					t.Errorf("WWW-Authenticate %q, want Basic", got)
				}
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
					t.Errorf("Content-Type %q, want text/html", ct)
				}
				want := "omen wants its token"
				if c.header.Get("Authorization") != "" {
					want = "not omen's token"
				}
				for _, w := range []string{want, "any user name", "--web.token-file", "as the password"} {
					if !strings.Contains(string(body), w) {
						t.Errorf("401 page lacks %q:\n%s", w, body)
					}
				}
			case c.code == 401:
				var e struct{ Status, ErrorType string }
				if err := json.Unmarshal(body, &e); err != nil || e.Status != "error" || e.ErrorType != "unauthorized" {
					t.Errorf("401 body %s", body)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
		})
	}
}

func TestExplainConcurrencyAndTimeout(t *testing.T) {
	b := apitest.Backend()
	// Count the explanations in flight at once: on a loaded machine the
	// second request may start after the first timed out, which is fine.
	var inFlight, most atomic.Int32
	b.Explain = func(ctx context.Context, entity string) (api.Explanation, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-ctx.Done()
		return api.Explanation{}, ctx.Err()
	}
	srv := newServer(t, b, api.Options{MaxConcurrentExplains: 1, ExplainTimeout: 300 * time.Millisecond})
	done := make(chan int, 2)
	for range 2 {
		go func() {
			code, _ := get(t, "POST", srv.URL+"/api/v1/entities/infra%2Fdb-0/explain", "")
			done <- code
		}()
	}
	for range 2 {
		if code := <-done; code != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", code)
		}
	}
	if n := most.Load(); n != 1 {
		t.Errorf("%d explanations ran concurrently with a limit of 1", n)
	}
}

func TestBackendErrors(t *testing.T) {
	b := apitest.Backend()
	b.Model = nil
	b.Explain = func(context.Context, string) (api.Explanation, error) {
		return api.Explanation{}, errors.New("disk on fire")
	}
	srv := newServer(t, b, api.Options{})
	for path, want := range map[string]int{
		"GET /api/v1/model":                              404,
		"POST /api/v1/entities/infra%2Fdb-0/explain":     500,
		"GET /api/v1/explanations/" + "infra%2Fdb-0@123": 404,
	} {
		method, p, _ := strings.Cut(path, " ")
		code, body := get(t, method, srv.URL+p, "")
		if code != want {
			t.Errorf("%s: %d, want %d: %s", path, code, want, body)
		}
		if !strings.Contains(string(body), `"status":"error"`) {
			t.Errorf("%s: body %s", path, body)
		}
	}
}

func TestDecodeStoredExplanation(t *testing.T) {
	// testdata/stored_explanation.json is a document as the daemon stores
	// it (app.Explanation): it must decode, keep nulls as NaN, and encode
	// back to the same fields.
	doc, err := os.ReadFile("testdata/stored_explanation.json")
	if err != nil {
		t.Fatal(err)
	}
	x, err := api.DecodeExplanation(doc)
	if err != nil {
		t.Fatal(err)
	}
	if x.PredictionID != "shop/cart-1@1764000000000" || len(x.Attribution.Groups) != 3 ||
		len(x.Causes.Entities) != 2 || len(x.Window) != 3 || x.Step != 15000 {
		t.Fatalf("decoded %+v", x)
	}
	if w := x.Window[1][1]; w == w {
		t.Errorf("null window value decoded as %v, want NaN", w)
	}
	out, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	if err := json.Unmarshal(doc, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	for k, v := range a {
		av, _ := json.Marshal(v)
		bv, _ := json.Marshal(b[k])
		if !bytes.Equal(av, bv) {
			t.Errorf("field %s: stored %s, re-encoded %s", k, av, bv)
		}
	}
}

func FuzzDecodeExplanation(f *testing.F) {
	doc, err := os.ReadFile("testdata/stored_explanation.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	f.Add([]byte(`{"window":[[null,1],[]]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := api.DecodeExplanation(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(x)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := api.DecodeExplanation(out); err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
	})
}
