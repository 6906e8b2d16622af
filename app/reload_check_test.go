package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/testenv"
)

// TestReloadRefusesWhatStartRefuses: on a daemon started without
// Prometheus pollers, a reload of a file omen run refuses (event features
// only and an added prometheus section: the pollers would have no query)
// is refused, saying why and that the daemon would not start again with
// it, and the running configuration stays. The file fails CheckConfig,
// which omen run (newSources) and omen check config run. It was accepted
// with only a restart-only warning naming prometheus.
func TestReloadRefusesWhatStartRefuses(t *testing.T) {
	file, write := configFileWriter(t)
	write(testConfigYAML)
	logs := &testenv.SyncBuffer{}
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.Config, o.ConfigFile = nil, file
		o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, logs), &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	if len(a.sources.pollers) != 0 {
		t.Fatalf("%d pollers running, want none", len(a.sources.pollers))
	}
	cfgBefore, namesBefore := a.Config(), a.FeatureNames()

	// The port is never dialled: no poller starts on a reload.
	refused := "entity_labels: [namespace, pod]\n" + eventsOnlyYAML + "prometheus:\n  - url: http://127.0.0.1:9\n"
	cfg, err := config.Load("refused.yml", []byte(refused))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	const want = "no feature has a PromQL expression"
	if err := CheckConfig(cfg); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("CheckConfig = %v, want an error saying %q", err, want)
	}

	write(refused)
	err = a.Reload()
	if err == nil {
		t.Fatal("a reload of a configuration omen run refuses succeeded")
	}
	for _, w := range []string{want, "would not start again", "nothing was reloaded"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("reload = %v, want it to say %q", err, w)
		}
	}
	if a.Config() != cfgBefore {
		t.Error("the configuration in force changed")
	}
	if got := a.FeatureNames(); !slices.Equal(got, namesBefore) {
		t.Errorf("features %q after the refused reload, want %q", got, namesBefore)
	}
	if strings.Contains(logs.String(), "not applied until restart") {
		t.Errorf("a refused reload warned about restart-only keys:\n%s", logs.String())
	}
}

// TestReloadModelFile: a reload checks model.file as a restart would read
// it. When the daemon has no model (a restart reads the file), a file that
// does not exist or does not fit the features is refused and the running
// configuration stays; a file that loads is accepted with the restart-only
// warning. When the daemon uses a model that fits (a restart does not
// read the file), a missing file is accepted with a warning naming the
// consequence: omen run refuses to start with it on a store without one.
func TestReloadModelFile(t *testing.T) {
	tests := []struct {
		name string
		// model: the daemon uses a model before the reload.
		model bool
		// file returns model.file's contents for the features names; nil:
		// no file.
		file func(t *testing.T, names []string) []byte
		// refused: the error the reload gives; "" for none.
		refused string
		// warn: in the log after an accepted reload.
		warn string
	}{
		{name: "missing, no model", refused: "read model"},
		{name: "other features, no model", refused: "does not fit the configured features",
			file: func(t *testing.T, names []string) []byte { return modelFile(t, names[:2], "vX", 1) }},
		{name: "loads, no model", warn: "not applied until restart",
			file: func(t *testing.T, names []string) []byte { return modelFile(t, names, "vF", 1) }},
		{name: "missing, model in use", model: true, warn: "refuses to start with it on a store without one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, write, logs := reloadableApp(t, "")
			names := a.FeatureNames()
			if tt.model {
				c := &api.Client{URL: "http://" + a.Addr()}
				if _, err := c.AddModel(context.Background(), modelFile(t, names, "vA", 1), api.AddOptions{Promote: true}); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "model.omen")
			if tt.file != nil {
				if err := os.WriteFile(path, tt.file(t, names), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfgBefore := a.Config()
			before := len(logs.String())
			// A reloadable change alongside.
			write("model:\n  file: " + path + "\nalerting:\n  for: 7\n")
			err := a.Reload()
			logged := logs.String()[before:]
			if tt.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tt.refused) || !strings.Contains(err.Error(), "nothing was reloaded") {
					t.Fatalf("reload = %v, want it refused saying %q", err, tt.refused)
				}
				if a.Config() != cfgBefore {
					t.Error("the configuration in force changed")
				}
				return
			}
			if err != nil {
				t.Fatalf("reload: %v", err)
			}
			if got := a.Config().Alerting.For; got != 7 {
				t.Errorf("alerting.for %d after the reload, want 7", got)
			}
			if !strings.Contains(logged, tt.warn) || !strings.Contains(logged, "model.file") {
				t.Errorf("no warning saying %q about model.file:\n%s", tt.warn, logged)
			}
			if _, v := a.scorer.Model(); tt.model && v != "vA" {
				t.Errorf("model in use %q after the reload, want vA", v)
			}
		})
	}
}

