package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	pmodel "github.com/prometheus/common/model"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
)

// rangeMemoryConfig is the built-in configuration at a 1 s step with
// memory_working_set_bytes read over a range: its presence features
// (app.PresenceFeatures) lack it, the built-in configuration's have it.
func rangeMemoryConfig(t *testing.T) (*config.Config, []string) {
	t.Helper()
	cfg := config.Default()
	cfg.Step = pmodel.Duration(time.Second)
	found := false
	for i, f := range cfg.Features {
		if f.Name == "memory_working_set_bytes" {
			cfg.Features[i].Expr = `sum by (${entity}) (max_over_time(container_memory_working_set_bytes[1m]))`
			found = true
		}
	}
	if !found {
		t.Fatal("no feature memory_working_set_bytes in the built-in configuration")
	}
	presence := app.PresenceFeatures(cfg)
	if slices.Contains(presence, "memory_working_set_bytes") || !slices.Contains(app.PresenceFeatures(config.Default()), "memory_working_set_bytes") {
		t.Fatalf("presence features %v: want memory_working_set_bytes only in the built-in configuration's", presence)
	}
	return cfg, presence
}

// writeAbsentHistory writes to a store at dir, under schema (called with
// the open store), 10 minutes at 1 s of 3 pods of cfg's layout, each
// absent by presence (none of them has a value) at steps 100-199, as
// TestTrainURLDaemonPresence does.
func writeAbsentHistory(t *testing.T, dir string, cfg *config.Config, presence []string, schema func(*store.Store, []string, []string) error) {
	t.Helper()
	names, labels := features.Names(cfg.Config), cfg.LabelNames()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger")})
	if err != nil {
		t.Fatal(err)
	}
	if err := schema(st, names, labels); err != nil {
		t.Fatal(err)
	}
	end := time.Now().UnixMilli() / 1000 * 1000
	const n = 600 // 10 minutes at 1 s
	var vs []store.Vector
	for p := range 3 {
		id := fmt.Sprintf("shop/pod-%d", p)
		for i := range n {
			v := store.Vector{Entity: id, T: end - int64(n-i)*1000, Values: make([]float64, len(names)), Failure: make([]bool, len(labels))}
			for j, name := range names {
				v.Values[j] = math.Sin(float64(i+j+p)/7) + float64(j)
				if i >= 100 && i < 200 && slices.Contains(presence, name) {
					v.Values[j] = math.NaN() // absent: stored for its label
				}
			}
			v.Failure[0] = i%50 > 45
			vs = append(vs, v)
		}
		if err := st.PutEntity(id, map[string]string{"namespace": "shop", "pod": fmt.Sprintf("pod-%d", p)}, end-int64(n)*1000); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutVectors(vs); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTrainStoreDaemonPresence: offline omen train --source store
// --storage.path (the daemon stopped, no --config.file) leaves out of its
// windows the vectors the daemon stored only for an absent entity's
// failure label by the presence features the daemon records with its
// schema, as --url does by those it serves (TestTrainURLDaemonPresence:
// 951 training windows). It used the built-in configuration's, whose
// instant memory_working_set_bytes made every such vector a row (1344).
func TestTrainStoreDaemonPresence(t *testing.T) {
	cfg, presence := rangeMemoryConfig(t)
	dir := t.TempDir()
	writeAbsentHistory(t, dir, cfg, presence, (*store.Store).PutSchema)
	// The daemon runs on the store (and records its schema), then stops.
	a, err := app.New(app.Options{ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0", StoragePath: dir, Config: cfg,
		ShutdownTimeout: 20 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "m.omen")
	rc, stdout, stderr := omen(t, "train", "--source", "store", "--storage.path", dir, "--history", "1h", "--hidden", "4", "--epochs", "1", "--out", out)
	if rc != 0 || !strings.Contains(stdout, "3 entities, 951/") {
		t.Fatalf("train --storage.path = %d\nstdout %s\nstderr %s\nwant 951 training windows (the daemon's presence features, which the store records)", rc, stdout, stderr)
	}
	if strings.Contains(stderr, "does not record which features") {
		t.Errorf("warning of a store that records the presence features:\n%s", stderr)
	}
}

// TestTrainStoreOlderPresence: a store whose schema records no presence
// features (written by an older omen, which recorded its step only)
// trains with the local configuration's, here the built-in one (every
// vector a row: 1344 training windows), and omen train warns.
func TestTrainStoreOlderPresence(t *testing.T) {
	cfg, presence := rangeMemoryConfig(t)
	dir := t.TempDir()
	writeAbsentHistory(t, dir, cfg, presence, func(st *store.Store, names, labels []string) error {
		return st.PutSchemaStep(names, labels, time.Second)
	})
	out := filepath.Join(t.TempDir(), "m.omen")
	rc, stdout, stderr := omen(t, "train", "--source", "store", "--storage.path", dir, "--history", "1h", "--hidden", "4", "--epochs", "1", "--out", out)
	if rc != 0 || !strings.Contains(stdout, "3 entities, 1344/") {
		t.Fatalf("train --storage.path = %d\nstdout %s\nstderr %s\nwant 1344 training windows (the built-in configuration's presence features)", rc, stdout, stderr)
	}
	if want := "warning: the store does not record which features make a stored vector a row of the daemon's windows (written by an older omen): using those of the built-in configuration"; !strings.Contains(stderr, want) {
		t.Errorf("stderr %s\nwant the warning %q", stderr, want)
	}
}
