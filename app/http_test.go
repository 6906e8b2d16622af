package app

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/omen-sre/omen/store"
)

// TestReloadStatus: /-/reload answers 507 when the store refused the new
// schema for lack of disk space (before, every failure answered 500), 500
// for other failures, 200 when applied.
func TestReloadStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"applied", nil, http.StatusOK},
		{"disk full", fmt.Errorf("record feature schema: write schema: %w: 1 byte free", store.ErrDiskFull), http.StatusInsufficientStorage},
		{"invalid file", errors.New("config: line 3: unknown key"), http.StatusInternalServerError},
		// Applied, then an added Alertmanager's outbox write refused: the
		// configuration is in force, so not 507 ("changed nothing").
		{"applied with errors", &AppliedError{Err: fmt.Errorf("alerting: enqueue 1 alerts: %w", store.ErrDiskFull)}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			reloadHandler(func() error { return tc.err }).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
			if rec.Code != tc.want {
				t.Errorf("status %d (%s), want %d", rec.Code, rec.Body, tc.want)
			}
		})
	}
}
