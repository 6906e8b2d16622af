package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// during runs fn in a goroutine when the registry change in progress
// reaches step (the scorer's test hook), and lets the change go on once fn
// has returned or is waiting for the registry lock; the returned wait
// waits for fn.
func during(r registryAdmin, step string, fn func()) (wait func()) {
	done := make(chan struct{})
	contended := make(chan struct{}, 1)
	var started atomic.Bool
	r.s.testHook = func(s string) {
		switch {
		case s == "contended":
			select {
			case contended <- struct{}{}:
			default:
			}
		case s == step && started.CompareAndSwap(false, true):
			go func() { defer close(done); fn() }()
			select {
			case <-done:
			case <-contended:
			}
		}
	}
	return func() {
		if started.Load() {
			<-done
		}
	}
}

// TestDeleteDuringRollback: a delete of the rollback target that arrives
// while the rollback is in progress (its target checked, the store not
// yet changed) waits for it, and is then refused as the active version;
// the rollback completes. Without the registry lock the delete went
// through in between and the rollback failed, or (reviewer's stress test,
// TestDeleteRacesRollbackStress) left the scorer on a deleted model.
func TestDeleteDuringRollback(t *testing.T) {
	ctx := context.Background()
	r, files := daemonRegistry(t, e2eShapedFeatures())
	addModels(t, r, true, files[:]...) // vA, then vB promoted: the rollback goes to vA
	var derr error
	wait := during(r, "rollback checked", func() { _, derr = r.DeleteModel(ctx, "vA") })
	v, err := r.SetActive(ctx, "")
	wait()
	if err != nil || v.Version != "vA" || !v.Active {
		t.Fatalf("rollback: %+v, %v; want vA active", v, err)
	}
	if !errors.Is(derr, api.ErrConflict) {
		t.Errorf("delete vA during the rollback to it: %v, want ErrConflict (it is active once the rollback is done)", derr)
	}
	if _, inUse := r.s.Model(); inUse != "vA" {
		t.Errorf("scorer uses %q, want vA", inUse)
	}
	if _, _, err := r.st.Model("vA"); err != nil {
		t.Errorf("vA after the refused delete: %v", err)
	}
}

// TestDeleteDuringPromotion: a delete of the previously active version
// that arrives while a promotion is in progress (the store changed, the
// model not yet in use) waits for it and then deletes the version. Without
// the registry lock it was refused with a misleading 409 ("the daemon
// still scores with it").
func TestDeleteDuringPromotion(t *testing.T) {
	ctx := context.Background()
	r, files := daemonRegistry(t, e2eShapedFeatures())
	addModels(t, r, true, files[0])
	addModels(t, r, false, files[1])
	var derr error
	wait := during(r, "promoted", func() { _, derr = r.DeleteModel(ctx, "vA") })
	v, err := r.SetActive(ctx, "vB")
	wait()
	if err != nil || v.Version != "vB" {
		t.Fatalf("promote vB: %+v, %v", v, err)
	}
	if derr != nil {
		t.Errorf("delete vA during the promotion of vB: %v, want it deleted", derr)
	}
	if _, inUse := r.s.Model(); inUse != "vB" {
		t.Errorf("scorer uses %q, want vB", inUse)
	}
}

// TestDeleteRacesRollbackStress is the reviewer's stress test: the active
// vA deleted while a rollback to vBad (which does not fit the features)
// runs. Before the registry lock (and the rollback checking its target
// before changing the store), 66 of 400 rounds left the scorer on the
// deleted vA and vBad active.
func TestDeleteRacesRollbackStress(t *testing.T) {
	ctx := context.Background()
	names := []string{"a", "b"}
	fA := modelFileOf(t, model.Config{Features: names, Window: 4, Hidden: 4, Seed: 1}, "vA")
	fBad := modelFileOf(t, model.Config{Features: []string{"x", "y"}, Window: 4, Hidden: 4, Seed: 2}, "vBad")
	bad := 0
	const rounds = 200
	for range rounds {
		r, _ := daemonRegistry(t, names)
		addModels(t, NewRegistry(r.st, "t"), false, fBad)
		if err := r.st.Promote("vBad"); err != nil {
			t.Fatal(err)
		}
		addModels(t, r, true, fA)
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; _, _ = r.DeleteModel(ctx, "vA") })
		wg.Go(func() { <-start; _, _ = r.SetActive(ctx, "") })
		close(start)
		wg.Wait()
		_, inUse := r.s.Model()
		active, _ := r.st.ActiveVersion()
		if _, _, err := r.st.Model(inUse); err != nil || active != inUse {
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d rounds left the scorer on a deleted model or off the active one", bad, rounds)
	}
}

