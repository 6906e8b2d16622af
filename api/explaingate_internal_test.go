package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestExplainGateRetryAfter: the Retry-After of a busy or timed-out
// explanation is the gate's timeout in whole seconds, rounded up, at
// least 1.
func TestExplainGateRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		timeout time.Duration
		want    string
	}{
		{0, "30"}, // DefaultExplainTimeout
		{time.Minute, "60"},
		{1500 * time.Millisecond, "2"},
		{2 * time.Second, "2"},
		{time.Millisecond, "1"},
	} {
		g, err := NewExplainGate(1, tc.timeout)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.RetryAfter(); got != tc.want {
			t.Errorf("timeout %v: Retry-After %q, want %q", tc.timeout, got, tc.want)
		}
	}
}

// TestOpenAPIRetryAfter: openapi.json documents the Retry-After of the
// explain route's 503 (busy and timeout carry it).
func TestOpenAPIRetryAfter(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Ref string `json:"$ref"`
			} `json:"responses"`
		} `json:"paths"`
		Components struct {
			Responses map[string]struct {
				Headers map[string]json.RawMessage `json:"headers"`
			} `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	ref := doc.Paths["/api/v1/entities/{entity}/explain"]["post"].Responses["503"].Ref
	r, ok := doc.Components.Responses[strings.TrimPrefix(ref, "#/components/responses/")]
	if !ok || r.Headers["Retry-After"] == nil {
		t.Errorf("explain's 503 (%q) documents no Retry-After header", ref)
	}
}
