package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// recordingModels is a ModelAdmin that records the versions it is asked
// for and answers err.
type recordingModels struct {
	api.MemModels
	err error

	mu       sync.Mutex
	versions []string
}

func (m *recordingModels) record(v string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.versions = append(m.versions, v)
}

func (m *recordingModels) SetActive(_ context.Context, version string) (api.ModelVersion, error) {
	m.record(version)
	return api.ModelVersion{Version: version}, m.err
}

func (m *recordingModels) DeleteModel(_ context.Context, version string) (api.ModelVersion, error) {
	m.record(version)
	return api.ModelVersion{Version: version}, m.err
}

func (m *recordingModels) AddModel(context.Context, []byte, api.AddOptions) (api.ModelVersion, error) {
	return api.ModelVersion{}, m.err
}

// TestModelRoutesEmptyVersion: the model routes answer an empty version
// with omen's 400 (they answered the mux's plain-text 404, which the
// client reported as "not an omen API response"); the client refuses an
// empty version to delete without a request.
func TestModelRoutesEmptyVersion(t *testing.T) {
	mm := &recordingModels{}
	srv := newServer(t, &api.MemBackend{}, api.Options{Models: mm})
	for _, tc := range []struct{ method, path string }{
		{"DELETE", "/api/v1/models/"},
		{"POST", "/api/v1/models//promote"}, // the mux redirects it to /api/v1/models/promote
	} {
		code, body := get(t, tc.method, srv.URL+tc.path, "")
		var r struct{ Status, ErrorType, Error string }
		if err := json.Unmarshal(body, &r); err != nil || code != http.StatusBadRequest || r.ErrorType != "bad_data" || !strings.Contains(r.Error, "no model version") {
			t.Errorf("%s %s: %d %s, want 400 bad_data", tc.method, tc.path, code, body)
		}
	}
	c := &api.Client{URL: srv.URL}
	if _, err := c.DeleteModel(context.Background(), ""); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("client delete of an empty version: %v, want ErrInvalid", err)
	}
	if len(mm.versions) != 0 {
		t.Errorf("the registry was asked for %q", mm.versions)
	}
}

// TestModelVersionDots: the client escapes the versions "." and ".." (an
// older store may hold them), which reach the registry as such instead of
// a cleaned path to another route.
func TestModelVersionDots(t *testing.T) {
	mm := &recordingModels{}
	srv := newServer(t, &api.MemBackend{}, api.Options{Models: mm})
	c := &api.Client{URL: srv.URL}
	ctx := context.Background()
	for _, v := range []string{".", "..", "a/b", "rollback"} {
		if _, err := c.DeleteModel(ctx, v); err != nil {
			t.Errorf("delete %q: %v", v, err)
		}
		if _, err := c.SetActive(ctx, v); err != nil {
			t.Errorf("promote %q: %v", v, err)
		}
	}
	want := []string{".", ".", "..", "..", "a/b", "a/b", "rollback", "rollback"}
	if fmt.Sprint(mm.versions) != fmt.Sprint(want) {
		t.Errorf("registry asked for %q, want %q", mm.versions, want)
	}
}

// TestDiskFullAnswer: a write refused because the store's disk is below
// its reserve answers 507 disk_full (it answered 500), which the client
// maps back to store.ErrDiskFull.
func TestDiskFullAnswer(t *testing.T) {
	mm := &recordingModels{err: fmt.Errorf("write model delete: %w: 1 byte free", store.ErrDiskFull)}
	srv := newServer(t, &api.MemBackend{}, api.Options{Models: mm})
	c := &api.Client{URL: srv.URL}
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"delete":   func() error { _, err := c.DeleteModel(ctx, "v1"); return err },
		"promote":  func() error { _, err := c.SetActive(ctx, "v1"); return err },
		"rollback": func() error { _, err := c.SetActive(ctx, ""); return err },
		"add":      func() error { _, err := c.AddModel(ctx, []byte("m"), api.AddOptions{Promote: true}); return err },
	} {
		err := call()
		var apiErr *api.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusInsufficientStorage || apiErr.Type != "disk_full" ||
			!errors.Is(err, store.ErrDiskFull) || !strings.Contains(err.Error(), "store disk full") {
			t.Errorf("%s: %v, want 507 disk_full (store.ErrDiskFull)", name, err)
		}
	}
}