// reloadableRegistry is daemonRegistry whose features a test changes as
// a configuration reload does (reload: take the registry lock, set them,
// then featuresChanged).
func reloadableRegistry(t *testing.T, names []string) (r registryAdmin, reload func(names []string)) {
	t.Helper()
	var feats atomic.Value
	feats.Store(names)
	r, _ = daemonRegistry(t, names)
	r.s.opts.Features = func() []string { return feats.Load().([]string) }
	return r, func(names []string) {
		defer r.s.lockRegistry()()
		r.s.featuresChanged(func() { feats.Store(names) })
	}
}

// checkScorer fails unless the scorer scores with nothing or with the
// registry's active version, fitting the features in use.
func checkScorer(t *testing.T, r registryAdmin) {
	t.Helper()
	m, inUse := r.s.Model()
	if m == nil {
		return
	}
	if a, _ := r.st.ActiveVersion(); inUse != a {
		t.Errorf("the scorer uses %q, the registry's active version is %q", inUse, a)
	}
	if err := m.CheckFeatures(r.s.currentFeatures()); err != nil {
		t.Errorf("the scorer uses %q, which does not fit the features in use: %v", inUse, err)
	}
}

// TestReloadDuringPromotion: a configuration reload that changes the
// features while a promotion is in progress (the store changed, the model
// not yet in use) waits for it: the promotion succeeds (its model was
// checked against the features in use until it returned) and the reload
// then unloads the model. Before, the reload went in between and the
// promotion answered 422 having made v1 active (reviewer's interleaving:
// a 422 that changed the registry).
func TestReloadDuringPromotion(t *testing.T) {
	ctx := context.Background()
	ab, cd := []string{"a", "b"}, []string{"c", "d"}
	r, reload := reloadableRegistry(t, ab)
	addModels(t, r, false, modelFileOf(t, model.Config{Features: ab, Window: 4, Hidden: 4, Seed: 1}, "v1"))
	wait := during(r, "promoted", func() { reload(cd) })
	v, err := r.SetActive(ctx, "v1")
	wait()
	if err != nil || v.Version != "v1" || !v.Active {
		t.Fatalf("promote v1 with a reload in between: %+v, %v; want v1 active (the reload waits)", v, err)
	}
	if a, _ := r.st.ActiveVersion(); a != "v1" {
		t.Errorf("active version %q, want v1", a)
	}
	if m, inUse := r.s.Model(); m != nil {
		t.Errorf("scorer uses %q after the reload, which it does not fit", inUse)
	}
	checkScorer(t, r)
	// A fitting model is loaded when promoted.
	f2 := modelFileOf(t, model.Config{Features: cd, Window: 4, Hidden: 4, Seed: 2}, "v2")
	if v, err := r.AddModel(ctx, f2, api.AddOptions{Promote: true}); err != nil || !v.Active {
		t.Fatalf("add and promote v2: %+v, %v", v, err)
	}
	if _, v := r.s.Model(); v != "v2" {
		t.Fatalf("scorer uses %q, want v2", v)
	}
}

