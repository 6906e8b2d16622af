package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunMissingModelFile: omen run with a model.file that does not exist,
// on a new store (no active model), fails (exit 1) and says what to do:
// train one, make one the store's active model, or remove model.file
// (the daemon starts without a model). It said only "read model: open
// model.omen: no such file or directory".
func TestRunMissingModelFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "omen.yml")
	if err := os.WriteFile(cfg, []byte(goodYML(t)+"model:\n  file: "+filepath.Join(dir, "nosuch.omen")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	rc := dispatch([]string{"run", "--config.file", cfg, "--storage.path", filepath.Join(dir, "data"),
		"--web.listen-address", "127.0.0.1:0", "--nats.listen-address", "127.0.0.1:0"}, &out, &errb)
	if rc != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", rc, errb.String())
	}
	for _, w := range []string{"no such file or directory", "registry has no active model", "omen train … --out",
		"omen model add FILE --promote", "remove model.file to start without a model"} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, errb.String())
		}
	}
}
