package ui_test

import (
	"net/http"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// TestEscalatedAtShown: where a page shows when an alert started, it
// shows when a firing alert escalated from warning to critical (the API's
// escalated_at; the fixture's firing alert escalated at T0 − Step), and
// says nothing of it for an alert that did not escalate.
func TestEscalatedAtShown(t *testing.T) {
	srv := newServer(t, apitest.Backend())
	const at = "2025-11-24 15:59:45Z" // T0 − Step
	for _, tc := range []struct {
		path      string
		want, not []string
	}{
		{api.AlertUIPath(apitest.FiringFingerprint),
			[]string{`<span id="escalated-at" data-escalated-at="1763999985000">escalated to critical at ` + at}, nil},
		{"/ui/", []string{`<span class="escalated-at muted" data-escalated-at="1763999985000">escalated to critical at ` + at + `</span>`}, nil},
		{api.EntityUIPath(apitest.CartEntity), []string{`data-escalated-at="1763999985000">escalated to critical at ` + at}, nil},
		{api.AlertUIPath(apitest.ResolvedFingerprint), nil, []string{`escalated`}},
		{api.EntityUIPath("shop/checkout-5c6d7e8f9-q8w7e"), nil, []string{`escalated`}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			pageHas(t, srv.URL, tc.path, http.StatusOK, tc.want, tc.not)
		})
	}
}

// TestEscalatedNote: the alert page's note on an escalation says that
// Alertmanager's critical alert starts at the escalation's data time or,
// when that ran ahead of the wall clock, when omen sent it (alert.notify
// sends times ahead of the wall clock as now); it said "then" alone.
func TestEscalatedNote(t *testing.T) {
	srv := newServer(t, apitest.Backend())
	pageHas(t, srv.URL, api.AlertUIPath(apitest.FiringFingerprint), http.StatusOK,
		[]string{`its probability reached the critical probability then, in data time. Alertmanager&#39;s critical alert starts then too, unless that time was ahead of the wall clock when omen sent it, as when the data run faster than real time (omen demo): it then starts when sent)`},
		[]string{`and Alertmanager has the critical alert start then)`})
}
