package app

import (
	"slices"
	"testing"

	"github.com/omen-sre/omen/config"
)

// TestPollerName: a prometheus entry's name reaches its poller, whose
// source is then prometheus/<name>: pollers of URLs differing only in a
// query value (hidden) get distinct sources.
func TestPollerName(t *testing.T) {
	cfg := testConfig(t)
	cfg.Prometheus = []config.PollerConfig{
		{URL: "http://127.0.0.1:1/?namespace=team-a", Name: "team-a"},
		{URL: "http://127.0.0.1:1/?namespace=team-b", Name: "team-b"},
		{URL: "http://127.0.0.1:1/?namespace=team-c"},
	}
	src := newEmbeddedSources(t, cfg, nil)
	var got []string
	for _, p := range src.pollers {
		got = append(got, p.Source())
	}
	want := []string{"prometheus/team-a", "prometheus/team-b", "prometheus/http://127.0.0.1:1/?namespace=xxxxx"}
	if !slices.Equal(got, want) {
		t.Errorf("sources %q, want %q", got, want)
	}
}