// TestReloadModelFileActiveModelUnloaded: a reload decides whether a
// restart would read model.file from the store's active model, as a start
// does, not from the model the daemon has loaded. The active model vA is
// unloaded by a reload to other features (an added feature) and stays
// the registry's active model; a reload back to vA's features with a
// missing model.file is accepted with the warning (a restart does not
// read the file) and loads vA again, and a restart with that file starts
// with vA. It was refused, saying the store had no active model that
// fits: the operator could not revert the feature change by a reload.
func TestReloadModelFileActiveModelUnloaded(t *testing.T) {
	file, write := configFileWriter(t)
	write(testConfigYAML)
	dir := t.TempDir()
	logs := &testenv.SyncBuffer{}
	mut := func(o *Options) {
		o.Config, o.ConfigFile = nil, file
		o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, logs), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a := startApp(t, dir, mut)
	c := &api.Client{URL: "http://" + a.Addr()}
	if _, err := c.AddModel(context.Background(), modelFile(t, a.FeatureNames(), "vA", 1), api.AddOptions{Promote: true}); err != nil {
		t.Fatal(err)
	}

	write(strings.Replace(testConfigYAML, "event_features:", "  - name: extra\n    expr: sum by (${entity}) (up)\nevent_features:", 1))
	if err := a.Reload(); err != nil {
		t.Fatalf("reload adding a feature: %v", err)
	}
	if m, v := a.scorer.Model(); m != nil {
		t.Fatalf("model %s in use after a reload to other features, want vA unloaded", v)
	}
	if v, _ := a.Store().ActiveVersion(); v != "vA" {
		t.Fatalf("active model %q after the reload, want vA", v)
	}

	missing := filepath.Join(t.TempDir(), "gone.omen")
	before := len(logs.String())
	write(testConfigYAML + "model:\n  file: " + missing + "\n")
	if err := a.Reload(); err != nil {
		t.Fatalf("reload back to vA's features with a missing model.file: %v", err)
	}
	if logged := logs.String()[before:]; !strings.Contains(logged, "refuses to start with it on a store without one") {
		t.Errorf("no warning about model.file:\n%s", logged)
	}
	if _, v := a.scorer.Model(); v != "vA" {
		t.Errorf("model in use %q after the reload back, want vA", v)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A restart with the same file does not read model.file either.
	b := startApp(t, dir, mut)
	if _, v := b.scorer.Model(); v != "vA" {
		t.Errorf("model in use %q after a restart with the file, want vA", v)
	}
}

// TestReloadModelFileDuringPromotion: a reload's model.file decision holds
// the registry lock until the features have switched, so a promotion
// cannot make it stale. vA (the old features) is the store's active model,
// unloaded by a reload that added a feature; vB, registered, fits the
// added feature. A reload back to vA's features with a missing model.file
// decides "vA is active and fits: warn", and a promotion of vB arrives
// right after the decision (the scorer's hook "model file checked"). It
// waits for the reload and is then refused (vB does not fit the reloaded
// features); vA stays active and a restart with the file starts with vA.
// Without the lock the promotion went in between: vB active, unloaded by
// the reload, which was accepted with the warning, and the restart read
// the missing file and failed.
func TestReloadModelFileDuringPromotion(t *testing.T) {
	ctx := context.Background()
	file, write := configFileWriter(t)
	write(testConfigYAML)
	dir := t.TempDir()
	mut := func(o *Options) { o.Config, o.ConfigFile = nil, file }
	a := startApp(t, dir, mut)
	c := &api.Client{URL: "http://" + a.Addr()}
	if _, err := c.AddModel(ctx, modelFile(t, a.FeatureNames(), "vA", 1), api.AddOptions{Promote: true}); err != nil {
		t.Fatal(err)
	}
	write(strings.Replace(testConfigYAML, "event_features:", "  - name: extra\n    expr: sum by (${entity}) (up)\nevent_features:", 1))
	if err := a.Reload(); err != nil {
		t.Fatalf("reload adding a feature: %v", err)
	}
	if _, err := c.AddModel(ctx, modelFile(t, a.FeatureNames(), "vB", 2), api.AddOptions{}); err != nil {
		t.Fatal(err)
	}

	reg, ok := a.Registry("test").(registryAdmin)
	if !ok {
		t.Fatalf("App.Registry is %T, want registryAdmin", a.Registry("test"))
	}
	var perr error
	wait := during(reg, "model file checked", func() { _, perr = reg.SetActive(ctx, "vB") })
	write(testConfigYAML + "model:\n  file: " + filepath.Join(t.TempDir(), "gone.omen") + "\n")
	err := a.Reload()
	wait()
	if err != nil {
		t.Fatalf("reload back to vA's features with a missing model.file: %v", err)
	}
	if perr == nil {
		t.Errorf("promotion of vB during the reload succeeded, want it refused (vB does not fit the reloaded features)")
	}
	if v, _ := a.Store().ActiveVersion(); v != "vA" {
		t.Errorf("active model %q after the reload and the promotion, want vA", v)
	}
	if _, v := a.scorer.Model(); v != "vA" {
		t.Errorf("model in use %q after the reload, want vA", v)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	b := startApp(t, dir, mut)
	if _, v := b.scorer.Model(); v != "vA" {
		t.Errorf("model in use %q after a restart with the file, want vA", v)
	}
}
