package runbooks

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/omen-sre/omen/alert"
)

// TestDefaultRemediationsHaveRunbooks: every runbook the default
// remediation table links to is served.
func TestDefaultRemediationsHaveRunbooks(t *testing.T) {
	h := Handler()
	for _, r := range alert.DefaultRemediations() {
		if r.RunbookURL == "" || strings.Contains(r.RunbookURL, "://") {
			continue
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path+r.RunbookURL, nil))
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), "# ") {
			t.Errorf("runbook %q for cause %q: %d %q", r.RunbookURL, r.Cause, rec.Code, rec.Body.String())
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path+"../etc/passwd", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("path traversal: %d", rec.Code)
	}
}
