package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omen-sre/omen/store"
)

// emptyStore makes an omen store with nothing in it under the storage
// path dir (dir/badger), as a daemon's first start does, and returns dir.
func emptyStore(t *testing.T, dir string) string {
	t.Helper()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRegisterRefusesMissingStore: offline, omen train --register or
// --promote and omen model add [--promote] refuse a storage path without
// a store (the default data/ of another directory, or a mistyped one) as
// omen model list and promote do, naming the path and saying to give the
// daemon's or --url; they create nothing, and omen train refuses before
// training (no model file, no Prometheus query). They made a new empty
// store there and reported success, though no daemon reads it.
func TestRegisterRefusesMissingStore(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("csv", 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("t,m1,m2\n")
	for i := range 400 {
		fmt.Fprintf(&b, "%d,%g,%g\n", i, math.Sin(float64(i)/5), math.Cos(float64(i)/7))
	}
	if err := os.WriteFile("csv/e.train.csv", []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	prom, queries := failingPrometheus(t)
	file := writeModelFile(t, []string{"a", "b"}, "v1")
	small := []string{"--window", "8", "--horizon", "2", "--hidden", "2", "--epochs", "1", "--out", "m.omen"}
	for _, tc := range []struct {
		name, path string // path: "" is the default, data/
		args       []string
	}{
		{"train csv --register", "", append([]string{"train", "--source", "csv", "--dir", "csv", "--register"}, small...)},
		{"train csv --promote, typo", "dta", append([]string{"train", "--source", "csv", "--dir", "csv", "--promote"}, small...)},
		{"train prometheus --promote", "", append([]string{"train", "--source", "prometheus", "--prometheus.url", prom.URL, "--history", "1h", "--promote"}, small...)},
		{"model add", "", []string{"model", "add", file}},
		{"model add --promote, typo", "dta", []string{"model", "add", file, "--promote"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, path := tc.args, "data/"
			if tc.path != "" {
				args, path = append(args, "--storage.path", tc.path), tc.path
			}
			rc, out, errs := omen(t, args...)
			want := fmt.Sprintf("no omen store at %q (--storage.path): give the storage path of the daemon's store (omen run --storage.path), or --url and a running daemon's address to go through it\n", path)
			if rc != 1 || !strings.HasSuffix(errs, want) || strings.Contains(out, "registered") {
				t.Errorf("omen %q = %d\nstdout %s\nstderr %s\nwant 1 and %q", args, rc, out, errs, want)
			}
			for _, p := range []string{path, "m.omen"} {
				if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s exists after omen %q (%v)", p, args, err)
				}
			}
		})
	}
	if n := queries.Load(); n != 0 {
		t.Errorf("%d Prometheus requests, want none (the store checked first)", n)
	}
	// With the store there, train --register works.
	emptyStore(t, "data")
	if rc, out, errs := omen(t, append([]string{"train", "--source", "csv", "--dir", "csv", "--register"}, small...)...); rc != 0 || !strings.Contains(out, "registered as ") {
		t.Fatalf("train --register into data/ = %d\nstdout %s\nstderr %s", rc, out, errs)
	}
}

// omen model add --create prepares a store before the daemon's first
// start (an init container): the store is created at --storage.path and
// the model registered and promoted in it; --create is refused with
// --url and for other subcommands (usage errors).
func TestModelAddCreate(t *testing.T) {
	t.Chdir(t.TempDir())
	file := writeModelFile(t, []string{"a", "b"}, "v1")
	if rc, out, errs := omen(t, "model", "add", file, "--promote", "--create", "--storage.path", "new/path"); rc != 0 || !strings.Contains(out, "registered") {
		t.Fatalf("model add --create = %d\nstdout %s\nstderr %s", rc, out, errs)
	}
	rc, out, errs := omen(t, "model", "list", "--storage.path", "new/path")
	if rc != 0 || !strings.Contains(out, "*") || !strings.Contains(out, "v1") {
		t.Fatalf("model list = %d\nstdout %s\nstderr %s; want v1 active", rc, out, errs)
	}
	for _, args := range [][]string{
		{"model", "list", "--create"},
		{"model", "add", file, "--create", "--url", "http://127.0.0.1:1"},
	} {
		if rc, _, errs := omen(t, args...); rc != 2 || !strings.Contains(errs, "--create is a flag of add without --url") {
			t.Errorf("omen %q = %d, stderr %s; want a usage error", args, rc, errs)
		}
	}
}
