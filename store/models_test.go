package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestModelRegistry(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(1_700_000_000_000)
	s, err := Open(Options{Path: dir, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rng := rand.New(rand.NewPCG(7, 8))
	big := make([]byte, 2*modelChunk+123) // spans three chunks
	for i := range big {
		big[i] = byte(rng.IntN(256))
	}
	models := map[string][]byte{"v1": []byte("tiny model"), "v2": big, "v3": {}}
	for _, v := range []string{"v1", "v2", "v3"} {
		if err := s.PutModel(v, models[v], ModelMeta{Description: "model " + v, Metrics: map[string]float64{"auc_pr": 0.8}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutModel("v1", models["v1"], ModelMeta{}); err != nil {
		t.Fatalf("re-putting identical model: %v", err)
	}
	if err := s.PutModel("v1", []byte("other"), ModelMeta{}); !errors.Is(err, ErrExists) {
		t.Fatalf("overwriting model: %v, want ErrExists", err)
	}
	for v, want := range models {
		data, meta, err := s.Model(v)
		if err != nil || !bytes.Equal(data, want) || meta.Version != v || meta.Size != int64(len(want)) || meta.Created != 1_700_000_000_000 || meta.Metrics["auc_pr"] != 0.8 {
			t.Fatalf("Model(%s): %d bytes, %+v, %v", v, len(data), meta, err)
		}
	}
	if _, _, err := s.Model("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Model(nope): %v", err)
	}
	if _, err := s.Active(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Active before promote: %v", err)
	}
	if err := s.Rollback(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Rollback with no history: %v", err)
	}
	if err := s.Promote("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Promote(nope): %v", err)
	}

	steps := []struct {
		op      string // "promote", "rollback", "reopen"
		version string
		want    string
		wantGen uint64
		wantErr bool
	}{
		{"promote", "v1", "v1", 1, false},
		{"promote", "v2", "v2", 2, false},
		{"promote", "v2", "v2", 2, false}, // no-op
		{"promote", "v3", "v3", 3, false},
		{"reopen", "", "v3", 3, false},
		{"rollback", "", "v2", 4, false},
		{"rollback", "", "v1", 5, false},
		{"rollback", "", "v1", 5, true},
		{"promote", "v3", "v3", 6, false},
		{"reopen", "", "v3", 6, false},
	}
	for i, st := range steps {
		var err error
		switch st.op {
		case "promote":
			err = s.Promote(st.version)
		case "rollback":
			err = s.Rollback()
		case "reopen":
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = Open(Options{Path: dir})
			if err != nil {
				t.Fatal(err)
			}
		}
		if (err != nil) != st.wantErr {
			t.Fatalf("step %d %s %s: err %v, wantErr %v", i, st.op, st.version, err, st.wantErr)
		}
		v, gen := s.ActiveVersion()
		if v != st.want || gen != st.wantGen {
			t.Fatalf("step %d %s %s: ActiveVersion = %s, %d; want %s, %d", i, st.op, st.version, v, gen, st.want, st.wantGen)
		}
		meta, err := s.Active()
		if err != nil || meta.Version != st.want || !meta.Active {
			t.Fatalf("step %d: Active = %+v, %v", i, meta, err)
		}
	}
	list, err := s.ListModels()
	if err != nil || len(list) != 3 {
		t.Fatalf("ListModels = %+v, %v", list, err)
	}
	for _, m := range list {
		if m.Active != (m.Version == "v3") {
			t.Fatalf("ListModels active flags wrong: %+v", list)
		}
	}
	if err := s.DeleteModel("v3"); !errors.Is(err, ErrActive) {
		t.Fatalf("deleting the active model: %v, want ErrActive", err)
	}
	if err := s.DeleteModel("v2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Model("v2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted model: %v", err)
	}
	if n := countPrefix(t, s, namePrefix(pModelData, "v2")); n != 0 {
		t.Fatalf("%d chunks of deleted model left", n)
	}
	// History was [v1, v3]: rollback goes to v1.
	if err := s.Rollback(); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.ActiveVersion(); v != "v1" {
		t.Fatalf("after rollback: %s", v)
	}
}

// TestDeletedModelNamesNotReused: a deleted version's name is not
// registered again, with other data or the same (stored predictions name
// the version that scored them), also after a restart; "." and ".." are
// refused as versions (a URL path cannot name them).
func TestDeletedModelNamesNotReused(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Path: dir})
	for _, v := range []string{"v1", "v2"} {
		if err := s.PutModel(v, []byte("model "+v), ModelMeta{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Promote(v); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := s.PreviousVersion(); err != nil || p != "v1" {
		t.Fatalf("PreviousVersion = %q, %v; want v1", p, err)
	}
	if err := s.DeleteModel("v1"); err != nil {
		t.Fatal(err)
	}
	if p, err := s.PreviousVersion(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("PreviousVersion after deleting v1 = %q, %v; want ErrNotFound", p, err)
	}
	check := func(s *Store) {
		t.Helper()
		for _, data := range []string{"model v1", "another model"} {
			if err := s.PutModel("v1", []byte(data), ModelMeta{}); !errors.Is(err, ErrExists) {
				t.Errorf("put %q under the deleted v1: %v, want ErrExists", data, err)
			}
		}
		if _, _, err := s.Model("v1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("v1: %v, want ErrNotFound", err)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openTest(t, Options{Path: dir}))
}

// TestUnusableModelVersions: PutModel refuses versions that cannot name a
// model with ErrInvalidVersion: empty, blank (only white space: before,
// " " was registered, and the CLI could not name it), "." and ".." (a URL
// path cannot name them; before, refused without a sentinel, which the
// API answered 500), a NUL byte. Nothing is registered.
func TestUnusableModelVersions(t *testing.T) {
	s := openTestMem(t)
	for _, tc := range []struct{ version, want string }{
		{"", "empty model version"},
		{" ", "blank"},
		{"\t \n", "blank"},
		{".", "a URL path cannot name it"},
		{"..", "a URL path cannot name it"},
		{"a\x00b", "NUL byte"},
		{" v1", "white space around it"},
		{"v1\t", "white space around it"},
		{"nl\nx", "a control character"},
		{"bell\x07", "a control character"},
		{"v\xff", "not valid UTF-8"}, // it failed every /metrics scrape (omen_model_info's label)
	} {
		err := s.PutModel(tc.version, []byte("m"), ModelMeta{})
		if !errors.Is(err, ErrInvalidVersion) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("put version %q: %v, want ErrInvalidVersion saying %q", tc.version, err, tc.want)
		}
	}
	if ms, err := s.ListModels(); err != nil || len(ms) != 0 {
		t.Errorf("registered: %+v, %v; want none", ms, err)
	}
	// Names around them are fine.
	for _, v := range []string{"v 1", "...", ".v", "v1-ünïcode"} {
		if err := s.PutModel(v, []byte("m "+v), ModelMeta{}); err != nil {
			t.Errorf("put version %q: %v", v, err)
		}
	}
}

func openTestMem(t *testing.T) *Store { return openTest(t, Options{InMemory: true}) }

// TestDeletedNamesBounded: the registry keeps the newest deletedKept
// (registryDeleted; here 3) deleted names (before, the list grew with every delete, in the one
// record every registry change rewrites): an older one may be registered
// again, a newer one not.
func TestDeletedNamesBounded(t *testing.T) {
	s := openTestMem(t)
	s.deletedKept = 3
	if err := s.PutModel("active", []byte("a"), ModelMeta{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Promote("active"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		v := fmt.Sprintf("v%d", i)
		if err := s.PutModel(v, []byte(v), ModelMeta{}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteModel(v); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := s.registry(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"v2", "v3", "v4"}; !slices.Equal(reg.Deleted, want) {
		t.Errorf("deleted names %v, want %v", reg.Deleted, want)
	}
	if err := s.PutModel("v0", []byte("new v0"), ModelMeta{}); err != nil {
		t.Errorf("register v0 again, deleted before the newest 3: %v", err)
	}
	if err := s.PutModel("v2", []byte("new v2"), ModelMeta{}); !errors.Is(err, ErrExists) {
		t.Errorf("register v2 again: %v, want ErrExists", err)
	}
}
