package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// TestRetryAfter: the API's transient 503s, busy (no explanation slot came
// free within the gate's timeout) and timeout (the explanation ran out of
// it), carry Retry-After: the gate's timeout in whole seconds, rounded up,
// by when every explanation running or waiting has ended. 503 unavailable
// (no model loaded) lasts until an operator acts and carries none, unless
// the backend says when to retry (*api.RetryAfterError).
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		explain func(hold <-chan struct{}) func(context.Context, string) (api.Explanation, error)
		// busy: a first request holds the only slot meanwhile.
		busy       bool
		typ, retry string
	}{
		{"busy", 300 * time.Millisecond, func(hold <-chan struct{}) func(context.Context, string) (api.Explanation, error) {
			return func(context.Context, string) (api.Explanation, error) {
				<-hold
				return api.Explanation{}, errors.New("released")
			}
		}, true, "busy", "1"},
		{"timeout", 1500 * time.Millisecond, func(<-chan struct{}) func(context.Context, string) (api.Explanation, error) {
			return func(ctx context.Context, _ string) (api.Explanation, error) {
				<-ctx.Done()
				return api.Explanation{}, fmt.Errorf("explain: %w", ctx.Err())
			}
		}, false, "timeout", "2"},
		{"unavailable", time.Second, func(<-chan struct{}) func(context.Context, string) (api.Explanation, error) {
			return func(context.Context, string) (api.Explanation, error) {
				return api.Explanation{}, fmt.Errorf("no model loaded: %w", api.ErrUnavailable)
			}
		}, false, "unavailable", ""},
		// A wait the backend can estimate (an entity's window filling):
		// its own Retry-After, rounded up.
		{"unavailable with a wait", time.Second, func(<-chan struct{}) func(context.Context, string) (api.Explanation, error) {
			return func(context.Context, string) (api.Explanation, error) {
				return api.Explanation{}, &api.RetryAfterError{After: 2*time.Minute + 500*time.Millisecond,
					Err: fmt.Errorf("window filling: %w", api.ErrUnavailable)}
			}
		}, false, "unavailable", "121"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := apitest.Backend()
			hold, started := make(chan struct{}), make(chan struct{}, 1)
			explain := tc.explain(hold)
			b.Explain = func(ctx context.Context, e string) (api.Explanation, error) {
				select {
				case started <- struct{}{}:
				default:
				}
				return explain(ctx, e)
			}
			srv := newServer(t, b, api.Options{MaxConcurrentExplains: 1, ExplainTimeout: tc.timeout})
			url := srv.URL + api.ExplainPath("infra/db-0")
			first := make(chan struct{})
			if tc.busy {
				go func() {
					defer close(first)
					_, _ = post(t, url)
				}()
				<-started // the first request holds the slot
			} else {
				close(first)
			}
			resp, body := post(t, url)
			close(hold)
			<-first
			var r struct{ ErrorType string }
			if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != http.StatusServiceUnavailable || r.ErrorType != tc.typ {
				t.Fatalf("%d %s; want 503 %s", resp.StatusCode, body, tc.typ)
			}
			if got, ok := resp.Header["Retry-After"]; tc.retry == "" && ok || tc.retry != "" && resp.Header.Get("Retry-After") != tc.retry {
				t.Errorf("Retry-After %q, want %q", got, tc.retry)
			}
		})
	}
}

// post sends an empty POST and returns the response (body read and
// closed) and its body.
func post(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Error(err)
		return &http.Response{}, nil
	}
	defer resp.Body.Close()
	var body json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Errorf("decode: %v", err)
	}
	return resp, body
}
