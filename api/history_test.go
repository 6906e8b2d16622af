package api_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/training/storesource"
)

// historyStore is a store with a schema, two entities and vectors with a
// missing value.
func historyStore(t *testing.T) (*store.Store, int64) {
	t.Helper()
	now := time.UnixMilli(10_000_000)
	st, err := store.Open(store.Options{InMemory: true, Retention: 1000 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.PutSchema([]string{"cpu", "mem"}, []string{"crashloop"}); err != nil {
		t.Fatal(err)
	}
	base := now.UnixMilli() - 100*60_000
	var vs []store.Vector
	for i := range 50 {
		mem := float64(i) / 3
		if i == 7 {
			mem = math.NaN()
		}
		vs = append(vs, store.Vector{Entity: "ns/a", T: base + int64(i)*60_000, Values: []float64{float64(i), mem}, Failure: []bool{i == 40}},
			store.Vector{Entity: "ns/b", T: base + int64(i)*60_000, Values: []float64{1e-300, -2.5}, Failure: []bool{false}})
	}
	if err := st.PutVectors(vs); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"ns/a", "ns/b"} {
		if err := st.PutEntity(e, map[string]string{"pod": e}, base); err != nil {
			t.Fatal(err)
		}
	}
	return st, base
}

// TestHistoryOverAPI: training's store source reads the same series
// through a daemon's API as from the store itself.
func TestHistoryOverAPI(t *testing.T) {
	st, base := historyStore(t)
	srv := newServer(t, &api.MemBackend{}, api.Options{History: st, Token: "t"})
	remote := api.HistoryClient{Client: &api.Client{URL: srv.URL, Token: "t"}}
	ctx := context.Background()
	load := func(r storesource.Reader) []string {
		src := &storesource.Source{Store: r, From: base - 60_000, To: base + 60*60_000, Step: 60_000}
		ss, err := src.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range ss {
			out = append(out, fmt.Sprint(s.Entity, s.Features, s.Values, s.Labels))
		}
		return out
	}
	local, over := load(st), load(boundHistory{remote})
	if len(local) != 2 || !reflect.DeepEqual(local, over) {
		t.Fatalf("over the API:\n%v\nfrom the store:\n%v", over, local)
	}
	if !strings.Contains(over[0], "NaN") {
		t.Fatalf("the missing value did not come through as missing: %v", over[0])
	}

	// A range with nothing, an unknown entity: no vectors, no error.
	n := 0
	if err := remote.Vectors(ctx, "ns/nope", 0, math.MaxInt64, func(store.Vector) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("unknown entity: %d vectors, %v", n, err)
	}
	// Without the token.
	if _, err := (api.HistoryClient{Client: &api.Client{URL: srv.URL}}).Entities(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("entities without the token: %v", err)
	}
}

// cutHistory fails its scans after the first (a page of the answer).
type cutHistory struct {
	*store.Store
	calls *int
}

func (c cutHistory) Vectors(entity string, from, to int64, fn func(store.Vector) error) error {
	*c.calls++
	if *c.calls > 1 {
		return errors.New("disk on fire")
	}
	return c.Store.Vectors(entity, from, to, fn)
}

// TestHistoryCut: a stream cut by a server-side error is an error for the
// client, not a short history; so is an error before the first vector.
func TestHistoryCut(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true, Retention: 1000 * time.Hour, Now: func() time.Time { return time.UnixMilli(1e9) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.PutSchema([]string{"cpu"}, nil); err != nil {
		t.Fatal(err)
	}
	var vs []store.Vector
	for i := range 5000 { // more than a page of the answer
		vs = append(vs, store.Vector{Entity: "e", T: 1e9 - int64(5000-i)*1000, Values: []float64{float64(i)}})
	}
	if err := st.PutVectors(vs); err != nil {
		t.Fatal(err)
	}
	calls := 0
	srv := newServer(t, &api.MemBackend{}, api.Options{History: cutHistory{st, &calls}})
	c := api.HistoryClient{Client: &api.Client{URL: srv.URL}}
	n := 0
	err = c.Vectors(context.Background(), "e", 0, math.MaxInt64, func(store.Vector) error { n++; return nil })
	if err == nil || !strings.Contains(err.Error(), "cut after 4096") {
		t.Fatalf("%d vectors, err %v; want an error naming the cut", n, err)
	}
	n = 0 // the scan fails at once: an error answer
	if err := c.Vectors(context.Background(), "e", 0, math.MaxInt64, func(store.Vector) error { n++; return nil }); err == nil || !strings.Contains(err.Error(), "disk on fire") || n != 0 {
		t.Fatalf("%d vectors, err %v; want the store's error", n, err)
	}
	// Over pages, the store gives every vector once, in order.
	c = api.HistoryClient{Client: &api.Client{URL: newServer(t, &api.MemBackend{}, api.Options{History: st}).URL}}
	var last int64
	n = 0
	if err := c.Vectors(context.Background(), "e", 0, math.MaxInt64, func(v store.Vector) error {
		if n > 0 && v.T <= last {
			t.Fatalf("vector %d at %d after %d", n, v.T, last)
		}
		last = v.T
		n++
		return nil
	}); err != nil || n != 5000 {
		t.Fatalf("%d of 5000 vectors over two pages, err %v", n, err)
	}
	// An empty store: the schema is not found.
	empty, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = empty.Close() })
	srv2 := newServer(t, &api.MemBackend{}, api.Options{History: empty})
	if _, err := (api.HistoryClient{Client: &api.Client{URL: srv2.URL}}).Schema(context.Background()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("schema of an empty store: %v, want store.ErrNotFound", err)
	}
}

