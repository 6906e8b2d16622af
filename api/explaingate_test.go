package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// TestExplainNowTakesPostOnly: explain-now stores an explanation, so a GET
// (which a page can make a browser send cross-site, with its Basic
// credentials: an <img src>, and which http.CrossOriginProtection lets
// through) answers 405 with Allow: POST and explains nothing; a
// cross-site POST is refused, a same-origin or non-browser one explains.
func TestExplainNowTakesPostOnly(t *testing.T) {
	b := apitest.Backend()
	var calls atomic.Int32
	b.Explain = func(context.Context, string) (api.Explanation, error) {
		calls.Add(1)
		return api.Explanation{Entity: "infra/db-0", PredictionID: "infra/db-0@1"}, nil
	}
	srv := newServer(t, b, api.Options{Token: "s3cret", ListenAddress: "0.0.0.0:0"})
	path := srv.URL + api.ExplainPath("infra/db-0")
	for _, tc := range []struct {
		name, method, site string
		code               int
		typ                string
		calls              int32
	}{
		{"GET", "GET", "", 405, "method_not_allowed", 0},
		{"cross-site GET", "GET", "cross-site", 405, "method_not_allowed", 0},
		{"HEAD", "HEAD", "", 405, "", 0},
		{"cross-site POST", "POST", "cross-site", 403, "forbidden", 0},
		{"same-origin POST", "POST", "same-origin", 200, "", 1},
		{"POST without browser headers", "POST", "", 200, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			req, err := http.NewRequest(tc.method, path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth("", "s3cret")
			if tc.site != "" {
				req.Header.Set("Sec-Fetch-Site", tc.site)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ ErrorType, Error string }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tc.code || body.ErrorType != tc.typ || calls.Load() != tc.calls {
				t.Fatalf("%d %s %q, %d explanations; want %d %s, %d", resp.StatusCode, body.ErrorType, body.Error, calls.Load(), tc.code, tc.typ, tc.calls)
			}
			if tc.code == 405 {
				if got := resp.Header.Get("Allow"); got != "POST" {
					t.Errorf("Allow %q, want POST", got)
				}
				if tc.method == "GET" && !strings.Contains(body.Error, "takes POST") {
					t.Errorf("error %q does not say to POST", body.Error)
				}
			}
		})
	}
}

// TestExplainBusy: a request that finds every explanation slot in use for
// the whole timeout answers 503 busy, saying to retry.
func TestExplainBusy(t *testing.T) {
	b := apitest.Backend()
	started, release := make(chan struct{}, 1), make(chan struct{})
	// The first explanation holds its slot until the second request is
	// answered, past its own timeout.
	b.Explain = func(context.Context, string) (api.Explanation, error) {
		started <- struct{}{}
		<-release
		return api.Explanation{}, context.DeadlineExceeded
	}
	srv := newServer(t, b, api.Options{MaxConcurrentExplains: 1, ExplainTimeout: 300 * time.Millisecond})
	first := make(chan int, 1)
	go func() {
		code, _ := get(t, "POST", srv.URL+api.ExplainPath("infra/db-0"), "")
		first <- code
	}()
	<-started
	code, body := get(t, "POST", srv.URL+api.ExplainPath("infra/db-0"), "")
	var r struct{ ErrorType, Error string }
	if err := json.Unmarshal(body, &r); err != nil || code != 503 || r.ErrorType != "busy" || !strings.Contains(r.Error, "retry") {
		t.Errorf("second explanation: %d %s; want 503 busy, retry", code, body)
	}
	close(release)
	if code := <-first; code != 503 {
		t.Errorf("first explanation (timed out): %d, want 503", code)
	}
}

// TestExplainGateOptions: a shared gate excludes the API's own limits.
func TestExplainGateOptions(t *testing.T) {
	g, err := api.NewExplainGate(1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    api.Options
		ok   bool
	}{
		{"gate", api.Options{ExplainGate: g}, true},
		{"limits", api.Options{MaxConcurrentExplains: 3, ExplainTimeout: time.Second}, true},
		{"both", api.Options{ExplainGate: g, MaxConcurrentExplains: 3}, false},
		{"negative", api.Options{MaxConcurrentExplains: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Backend, tc.o.ListenAddress = apitest.Backend(), "127.0.0.1:0"
			if _, err := api.New(tc.o); (err == nil) != tc.ok {
				t.Errorf("New: %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestExplainGateBusyNamesWait: the busy error names the time waited,
// which the caller's deadline may cut short of the gate's timeout (it
// named the gate's 30 s after a wait of 50 ms).
func TestExplainGateBusyNamesWait(t *testing.T) {
	g, err := api.NewExplainGate(1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b := apitest.Backend()
	started, release := make(chan struct{}), make(chan struct{})
	b.Explain = func(context.Context, string) (api.Explanation, error) {
		close(started)
		<-release
		return api.Explanation{}, nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = g.Explain(context.Background(), b, "infra/db-0")
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = g.Explain(ctx, b, "infra/db-0")
	close(release)
	<-done
	if err == nil || strings.Contains(err.Error(), "1m0s") || !strings.Contains(err.Error(), "ms (") {
		t.Errorf("busy after the caller's 50 ms: %v; want the wait in ms, not the gate's 1m0s", err)
	}
}