// TestReloadSwitchesAfterRegistryChange: a reload that arrives while a
// registry change is in progress switches what is extracted only once it
// holds the registry lock: until then the old model keeps scoring the old
// features, never the new ones. (Before, the extractor switched first and
// the reload then waited for the lock, for as long as a model upload's
// write, with the old model scoring vectors of the new features.)
func TestReloadSwitchesAfterRegistryChange(t *testing.T) {
	ctx := context.Background()
	ab, cd := []string{"a", "b"}, []string{"c", "d"}
	r, reload := reloadableRegistry(t, ab)
	addModels(t, r, false, modelFileOf(t, model.Config{Features: ab, Window: 4, Hidden: 4, Seed: 1}, "v1"))
	var during []string
	wait := func() {}
	contended := make(chan struct{}, 1)
	r.s.testHook = func(step string) {
		switch step {
		case "contended":
			select {
			case contended <- struct{}{}:
			default:
			}
		case "promoted":
			done := make(chan struct{})
			go func() { defer close(done); reload(cd) }()
			wait = func() { <-done }
			<-contended // the reload waits for the registry lock
			during = r.s.opts.Features()
		}
	}
	if _, err := r.SetActive(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	wait()
	if !slices.Equal(during, ab) {
		t.Errorf("features extracted while the promotion held the registry: %q, want the old %q", during, ab)
	}
	if got := r.s.opts.Features(); !slices.Equal(got, cd) {
		t.Errorf("features after the reload: %q, want %q", got, cd)
	}
}

// TestReloadDuringRollback: history [vx, vy], features X (vx fits, the
// active vy does not); a reload to vy's features Y arrives once the
// rollback has checked vx. It waits for the rollback, which succeeds (vx
// active and in use), then unloads vx. Before, the reload went in between
// and loaded vy, and the rollback answered 422 having made vx active:
// the daemon scored with vy, which was not the active version.
func TestReloadDuringRollback(t *testing.T) {
	ctx := context.Background()
	x, y := []string{"a", "b"}, []string{"c", "d"}
	r, reload := reloadableRegistry(t, x)
	addModels(t, r, true, modelFileOf(t, model.Config{Features: x, Window: 4, Hidden: 4, Seed: 1}, "vx"))
	reload(y)
	addModels(t, r, true, modelFileOf(t, model.Config{Features: y, Window: 4, Hidden: 4, Seed: 2}, "vy"))
	reload(x)
	wait := during(r, "rollback checked", func() { reload(y) })
	v, err := r.SetActive(ctx, "")
	wait()
	if err != nil || v.Version != "vx" {
		t.Fatalf("roll back with a reload in between: %+v, %v; want vx active (the reload waits)", v, err)
	}
	if a, _ := r.st.ActiveVersion(); a != "vx" {
		t.Errorf("active version %q, want vx", a)
	}
	checkScorer(t, r)
	if m, inUse := r.s.Model(); m != nil {
		t.Errorf("scorer uses %q after the reload to vy's features, want nothing (vx does not fit them)", inUse)
	}
}

// TestReuploadDeletedVersion: a model whose metadata names a deleted
// version is registered under another version (the store keeps deleted
// names: predictions name the version that scored them) and, promoted,
// is the model in use. Before, it was registered under the deleted name
// and the scorer, which compared names only, kept the deleted model.
func TestReuploadDeletedVersion(t *testing.T) {
	ctx := context.Background()
	names := e2eShapedFeatures()
	r, files := daemonRegistry(t, names)
	addModels(t, r, true, files[:]...)
	if _, err := r.SetActive(ctx, "vA"); err != nil {
		t.Fatal(err)
	}
	old, _ := r.s.Model()
	if _, err := r.SetActive(ctx, "vB"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.DeleteModel(ctx, "vA"); err != nil {
		t.Fatal(err)
	}
	again := modelFileOf(t, model.Config{Features: names, Window: 4, Hidden: 4, Seed: 9}, "vA")
	v, err := r.AddModel(ctx, again, api.AddOptions{Promote: true})
	if err != nil {
		t.Fatal(err)
	}
	if v.Version == "vA" || !strings.HasPrefix(v.Version, "vA-") || !v.Active {
		t.Errorf("re-uploaded vA registered as %+v, want a new vA-... version, active", v)
	}
	m, inUse := r.s.Model()
	if inUse != v.Version || m == old || m.Config().Window != 4 {
		t.Errorf("scorer uses %q (the deleted model object: %v), want the re-uploaded %s", inUse, m == old, v.Version)
	}
	if _, _, err := r.st.Model("vA"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("vA after the re-upload: %v, want not found", err)
	}
}

// TestRegistryErrorsSayItOnce: the registry's errors name their cause
// once ("not found" was doubled by the API marker).
func TestRegistryErrorsSayItOnce(t *testing.T) {
	ctx := context.Background()
	r, files := daemonRegistry(t, e2eShapedFeatures())
	addModels(t, r, true, files[0])
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"delete an unknown version", func() error { _, err := r.DeleteModel(ctx, "nope"); return err }, `delete model "nope": not found`},
		{"promote an unknown version", func() error { _, err := r.SetActive(ctx, "nope"); return err }, `read model nope: model "nope": not found`},
		{"roll back without a previous version", func() error { _, err := r.SetActive(ctx, ""); return err }, "roll back model: no earlier promoted version to roll back to (active: vA)"},
	} {
		err := tc.call()
		if !errors.Is(err, api.ErrNotFound) || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q (ErrNotFound)", tc.name, err, tc.want)
		}
	}
	if _, err := r.DeleteModel(ctx, ""); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("delete an empty version: %v, want ErrInvalid", err)
	}
}

