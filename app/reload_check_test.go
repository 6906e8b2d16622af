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
