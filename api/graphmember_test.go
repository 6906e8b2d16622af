package api_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/omen-sre/omen/api"
)

// memberBackend is a MemBackend that says which names its graph holds
// (api.GraphMember) and counts the calls of Dependencies.
type memberBackend struct {
	*api.MemBackend
	nodes map[string]bool
	deps  *atomic.Int64
}

func (b memberBackend) InGraph(_ context.Context, name string) bool { return b.nodes[name] }

func (b memberBackend) Dependencies(ctx context.Context, entity string) (api.Neighbourhood, error) {
	b.deps.Add(1)
	return b.MemBackend.Dependencies(ctx, entity)
}

// An explanation's dependencies links come from the backend's InGraph
// when it has one: the daemon's Dependencies gathers every entity's
// evidence, which the links were asked for once a name (up to eight an
// explanation: 6.9 ms each at 10,000 entities; reviewer's finding).
func TestExplanationLinksAskGraphMember(t *testing.T) {
	x := api.Explanation{PredictionID: "shop/x@1000", Entity: "shop/x", T: 1000,
		Causes: api.Causes{Entities: []api.EntityCause{{Entity: "db"}, {Entity: "cache"}}}}
	b := memberBackend{
		MemBackend: &api.MemBackend{Explanations: map[string]api.Explanation{x.PredictionID: x}},
		nodes:      map[string]bool{"db": true},
		deps:       new(atomic.Int64),
	}
	srv := newServer(t, b, api.Options{})
	code, body := get(t, "GET", srv.URL+api.ExplanationPath(x.PredictionID), "")
	if code != 200 {
		t.Fatalf("GET: %d %s", code, body)
	}
	var resp struct{ Data api.Explanation }
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range resp.Data.Causes.Entities {
		l := ""
		if c.Links != nil {
			l = c.Links.Dependencies
		}
		got = append(got, l)
	}
	if len(got) != 2 || got[0] != "/api/v1/entities/db/dependencies" || got[1] != "" {
		t.Errorf("cause links %q, want db's only", got)
	}
	if resp.Data.Links != nil && resp.Data.Links.Dependencies != "" {
		t.Errorf("entity link %q, want none (not in the graph)", resp.Data.Links.Dependencies)
	}
	if n := b.deps.Load(); n != 0 {
		t.Errorf("Dependencies called %d times for the links, want 0 (InGraph answers)", n)
	}
}
