package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWrite: a new file, a file replaced (its mode kept), a symbolic
// link's target replaced (the link stays), a device written in place;
// no temporary file is left beside them.
func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to write
		check func(t *testing.T, dir, path string)
	}{
		{"new", func(t *testing.T, dir string) string { return filepath.Join(dir, "m.omen") }, nil},
		{"replace keeps the mode", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "m.omen")
			if err := os.WriteFile(p, []byte("old, longer than the new data"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, func(t *testing.T, _, path string) {
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v (%v), want 0600 kept", fi.Mode(), err)
			}
		}},
		{"symbolic link", func(t *testing.T, dir string) string {
			target := filepath.Join(dir, "real.omen")
			if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(dir, "link.omen")
			if err := os.Symlink("real.omen", link); err != nil {
				t.Fatal(err)
			}
			return link
		}, func(t *testing.T, dir, path string) {
			if fi, err := os.Lstat(path); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("the link was replaced (%v)", err)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "real.omen")); err != nil || string(b) != "new data" {
				t.Errorf("target holds %q (%v), want the new data", b, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.setup(t, dir)
			if err := Write(path, []byte("new data"), 0o644); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != "new data" {
				t.Fatalf("read %q (%v), want the new data", b, err)
			}
			if tc.check != nil {
				tc.check(t, dir, path)
			}
			noTemp(t, dir)
		})
	}
	// A device is written in place, not replaced (rename over /dev/null).
	if err := Write(os.DevNull, []byte("x"), 0o644); err != nil {
		t.Fatalf("write %s: %v", os.DevNull, err)
	}
	if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode().IsRegular() {
		t.Fatalf("%s is a regular file now (%v)", os.DevNull, err)
	}
}

// TestWriteFailureKeepsOld: a write that fails half way (a full disk)
// leaves the previous file's bytes as they were and no temporary file,
// and says so. os.WriteFile truncated it first.
func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.omen")
	old := []byte("the previous good model")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	full := errors.New("no space left on device")
	err := write(path, 0o644, func(w io.Writer) error {
		if _, err := w.Write([]byte("half a mod")); err != nil {
			return err
		}
		return full
	})
	if !errors.Is(err, full) || !strings.Contains(err.Error(), "the previous "+path+" is untouched") {
		t.Fatalf("write = %v, want the failure, saying the previous file is untouched", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != string(old) {
		t.Fatalf("the previous file holds %q (%v), want %q", b, err, old)
	}
	noTemp(t, dir)
	// A new file: nothing written.
	fresh := filepath.Join(dir, "new.omen")
	if err := write(fresh, 0o644, func(io.Writer) error { return full }); err == nil || !strings.Contains(err.Error(), "nothing written") {
		t.Fatalf("write a new file = %v, want the failure, saying nothing was written", err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists after a failed write (%v)", fresh, err)
	}
	noTemp(t, dir)
}

// noTemp fails when dir holds a temporary file of Write.
func noTemp(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
}