// TestScorerIdentifiesModelsByData: the scorer tells models apart by
// version and data (sha256), not by version alone: a model of another
// data under the version in use is put in use (before, it was ignored).
func TestScorerIdentifiesModelsByData(t *testing.T) {
	r, files := daemonRegistry(t, e2eShapedFeatures())
	addModels(t, r, true, files[0])
	old, v := r.s.Model()
	if v != "vA" {
		t.Fatalf("scorer uses %q, want vA", v)
	}
	other, err := model.Unmarshal(files[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := r.s.install("vA", "another sha256", other); err != nil {
		t.Fatal(err)
	}
	if m, v := r.s.Model(); m != other || m == old || v != "vA" {
		t.Errorf("scorer uses %q (the new model: %v), want the model of the other data", v, m == other)
	}
}

// TestUploadUnusableVersion: a model file whose metadata version is "."
// or ".." is refused as invalid (422; before, the store's refusal wrapped
// no sentinel and the API answered 500 and logged an error), by the daemon
// and offline, registering nothing; one whose version is blank is
// registered as m<checksum>, as one without a version is (before, it was
// registered as " ", which the CLI could not name).
func TestUploadUnusableVersion(t *testing.T) {
	ctx := context.Background()
	names := []string{"a", "b"}
	r, _ := daemonRegistry(t, names)
	for _, reg := range []struct {
		name string
		r    api.ModelAdmin
	}{{"daemon", r}, {"offline", NewRegistry(r.st, "t")}} {
		for i, v := range []string{".", ".."} {
			f := modelFileOf(t, model.Config{Features: names, Window: 4, Hidden: 4, Seed: int64(i + 1)}, v)
			if got, err := reg.r.AddModel(ctx, f, api.AddOptions{Promote: true}); !errors.Is(err, api.ErrInvalid) || !errors.Is(err, store.ErrInvalidVersion) {
				t.Errorf("%s: upload a model of version %q: %+v, %v; want ErrInvalid", reg.name, v, got, err)
			}
		}
	}
	if ms, _ := r.st.ListModels(); len(ms) != 0 {
		t.Errorf("registered %+v, want nothing", ms)
	}
	for i, v := range []string{" ", "\t"} {
		f := modelFileOf(t, model.Config{Features: names, Window: 4, Hidden: 4, Seed: int64(7 + i)}, v)
		got, err := r.AddModel(ctx, f, api.AddOptions{})
		if err != nil || !strings.HasPrefix(got.Version, "m") || strings.TrimSpace(got.Version) != got.Version {
			t.Errorf("upload a model of version %q: %+v, %v; want it registered as m<checksum>", v, got, err)
		}
	}
}

// TestRegisteredNamesDiffer: models registered under names derived from
// their data get different names for different data: versionless models
// (m<checksum>) and a third model under a taken name (NAME-<checksum>).
// Before, the checksum was the CRC-32C of the whole file, which ends with
// its own CRC-32C, so it was the same for every file: every versionless
// model was m48674bc7, and a second collision answered 409.
func TestRegisteredNamesDiffer(t *testing.T) {
	ctx := context.Background()
	names := []string{"a", "b"}
	r, _ := daemonRegistry(t, names)
	seen := map[string]bool{}
	for i, v := range []string{"", "", "v", "v", "v"} {
		f := modelFileOf(t, model.Config{Features: names, Window: 4, Hidden: 4, Seed: int64(i + 1)}, v)
		got, err := r.AddModel(ctx, f, api.AddOptions{})
		if err != nil {
			t.Fatalf("upload model %d (version %q): %v", i, v, err)
		}
		if seen[got.Version] {
			t.Errorf("model %d (version %q) registered as %s, the name of an earlier one", i, v, got.Version)
		}
		seen[got.Version] = true
		want := v
		switch {
		case v == "":
			want = "m" + shortSum(f)
		case i > 2:
			want = v + "-" + shortSum(f)
		}
		if got.Version != want {
			t.Errorf("model %d (version %q) registered as %s, want %s", i, v, got.Version, want)
		}
	}
}

// TestAddModelVersionOverride: a model file whose version and derived
// VERSION-<checksum> were both deleted cannot be registered from its
// metadata any more (409), but can under a version given with the upload
// (api.AddOptions.Version), which is then promoted and in use; the file's
// own version is kept as the "file_version" param. A given version is not
// renamed: one taken by other data or deleted is refused with
// api.ErrConflict, an unusable one with api.ErrInvalid, and the registry
// is left unchanged.
func TestAddModelVersionOverride(t *testing.T) {
	ctx := context.Background()
	names := e2eShapedFeatures()
	r, files := daemonRegistry(t, names)
	addModels(t, r, true, files[:]...) // vA, then vB active
	if _, err := r.DeleteModel(ctx, "vA"); err != nil {
		t.Fatal(err)
	}
	derived, err := r.AddModel(ctx, files[0], api.AddOptions{})
	if err != nil || !strings.HasPrefix(derived.Version, "vA-") {
		t.Fatalf("vA's file again: %+v, %v, want vA-<checksum>", derived, err)
	}
	if _, err := r.DeleteModel(ctx, derived.Version); err != nil {
		t.Fatal(err)
	}
	if v, err := r.AddModel(ctx, files[0], api.AddOptions{}); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("vA's file with vA and %s deleted: %+v, %v, want api.ErrConflict", derived.Version, v, err)
	}
	before, err := r.Models(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, version string
		want          error
	}{
		{"taken by other data", "vB", api.ErrConflict},
		{"deleted", "vA", api.ErrConflict},
		{"deleted derived name", derived.Version, api.ErrConflict},
		{"dot-dot", "..", api.ErrInvalid},
		{"white space around it", "vA2 ", api.ErrInvalid},
	} {
		if v, err := r.AddModel(ctx, files[0], api.AddOptions{Version: tc.version, Promote: true}); !errors.Is(err, tc.want) {
			t.Errorf("%s: add as %q: %+v, %v, want %v", tc.name, tc.version, v, err, tc.want)
		}
	}
	if after, err := r.Models(ctx); err != nil || !slices.EqualFunc(before, after, func(a, b api.ModelVersion) bool { return a.Version == b.Version && a.Active == b.Active }) {
		t.Fatalf("registry after refused overrides: %+v, %v, want %+v", after, err, before)
	}
	v, err := r.AddModel(ctx, files[0], api.AddOptions{Version: "vA2"})
	if err != nil || v.Version != "vA2" || v.Active || v.Params["file_version"] != "vA" || !strings.Contains(v.Description, `file version "vA"`) {
		t.Fatalf("vA's file as vA2: %+v, %v (want file_version vA, also in the description omen model list shows)", v, err)
	}
	if again, err := r.AddModel(ctx, files[0], api.AddOptions{Version: "vA2", Promote: true}); err != nil || again.Version != "vA2" || !again.Active {
		t.Fatalf("vA's file as vA2 again, promoted: %+v, %v", again, err)
	}
	if m, inUse := r.s.Model(); inUse != "vA2" || m == nil {
		t.Errorf("scorer uses %q, want vA2", inUse)
	}
	if _, err := r.SetActive(ctx, "vB"); err != nil {
		t.Fatal(err)
	}
	if v, err := r.SetActive(ctx, "vA2"); err != nil || !v.Active {
		t.Errorf("promote vA2: %+v, %v", v, err)
	}
	if v, err := r.AddModel(ctx, files[1], api.AddOptions{Version: "vB"}); err != nil || v.Version != "vB" || v.Params["file_version"] != "" {
		t.Errorf("vB's file as vB: %+v, %v (the same data: a no-op, no file_version)", v, err)
	}

	// A model that does not fit is named by the version asked for.
	misfit := modelFileOf(t, model.Config{Features: []string{"x", "y"}, Window: 4, Hidden: 4, Seed: 9}, "vX")
	if _, err := r.AddModel(ctx, misfit, api.AddOptions{Version: "vX2"}); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), `model "vX2" does not fit`) {
		t.Errorf("a misfit as vX2: %v, want ErrInvalid naming vX2", err)
	}
	// A file without a version of its own gets no file_version.
	blank := modelFileOf(t, model.Config{Features: names, Window: 4, Hidden: 4, Seed: 11}, "")
	if v, err := r.AddModel(ctx, blank, api.AddOptions{Version: "vBlank"}); err != nil || v.Version != "vBlank" {
		t.Errorf("a file without a version as vBlank: %+v, %v", v, err)
	} else if _, ok := v.Params["file_version"]; ok {
		t.Errorf("a file without a version as vBlank: file_version %q set", v.Params["file_version"])
	}

	// Without a daemon too.
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	offline := NewRegistry(st, "test")
	addModels(t, offline, true, files[1])
	if v, err := offline.AddModel(ctx, files[0], api.AddOptions{Version: "vB"}); !errors.Is(err, api.ErrConflict) {
		t.Errorf("offline: vA's file as vB: %+v, %v, want api.ErrConflict", v, err)
	}
	if v, err := offline.AddModel(ctx, files[0], api.AddOptions{Version: "vC", Promote: true}); err != nil || v.Version != "vC" || !v.Active {
		t.Errorf("offline: vA's file as vC: %+v, %v", v, err)
	}
}

// shortSum is the checksum registry.Register names a model's data by:
// the first 8 hex digits of its sha256.
func shortSum(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:4])
}
