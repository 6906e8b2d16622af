package app

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestReadyRetryAfter: /-/ready's 503 says Retry-After: 1 when omen is
// not ready yet (a request racing Start, which sets ready as the server
// begins to serve), and none once Stop was called (this process will not
// be ready again); 200 when ready.
func TestReadyRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name            string
		ready, stopping bool
		code            int
		retry           []string
	}{
		{"ready", true, false, http.StatusOK, nil},
		{"starting", false, false, http.StatusServiceUnavailable, []string{"1"}},
		{"stopping", false, true, http.StatusServiceUnavailable, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			readyHandler(func() bool { return tc.ready }, func() bool { return tc.stopping }).
				ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/-/ready", nil))
			got := rec.Result().Header.Values("Retry-After")
			if rec.Code != tc.code || len(got) != len(tc.retry) || len(got) > 0 && got[0] != tc.retry[0] {
				t.Errorf("%d, Retry-After %q; want %d, %q", rec.Code, got, tc.code, tc.retry)
			}
		})
	}
}
