package main

import (
	"bytes"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunStartFailRemovesNewStorage: omen run whose start fails (the web
// port another process holds, a model.file that does not fit the
// features on a store with no active model) exits 1 and removes the
// storage directory it created, its missing parents too; it left a store
// of nothing behind. A storage directory that existed before, empty or
// not, is kept with what it held.
func TestRunStartFailRemovesNewStorage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	busy := ln.Addr().String()
	unfit := writeModelFile(t, []string{"x"}, "vunfit")
	for _, tc := range []struct {
		name string
		// prepare makes what exists before the run under root and
		// returns the storage path.
		prepare func(t *testing.T, root string) string
		web     string
		model   bool // model.file: the unfit model
		// gone is the path (under root) that must not exist afterwards;
		// kept, one that must.
		gone, kept string
		want       string // in stderr: the start's failure
	}{
		{name: "busy port, new directory", web: busy,
			prepare: func(_ *testing.T, root string) string { return filepath.Join(root, "data") },
			gone:    "data", kept: ".", want: "address already in use"},
		{name: "busy port, new parents", web: busy,
			prepare: func(_ *testing.T, root string) string { return filepath.Join(root, "a", "b", "data") },
			gone:    "a", kept: ".", want: "address already in use"},
		{name: "unfit model.file, new directory", web: "127.0.0.1:0", model: true,
			prepare: func(_ *testing.T, root string) string { return filepath.Join(root, "data") },
			gone:    "data", kept: ".", want: "does not fit the configured features"},
		{name: "busy port, existing empty directory", web: busy,
			prepare: func(t *testing.T, root string) string {
				p := filepath.Join(root, "data")
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
				return p
			},
			kept: "data", want: "address already in use"},
		{name: "unfit model.file, existing parent", web: "127.0.0.1:0", model: true,
			prepare: func(t *testing.T, root string) string {
				if err := os.WriteFile(filepath.Join(root, "notes"), []byte("mine"), 0o600); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(root, "data")
			},
			gone: "data", kept: "notes", want: "does not fit the configured features"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			path := tc.prepare(t, root)
			args := []string{"run", "--storage.path", path, "--web.listen-address", tc.web, "--nats.listen-address", "127.0.0.1:0"}
			if tc.model {
				cfg := filepath.Join(t.TempDir(), "omen.yml")
				if err := os.WriteFile(cfg, []byte(goodYML(t)+"model:\n  file: "+unfit+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config.file", cfg)
			}
			var out, errb bytes.Buffer
			if rc := dispatch(args, &out, &errb); rc != 1 || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, want 1 with %q; stderr:\n%s", rc, tc.want, errb.String())
			}
			if tc.gone != "" {
				if _, err := os.Lstat(filepath.Join(root, tc.gone)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s after the failed start: %v; want it removed (the run created it)\nstderr:\n%s", tc.gone, err, errb.String())
				}
			}
			if _, err := os.Lstat(filepath.Join(root, tc.kept)); err != nil {
				t.Errorf("%s after the failed start: %v; want it kept (it existed before)", tc.kept, err)
			}
		})
	}
}
