package api_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// settingsHistory is a history that says the daemon's settings.
type settingsHistory struct {
	*store.Store
	s api.HistorySettings
}

func (h settingsHistory) HistorySettings() api.HistorySettings { return h.s }

// TestHistorySettings: the schema endpoint serves the daemon's step and
// alert rule (with its critical probability) when its history says them (omen train --url trains at
// them), and a history that does not gives nil settings, no error; an
// empty store's is not found.
func TestHistorySettings(t *testing.T) {
	st, _ := historyStore(t)
	critical := 0.999
	want := api.HistorySettings{StepMs: 1000, AlertFor: 3, AlertResolveRatio: 0.7, AlertResolveFor: 2, AlertMinLeadMs: 60_000, PresenceFeatures: []string{"cpu"},
		AlertCriticalProbability: &critical}
	srv := newServer(t, &api.MemBackend{}, api.Options{History: settingsHistory{st, want}})
	c := api.HistoryClient{Client: &api.Client{URL: srv.URL}}
	if got, err := c.Settings(context.Background()); err != nil || got == nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("settings %+v, %v; want %+v", got, err, want)
	}
	// No presence feature (every vector a row) is told apart from a
	// daemon that does not say (nil: an older omen).
	for _, pf := range [][]string{{}, nil} {
		w := want
		w.PresenceFeatures = pf
		c := api.HistoryClient{Client: &api.Client{URL: newServer(t, &api.MemBackend{}, api.Options{History: settingsHistory{st, w}}).URL}}
		if got, err := c.Settings(context.Background()); err != nil || got == nil || !reflect.DeepEqual(*got, w) {
			t.Fatalf("settings %+v, %v; want %+v", got, err, w)
		}
	}
	// A daemon that does not say its critical probability (an older
	// omen) is told from one that does.
	w := want
	w.AlertCriticalProbability = nil
	if got, err := (api.HistoryClient{Client: &api.Client{URL: newServer(t, &api.MemBackend{}, api.Options{History: settingsHistory{st, w}}).URL}}).Settings(context.Background()); err != nil || got == nil || got.AlertCriticalProbability != nil {
		t.Fatalf("settings without the critical probability %+v, %v; want it nil", got, err)
	}
	if s, err := c.Schema(context.Background()); err != nil || len(s.Features) != 2 {
		t.Fatalf("schema beside the settings: %+v, %v", s, err)
	}
	c = api.HistoryClient{Client: &api.Client{URL: newServer(t, &api.MemBackend{}, api.Options{History: st}).URL}}
	if got, err := c.Settings(context.Background()); err != nil || got != nil {
		t.Fatalf("settings of a history without them: %+v, %v; want nil, nil", got, err)
	}
	empty, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = empty.Close() })
	c = api.HistoryClient{Client: &api.Client{URL: newServer(t, &api.MemBackend{}, api.Options{History: settingsHistory{empty, want}}).URL}}
	if _, err := c.Settings(context.Background()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("settings of an empty store: %v, want store.ErrNotFound", err)
	}
}
