package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/registry"
	"github.com/omen-sre/omen/store"
)

// modelFile builds and encodes a small untrained model over names.
func modelFile(t testing.TB, names []string, version string, seed int64) []byte {
	t.Helper()
	return modelFileOf(t, model.Config{Features: names, Window: 4, Hidden: 4, Seed: seed}, version)
}

// modelFileOf builds and encodes an untrained model of cfg.
func modelFileOf(t testing.TB, cfg model.Config, version string) []byte {
	t.Helper()
	m, err := model.New(cfg)
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

// TestModelRegistryAPI: while the daemon runs (holding the store), models
// are uploaded, promoted and rolled back over the API and in use when the
// call returns; models that do not fit the features are refused; after a
// reload that changes the features the old model is unloaded, a fitting
// one is accepted, and a rollback to the old one is refused.
func TestModelRegistryAPI(t *testing.T) {
	ctx := context.Background()
	cfgFile := filepath.Join(t.TempDir(), "omen.yml")
	base := testConfigYAML
	if err := os.WriteFile(cfgFile, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, t.TempDir(), func(o *Options) { o.Config, o.ConfigFile = nil, cfgFile })
	c := &api.Client{URL: "http://" + a.Addr()}
	names := a.FeatureNames()
	active := func() string { _, v := a.scorer.Model(); return v }
	// loadedGauge is what /metrics says of the model in use: "" without.
	loadedGauge := func() string {
		t.Helper()
		mfs, err := a.opts.Gatherer.Gather()
		if err != nil {
			t.Fatal(err)
		}
		loaded, info := -1.0, ""
		for _, mf := range mfs {
			switch mf.GetName() {
			case "omen_model_loaded":
				loaded = mf.GetMetric()[0].GetGauge().GetValue()
			case "omen_model_info":
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetName() == "version" {
							info += l.GetValue()
						}
					}
				}
			}
		}
		if (loaded == 1) != (info != "") || loaded < 0 {
			t.Fatalf("omen_model_loaded %v with omen_model_info for %q", loaded, info)
		}
		return info
	}
	if v := loadedGauge(); v != "" {
		t.Fatalf("omen_model_info names %q before any model", v)
	}

	av, err := c.AddModel(ctx, modelFile(t, names, "vA", 1), api.AddOptions{Promote: true})
	if err != nil || av.Version != "vA" || !av.Active || active() != "vA" {
		t.Fatalf("upload and promote vA: %+v, %v; scorer uses %q", av, err, active())
	}
	if v := loadedGauge(); v != "vA" {
		t.Fatalf("omen_model_info names %q, want vA", v)
	}
	if _, err := c.AddModel(ctx, []byte("not a model"), api.AddOptions{Promote: true}); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("upload garbage: %v, want ErrInvalid", err)
	}
	if _, err := c.AddModel(ctx, modelFile(t, names[:2], "vX", 1), api.AddOptions{Promote: true}); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("upload a model of other features: %v, want ErrInvalid (does not fit)", err)
	}
	// A model trained at another step: its window and horizon would last
	// other durations. Refused over the API, and when registered offline
	// (not checked there) it is refused for promotion.
	other := modelFileOf(t, model.Config{Features: names, Window: 4, Hidden: 4, Seed: 1, Step: 2 * a.scorer.step}, "vS")
	if _, err := c.AddModel(ctx, other, api.AddOptions{Promote: true}); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "does not fit the configured step") {
		t.Fatalf("upload a model of another step: %v, want ErrInvalid (does not fit the configured step)", err)
	}
	om, err := model.Unmarshal(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Register(a.Store(), om, other, "test", "vS"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetActive(ctx, "vS"); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "does not fit the configured step") || active() != "vA" {
		t.Fatalf("promote a model of another step: %v, want ErrInvalid and vA kept; scorer uses %q", err, active())
	}
	if _, err := c.DeleteModel(ctx, "vS"); err != nil {
		t.Fatal(err)
	}
	same := modelFileOf(t, model.Config{Features: names, Window: 4, Hidden: 4, Seed: 1, Step: a.scorer.step}, "vT")
	if _, err := c.AddModel(ctx, same, api.AddOptions{}); err != nil {
		t.Fatalf("upload a model of the daemon's step: %v", err)
	}
	if _, err := c.DeleteModel(ctx, "vT"); err != nil {
		t.Fatal(err)
	}
	if bv, err := c.AddModel(ctx, modelFile(t, names, "vB", 2), api.AddOptions{}); err != nil || bv.Active || active() != "vA" {
		t.Fatalf("upload vB without promoting: %+v, %v; scorer uses %q", bv, err, active())
	}
	if v, err := c.SetActive(ctx, "vB"); err != nil || v.Version != "vB" || active() != "vB" {
		t.Fatalf("promote vB: %+v, %v; scorer uses %q", v, err, active())
	}
	if _, err := c.SetActive(ctx, "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("promote an unknown version: %v, want ErrNotFound", err)
	}
	if v, err := c.SetActive(ctx, ""); err != nil || v.Version != "vA" || active() != "vA" {
		t.Fatalf("roll back: %+v, %v; scorer uses %q", v, err, active())
	}
	ms, err := c.Models(ctx)
	if err != nil || len(ms) != 2 {
		t.Fatalf("list: %+v, %v", ms, err)
	}

	// A reload that adds a feature: vA no longer fits and is unloaded.
	more := strings.Replace(base, "event_features:", "  - name: mem_max\n    expr: max by (${entity}) (container_memory_working_set_bytes)\nevent_features:", 1)
	if err := os.WriteFile(cfgFile, []byte(more), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	names2 := a.FeatureNames()
	if !slices.Contains(names2, "mem_max") {
		t.Fatalf("features after reload %v, want mem_max", names2)
	}
	if v := active(); v != "" {
		t.Fatalf("scorer still uses %q, which does not fit the reloaded features", v)
	}
	if v := loadedGauge(); v != "" {
		t.Fatalf("omen_model_info names %q after the model was unloaded, want omen_model_loaded 0", v)
	}
	if _, err := a.modelInfo(ctx); !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "no model loaded: model vA does not fit the reloaded features") || !strings.Contains(err.Error(), "mem_max") {
		t.Fatalf("model info after the unload: %v, want unavailable saying why", err)
	}
	if err := a.ReloadModel(); err != nil {
		t.Fatalf("the refused active version is tried again: %v", err)
	}
	if v, err := c.AddModel(ctx, modelFile(t, names2, "vC", 3), api.AddOptions{Promote: true}); err != nil || active() != "vC" {
		t.Fatalf("upload and promote vC of the new features: %+v, %v; scorer uses %q", v, err, active())
	}
	if v := loadedGauge(); v != "vC" {
		t.Fatalf("omen_model_info names %q, want vC", v)
	}
	if _, err := c.SetActive(ctx, ""); !errors.Is(err, api.ErrInvalid) || active() != "vC" {
		t.Fatalf("roll back to vA (old features): %v, want ErrInvalid and vC kept; scorer uses %q", err, active())
	}
	if m, err := a.Store().Active(); err != nil || m.Version != "vC" {
		t.Fatalf("registry's active model %q, %v after the refused rollback, want vC", m.Version, err)
	}
}