// TestHistoryOverAPISchemaChange: after a schema change, the schema list
// comes through the API, so training through a daemon maps the vectors of
// older schema versions by name as it does from the store (it had only the
// current schema, and skipped all earlier history).
func TestHistoryOverAPISchemaChange(t *testing.T) {
	st, base := historyStore(t) // schema 1: cpu, mem
	if err := st.PutSchema([]string{"mem", "disk"}, []string{"crashloop", "oom"}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutVectors([]store.Vector{{Entity: "ns/a", T: base + 50*60_000, Values: []float64{7, 8}, Failure: []bool{false, true}}}); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, &api.MemBackend{}, api.Options{History: st})
	remote := api.HistoryClient{Client: &api.Client{URL: srv.URL}}
	want, err := st.Schemas()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := remote.Schemas(context.Background()); err != nil || len(got) != 2 || !reflect.DeepEqual(got, want) {
		t.Fatalf("schemas over the API: %+v, %v; want %+v", got, err, want)
	}
	load := func(r storesource.Reader) []string {
		var progress strings.Builder
		src := &storesource.Source{Store: r, From: base - 60_000, To: base + 60*60_000, Step: 60_000, Progress: &progress}
		ss, err := src.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out := []string{progress.String()}
		for _, s := range ss {
			out = append(out, fmt.Sprint(s.Entity, s.Features, s.Values, s.Labels))
		}
		return out
	}
	local, over := load(st), load(boundHistory{remote})
	if len(local) != 3 || !reflect.DeepEqual(local, over) {
		t.Fatalf("over the API:\n%v\nfrom the store:\n%v", over, local)
	}
	if !strings.Contains(over[0], "100 of 101 vectors from older schema versions") {
		t.Fatalf("progress %q: want the 100 older vectors mapped", over[0])
	}
	// An empty store: no schemas, no error.
	empty, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = empty.Close() })
	srv2 := newServer(t, &api.MemBackend{}, api.Options{History: empty})
	if got, err := (api.HistoryClient{Client: &api.Client{URL: srv2.URL}}).Schemas(context.Background()); err != nil || len(got) != 0 {
		t.Fatalf("schemas of an empty store: %v, %v", got, err)
	}
	// A daemon that does not serve the list (here: no history at all):
	// not found, which the store source takes as "current schema only".
	srv3 := newServer(t, &api.MemBackend{}, api.Options{})
	if _, err := (api.HistoryClient{Client: &api.Client{URL: srv3.URL}}).Schemas(context.Background()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("schemas from a daemon without them: %v, want store.ErrNotFound", err)
	}
}

// boundHistory reads a daemon's history as training's store source does
// (storesource.Reader and SchemaLister, without a context).
type boundHistory struct{ c api.HistoryClient }

func (b boundHistory) Schema() (store.Schema, error) { return b.c.Schema(context.Background()) }
func (b boundHistory) Schemas() ([]store.Schema, error) {
	return b.c.Schemas(context.Background())
}
func (b boundHistory) Entities() ([]store.EntityInfo, error) {
	return b.c.Entities(context.Background())
}
func (b boundHistory) Vectors(entity string, from, to int64, fn func(store.Vector) error) error {
	return b.c.Vectors(context.Background(), entity, from, to, fn)
}
