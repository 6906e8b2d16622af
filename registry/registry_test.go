package registry

import (
	"context"
	"errors"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/training"
)

// modelFile builds and encodes a small untrained model of the given
// metadata version and seed.
func modelFile(t *testing.T, version string, seed int64) []byte {
	t.Helper()
	m, err := model.New(model.Config{Features: []string{"a", "b"}, Window: 4, Hidden: 4, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	m.SetMeta(model.Meta{Version: version})
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestOffline: without a daemon, models are registered under their
// metadata's version (m<checksum> without one, NAME-<checksum> when NAME
// is taken, exactly the version asked for), promoted, rolled back and
// deleted as the API's model endpoints do, the store's refusals answered
// as the API's errors.
func TestOffline(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	r := New(st, "test")
	fa, fb, fc, fd := modelFile(t, "v1", 1), modelFile(t, "v1", 2), modelFile(t, "", 3), modelFile(t, "v1", 4)

	add := func(file []byte, opts api.AddOptions, want string) {
		t.Helper()
		v, err := r.AddModel(ctx, file, opts)
		if err != nil || v.Version != want || v.Active != opts.Promote {
			t.Fatalf("AddModel = %+v, %v; want version %s, active %v", v, err, want, opts.Promote)
		}
	}
	add(fa, api.AddOptions{Promote: true}, "v1")
	add(fb, api.AddOptions{}, "v1-"+shortSum(fb))
	add(fc, api.AddOptions{}, "m"+shortSum(fc))
	add(fd, api.AddOptions{Promote: true, Version: "chosen"}, "chosen")
	if _, err := r.AddModel(ctx, fa, api.AddOptions{Version: "chosen"}); !errors.Is(err, api.ErrConflict) {
		t.Errorf("AddModel of other data under a taken version = %v, want ErrConflict", err)
	}
	if _, err := r.AddModel(ctx, []byte("not a model"), api.AddOptions{}); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("AddModel of no model = %v, want ErrInvalid", err)
	}

	if v, err := r.SetActive(ctx, ""); err != nil || v.Version != "v1" || !v.Active {
		t.Fatalf("rollback = %+v, %v; want v1 active", v, err)
	}
	if _, err := r.DeleteModel(ctx, "v1"); !errors.Is(err, api.ErrConflict) {
		t.Errorf("delete the active version = %v, want ErrConflict", err)
	}
	if v, err := r.DeleteModel(ctx, "chosen"); err != nil || v.Version != "chosen" || v.Active {
		t.Errorf("DeleteModel = %+v, %v", v, err)
	}
	if _, err := r.SetActive(ctx, "chosen"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("promote a deleted version = %v, want ErrNotFound", err)
	}
	ms, err := r.Models(ctx)
	if err != nil || len(ms) != 3 {
		t.Fatalf("Models = %+v, %v; want 3", ms, err)
	}
	desc := map[string]string{}
	for _, m := range ms {
		desc[m.Version] = m.Description
	}
	if desc["v1"] != "from test" {
		t.Errorf("description %q, want %q", desc["v1"], "from test")
	}
}

// TestRegisterShowsThresholdWarning: a model whose metadata records
// Train's warning that its failure threshold is uncertain is registered
// with the warning in its description, which omen model list shows.
// Before, nothing listed said so (reviewer's finding: thresholds chosen
// from one validation onset).
func TestRegisterShowsThresholdWarning(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	const warning = "failure threshold uncertain: chosen from 1 validation failure onset, fewer than 10"
	m, err := model.New(model.Config{Features: []string{"a", "b"}, Window: 4, Hidden: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m.SetMeta(model.Meta{Version: "v1", TrainedOn: "store", Extra: map[string]string{training.ThresholdWarningKey: warning}})
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(st, "test").AddModel(context.Background(), data, api.AddOptions{}); err != nil {
		t.Fatal(err)
	}
	ms, err := New(st, "test").Models(context.Background())
	if err != nil || len(ms) != 1 {
		t.Fatalf("Models = %+v, %v", ms, err)
	}
	if want := "from test (trained on store); " + warning; ms[0].Description != want {
		t.Errorf("description %q, want %q", ms[0].Description, want)
	}
}
