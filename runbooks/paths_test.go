package runbooks

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/omen-sre/omen/alert"
)

// TestEveryAlertRunbookIsServed: every runbook an alert can link to (the
// built-in remediation table and the fallback used when no rule matches)
// is served.
func TestEveryAlertRunbookIsServed(t *testing.T) {
	paths := alert.Runbooks()
	if !slices.Contains(paths, "module-load-failure") {
		t.Fatalf("runbooks %v lack the fallback", paths)
	}
	h := Handler()
	for _, p := range paths {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path+p, nil))
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), "# ") {
			t.Errorf("runbook %q: %d %.60q", p, rec.Code, rec.Body.String())
		}
	}
}
