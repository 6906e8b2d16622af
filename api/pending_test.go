package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// TestPendingFingerprintNotFound: the fingerprint of a pending alert
// (listed by /api/v1/alerts?state=pending) has no explanation, and the 404
// said only "not found". It says now that the alert is pending, is
// explained when it fires (under another fingerprint), and where its
// entity's predictions are; another unknown id answers as before.
func TestPendingFingerprintNotFound(t *testing.T) {
	b, _ := apitest.PendingBackend(t, 1)
	srv := newServer(t, b, api.Options{})
	code, body := get(t, "GET", srv.URL+"/api/v1/alerts?state=pending", "")
	var alerts struct {
		Data []api.Alert `json:"data"`
	}
	if code != 200 || json.Unmarshal(body, &alerts) != nil || len(alerts.Data) != 1 {
		t.Fatalf("pending alerts: %d %s", code, body)
	}
	fp := alerts.Data[0].Fingerprint

	var resp struct {
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}
	code, body = get(t, "GET", srv.URL+api.ExplanationPath(fp), "")
	if code != 404 || json.Unmarshal(body, &resp) != nil || resp.ErrorType != "not_found" {
		t.Fatalf("explanation of the pending alert: %d %s, want 404 not_found", code, body)
	}
	for _, want := range []string{"pending alert", "explained when it fires", "/api/v1/predictions?entity=" + url.QueryEscape("shop/cart-0")} {
		if !strings.Contains(resp.Error, want) {
			t.Errorf("explanation of the pending alert: %q, want it to say %q", resp.Error, want)
		}
	}

	// omen explain FP (Client.Explain) says so too: it tried the id as an
	// entity next and said "is no alert, prediction or entity omen knows".
	if _, _, err := (&api.Client{URL: srv.URL}).Explain(context.Background(), fp); err == nil || !strings.Contains(err.Error(), "pending alert") {
		t.Errorf("Client.Explain of the pending alert: %v, want it to say it is pending", err)
	}
	code, body = get(t, "GET", srv.URL+api.ExplanationPath("0123456789abcdef"), "")
	if code != 404 || json.Unmarshal(body, &resp) != nil || strings.Contains(resp.Error, "pending") {
		t.Errorf("explanation of an unknown id: %d %s, want 404 without the pending note", code, body)
	}
}
