package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// TestClientNoRoute: omen's 404 for a path no route takes (a base URL
// ending in /api/v1 doubles it: /api/v1/api/v1/history/schema) is a wrong
// URL, ErrNoRoute, never ErrNotFound nor store.ErrNotFound, which the
// history client's callers read as "nothing stored yet" (omen train --url
// said "no feature data … has omen run ingested anything?"); a resource's
// 404 stays ErrNotFound.
func TestClientNoRoute(t *testing.T) {
	empty, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = empty.Close() })
	srv := newServer(t, &api.MemBackend{}, api.Options{History: empty, Models: &api.MemModels{}})
	ctx := context.Background()
	wrong := api.HistoryClient{Client: &api.Client{URL: srv.URL + "/api/v1"}}
	right := api.HistoryClient{Client: &api.Client{URL: srv.URL}}

	for _, tc := range []struct {
		name string
		call func(api.HistoryClient) error
	}{
		{"schema", func(h api.HistoryClient) error { _, err := h.Schema(ctx); return err }},
		{"settings", func(h api.HistoryClient) error { _, err := h.Settings(ctx); return err }},
		{"entities", func(h api.HistoryClient) error { _, err := h.Entities(ctx); return err }},
		{"explanation", func(h api.HistoryClient) error {
			_, err := h.Client.Do(ctx, http.MethodGet, api.ExplanationPath("nope"), nil)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(wrong)
			var ae *api.Error
			if !errors.Is(err, api.ErrNoRoute) || errors.Is(err, api.ErrNotFound) || errors.Is(err, store.ErrNotFound) ||
				!errors.As(err, &ae) || !ae.NoRoute() || !strings.Contains(err.Error(), "without /api/v1") {
				t.Errorf("base URL .../api/v1: %v; want ErrNoRoute, not a not-found, naming the base URL's form", err)
			}
		})
	}
	// The same daemon at the right URL: the empty store's schema and an
	// unknown explanation are resources not found.
	if _, err := right.Schema(ctx); !errors.Is(err, store.ErrNotFound) || errors.Is(err, api.ErrNoRoute) {
		t.Errorf("schema of an empty store: %v; want store.ErrNotFound", err)
	}
	_, err = right.Client.Do(ctx, http.MethodGet, api.ExplanationPath("nope"), nil)
	if ae := (*api.Error)(nil); !errors.Is(err, api.ErrNotFound) || errors.Is(err, api.ErrNoRoute) || !errors.As(err, &ae) || ae.NoRoute() ||
		strings.Contains(err.Error(), "without /api/v1") {
		t.Errorf("unknown explanation: %v; want ErrNotFound without the URL hint", err)
	}
}
