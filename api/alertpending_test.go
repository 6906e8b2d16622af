package api_test

import (
	"encoding/json"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// TestAlertsStatePending: /api/v1/alerts?state=pending lists the pending
// alerts of the alert pipeline, with active_at the step they started
// pending at (it answered [] while omen_alerts{state="pending"} was 1).
func TestAlertsStatePending(t *testing.T) {
	b, _ := apitest.PendingBackend(t, 2)
	t0 := apitest.PendingStart
	srv := newServer(t, b, api.Options{})
	for _, q := range []string{"", "?state=pending"} {
		code, body := get(t, "GET", srv.URL+"/api/v1/alerts"+q, "")
		var resp struct {
			Data []api.Alert `json:"data"`
		}
		if code != 200 || json.Unmarshal(body, &resp) != nil {
			t.Fatalf("alerts%s: %d %s", q, code, body)
		}
		if len(resp.Data) != 1 || resp.Data[0].State != api.AlertPending || resp.Data[0].ActiveAt != t0.UnixMilli() ||
			resp.Data[0].Entity != "shop/cart-0" {
			t.Errorf("alerts%s: %s; want one pending alert of shop/cart-0 active at %d", q, body, t0.UnixMilli())
		}
	}
	code, body := get(t, "GET", srv.URL+"/api/v1/alerts?state=firing", "")
	if code != 200 || string(body) != `{"status":"success","data":[]}`+"\n" && string(body) != `{"status":"success","data":[]}` {
		t.Errorf("alerts?state=firing: %d %s, want none", code, body)
	}
}