// TestModelRegistryDelete: while the daemon runs, DELETE removes a
// version that is not active from the store and from the rollback
// history (a rollback then goes to the version promoted before it); the
// active version is refused with ErrConflict (409) and stays in use, an
// unknown one is ErrNotFound.
func TestModelRegistryDelete(t *testing.T) {
	ctx := context.Background()
	a := startApp(t, t.TempDir(), nil)
	c := &api.Client{URL: "http://" + a.Addr()}
	names := a.FeatureNames()
	active := func() string { _, v := a.scorer.Model(); return v }
	for i, v := range []string{"vA", "vB", "vC"} { // promoted in turn: history vA, vB, vC
		if _, err := c.AddModel(ctx, modelFile(t, names, v, int64(i+1)), api.AddOptions{Promote: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteModel(ctx, "vC"); !errors.Is(err, api.ErrConflict) || active() != "vC" {
		t.Fatalf("delete the active vC: %v, want ErrConflict; scorer uses %q", err, active())
	}
	if _, err := c.DeleteModel(ctx, "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("delete an unknown version: %v, want ErrNotFound", err)
	}
	v, err := c.DeleteModel(ctx, "vB")
	if err != nil || v.Version != "vB" || v.Active || v.SHA256 == "" {
		t.Fatalf("delete vB (the rollback target): %+v, %v", v, err)
	}
	if _, _, err := a.Store().Model("vB"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("vB after the delete: %v, want store.ErrNotFound", err)
	}
	if active() != "vC" {
		t.Fatalf("scorer uses %q after deleting vB, want vC", active())
	}
	if v, err := c.SetActive(ctx, ""); err != nil || v.Version != "vA" || active() != "vA" {
		t.Fatalf("roll back after deleting vB: %+v, %v; scorer uses %q (want vA)", v, err, active())
	}
	if _, err := c.DeleteModel(ctx, "vC"); err != nil {
		t.Fatalf("delete vC once inactive: %v", err)
	}
	if _, err := c.SetActive(ctx, ""); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("roll back with vB and vC deleted: %v, want ErrNotFound", err)
	}
	if ms, err := c.Models(ctx); err != nil || len(ms) != 1 || ms[0].Version != "vA" || !ms[0].Active {
		t.Fatalf("list: %+v, %v (want vA alone, active)", ms, err)
	}
}

// TestDeleteModelRefusals: the registry refuses to delete the active
// version (the store's ErrActive, also without a daemon) and the version
// the daemon scores with, with api.ErrConflict.
func TestDeleteModelRefusals(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	names := []string{"a", "b"}
	offline := NewRegistry(st, "test")
	for i, v := range []string{"v1", "v2"} {
		if _, err := offline.AddModel(ctx, modelFile(t, names, v, int64(i+1)), api.AddOptions{Promote: v == "v2"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		reg     api.ModelAdmin
		version string
	}{
		{"the active version, no daemon", offline, "v2"},
		// A daemon still scoring with v1 (its active version v2 could not be loaded).
		{"the version the daemon scores with", registryAdmin{st: st, s: &scorer{version: "v1"}}, "v1"},
	} {
		if _, err := tc.reg.DeleteModel(ctx, tc.version); !errors.Is(err, api.ErrConflict) {
			t.Errorf("%s: delete %s: %v, want api.ErrConflict", tc.name, tc.version, err)
		}
		if _, _, err := st.Model(tc.version); err != nil {
			t.Errorf("%s: %s after the refused delete: %v", tc.name, tc.version, err)
		}
	}
}

// daemonRegistry is the registry of a daemon (a scorer over an in-memory
// store) whose features are names, and two encoded models over them
// (window 32, hidden 32, one member: the shape of the single-network
// models the simulator's evaluation trained before ensembles), versions
// "vA" and "vB".
func daemonRegistry(tb testing.TB, names []string) (registryAdmin, [2][]byte) {
	tb.Helper()
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	cfg, err := config.Load("test.yml", []byte(testConfigYAML))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := newScorer(scorerOptions{Store: st, Config: cfg, Features: func() []string { return names },
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	var files [2][]byte
	for i, v := range []string{"vA", "vB"} {
		files[i] = modelFileOf(tb, model.Config{Features: names, Window: 32, Horizon: 40, Hidden: 32, Seed: int64(i + 1)}, v)
	}
	return registryAdmin{st: st, s: s, source: "test"}, files
}

// addModels registers files on r in order, promoting each with promote.
func addModels(tb testing.TB, r api.ModelAdmin, promote bool, files ...[]byte) {
	tb.Helper()
	for _, f := range files {
		if _, err := r.AddModel(context.Background(), f, api.AddOptions{Promote: promote}); err != nil {
			tb.Fatal(err)
		}
	}
}

// e2eShapedFeatures are 30 feature names, as many as the e2e model's.
func e2eShapedFeatures() []string {
	names := make([]string, 30)
	for i := range names {
		names[i] = fmt.Sprintf("f%02d", i)
	}
	return names
}

// BenchmarkPromoteUpload uploads and promotes two models in turn on a
// daemon's registry (each call changes the active model); allocs/op is
// per upload.
func BenchmarkPromoteUpload(b *testing.B) {
	r, files := daemonRegistry(b, e2eShapedFeatures())
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := r.AddModel(ctx, files[i%2], api.AddOptions{Promote: true}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPromoteRegistered promotes two registered versions in turn.
func BenchmarkPromoteRegistered(b *testing.B) {
	r, files := daemonRegistry(b, e2eShapedFeatures())
	ctx := context.Background()
	addModels(b, r, false, files[:]...)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := r.SetActive(ctx, []string{"vA", "vB"}[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// allocatedBytes is the heap allocated by n runs of f, per run.
func allocatedBytes(n int, f func()) float64 {
	var before, after runtime.MemStats
	f() // warm up
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}

// TestPromoteDecodesOnce: uploading and promoting a model on a daemon's
// registry decodes the file once (it was decoded three times and its data
// read back from the store three times: 541 KB allocated per upload of a
// 37 KB model, 11x one decode), and promoting a registered version reads
// and decodes it once (it was twice, and the data read a third time:
// about 3x). The bounds are 2x one decode and 1.5x one read and decode;
// the model in use is the promoted one.
func TestPromoteDecodesOnce(t *testing.T) {
	r, files := daemonRegistry(t, e2eShapedFeatures())
	ctx := context.Background()
	versions := []string{"vA", "vB"}
	i := 0
	upload := allocatedBytes(20, func() {
		if _, err := r.AddModel(ctx, files[i%2], api.AddOptions{Promote: true}); err != nil {
			t.Fatal(err)
		}
		i++
	})
	promote := allocatedBytes(20, func() {
		if _, err := r.SetActive(ctx, versions[i%2]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	decode := allocatedBytes(20, func() {
		if _, err := model.Unmarshal(files[0]); err != nil {
			t.Fatal(err)
		}
	})
	readDecode := allocatedBytes(20, func() {
		if _, _, err := r.s.readModel("vA"); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("model of %d bytes; bytes allocated: decode %.0f, read and decode %.0f, upload and promote %.0f, promote a registered version %.0f",
		len(files[0]), decode, readDecode, upload, promote)
	for _, tc := range []struct {
		name        string
		bytes, unit float64
		unitName    string
		max         float64
	}{
		{"upload and promote", upload, decode, "decode", 2},
		{"promote a registered version", promote, readDecode, "read and decode", 1.5},
	} {
		if tc.bytes > tc.max*tc.unit {
			t.Errorf("%s allocates %.0f bytes, %.1fx one %s (%.0f); want at most %.1fx", tc.name, tc.bytes, tc.bytes/tc.unit, tc.unitName, tc.unit, tc.max)
		}
	}
	if m, v := r.s.Model(); v != versions[(i-1)%2] || m == nil {
		t.Fatalf("scorer uses %q after promoting %s", v, versions[(i-1)%2])
	}
}

// TestUseFollowsRegistry: a model decoded for a promotion that another
// promotion overtook is not put in use: the scorer loads the registry's
// active version.
func TestUseFollowsRegistry(t *testing.T) {
	r, files := daemonRegistry(t, e2eShapedFeatures())
	addModels(t, r, false, files[:]...)
	mA, shaA, err := r.s.readModel("vA")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.st.Promote("vA"); err != nil {
		t.Fatal(err)
	}
	if err := r.st.Promote("vB"); err != nil { // overtakes vA before vA is put in use
		t.Fatal(err)
	}
	if err := r.s.use("vA", shaA, mA); err != nil {
		t.Fatal(err)
	}
	if m, v := r.s.Model(); v != "vB" || m == mA {
		t.Fatalf("scorer uses %q after vB overtook vA, want vB", v)
	}
}

// TestRegisterModelSameVersion: another model under a registered version
// is registered under a version naming its data, not dropped.
func TestRegisterModelSameVersion(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	names := []string{"a", "b"}
	var versions []string
	for seed := int64(1); seed <= 3; seed++ {
		data := modelFile(t, names, "v1", min(seed, 2)) // seeds 1, 2, 2: the third is the second again
		m, err := model.Unmarshal(data)
		if err != nil {
			t.Fatal(err)
		}
		v, err := RegisterModel(st, m, data, "test")
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if versions[0] != "v1" || versions[1] == "v1" || !strings.HasPrefix(versions[1], "v1-") || versions[2] != versions[1] {
		t.Fatalf("versions %v, want v1, v1-<checksum>, the same again", versions)
	}
}

// TestNewRejectsOpenListenWithoutToken: a non-loopback listen address
// without a token is refused by New, before anything starts.
func TestNewRejectsOpenListenWithoutToken(t *testing.T) {
	for _, addr := range []string{":9464", "0.0.0.0:9464", "10.0.0.1:9464"} {
		if _, err := New(Options{ListenAddress: addr, StoragePath: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "token is required") {
			t.Errorf("New with %s and no token: %v", addr, err)
		}
	}
	if _, err := New(Options{ListenAddress: ":9464", TokenFile: "/nonexistent", StoragePath: t.TempDir()}); err != nil {
		t.Errorf("New with a token file: %v (the file is read at Start)", err)
	}
}

// TestStopWithStalledHistoryClient: a client that asks for a long history
// and stops reading does not hold up Stop (the answer is paged out of the
// store, and the connections still open at the shutdown timeout are
// closed).
func TestStopWithStalledHistoryClient(t *testing.T) {
	a := startApp(t, t.TempDir(), func(o *Options) { o.ShutdownTimeout = time.Second })
	nf := len(a.FeatureNames())
	var vs []store.Vector
	for i := range 200_000 {
		vs = append(vs, store.Vector{Entity: "ns/big", T: int64(i) * 1000, Values: make([]float64, nf), Failure: []bool{false}})
	}
	if err := a.Store().PutVectors(vs); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/history/vectors?entity=ns/big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	time.Sleep(500 * time.Millisecond) // the handler fills the socket buffers and blocks
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- a.Stop(context.Background()) }()
	select {
	case <-done:
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("Stop took %v with a stalled history client", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Stop still blocked 20 s after it was called, by a client that stopped reading")
	}
}

// TestReloadAllOrNothing: a reload the Prometheus pollers refuse (no
// PromQL feature left to poll) leaves the extractor, the schema and the
// pollers as they were; a good one then applies.
func TestReloadAllOrNothing(t *testing.T) {
	good, eventsOnly := pollerConfigs(t)
	better := good + "  - name: mem\n    expr: max by (${entity}) (mem_bytes)\n"
	cfgFile := filepath.Join(t.TempDir(), "omen.yml")
	write := func(s string) {
		if err := os.WriteFile(cfgFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(good)
	a := startApp(t, t.TempDir(), func(o *Options) { o.Config, o.ConfigFile = nil, cfgFile })
	schema := func() []string {
		s, err := a.Store().Schema()
		if err != nil {
			t.Fatal(err)
		}
		return s.Features
	}
	before, beforeSchema := a.FeatureNames(), schema()
	write(eventsOnly)
	if err := a.Reload(); err == nil {
		t.Fatal("a reload the pollers refuse succeeded")
	}
	if got := a.FeatureNames(); !slices.Equal(got, before) {
		t.Errorf("features after a refused reload %v, want %v", got, before)
	}
	if got := schema(); !slices.Equal(got, beforeSchema) {
		t.Errorf("schema after a refused reload %v, want %v", got, beforeSchema)
	}
	write(better)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := a.FeatureNames(); !slices.Contains(got, "mem") || !slices.Contains(schema(), "mem") {
		t.Errorf("features %v, schema %v after a good reload: want mem", got, schema())
	}
}

// TestDiskReserveConfigured: storage.disk_reserve reaches the store (a
// reserve above any free space refuses to start, naming the cause).
func TestDiskReserveConfigured(t *testing.T) {
	cfg := testConfig(t)
	cfg.Storage.DiskReserve = 1 << 60
	a, err := New(Options{Config: cfg, ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0", StoragePath: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err == nil || !errors.Is(err, store.ErrDiskFull) || !strings.Contains(err.Error(), "storage.disk_reserve") {
		t.Fatalf("Start with a reserve of 1 EiB: %v, want store.ErrDiskFull naming storage.disk_reserve", err)
	}
}
