package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omen-sre/omen/telemetry"
	"github.com/prometheus/client_golang/prometheus"
)

// writeClosedStore writes batches into a store at a fresh directory and
// closes it (Badger flushes its memtable into a table), returning the
// directory and its tables.
func writeClosedStore(t *testing.T) (dir string, tables []string) {
	t.Helper()
	dir = t.TempDir()
	s, err := Open(Options{Path: dir, NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	rng := newTestRand()
	for i := range 20 {
		if _, err := s.AppendBatches([]telemetry.Batch{makeBatch(rng, "damage", uint64(i+1), int64(i)*1000, 20, 5)}); err != nil {
			t.Fatalf("AppendBatches: %v", err)
		}
	}
	if err := s.PutModel("m1", []byte("model"), ModelMeta{}); err != nil {
		t.Fatalf("PutModel: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	tables, err = filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil || len(tables) == 0 {
		t.Fatalf("no table written (%v)", err)
	}
	return dir, tables
}

// TestOpenDamagedFiles damages a real store's files: Open returns an
// error wrapping ErrDamaged that names the file and what to do (a
// truncated table made Badger panic in a goroutine of its own, killing
// the process with a stack trace).
func TestOpenDamagedFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string, tables []string) string // returns the file the error names
	}{
		{"truncated table", func(t *testing.T, _ string, tables []string) string {
			fi, err := os.Stat(tables[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(tables[0], fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			return tables[0]
		}},
		{"table cut to a few bytes", func(t *testing.T, _ string, tables []string) string {
			if err := os.Truncate(tables[0], 3); err != nil {
				t.Fatal(err)
			}
			return tables[0]
		}},
		{"missing table", func(t *testing.T, _ string, tables []string) string {
			if err := os.Remove(tables[0]); err != nil {
				t.Fatal(err)
			}
			return tables[0]
		}},
		{"garbage MANIFEST", func(t *testing.T, dir string, _ []string) string {
			p := filepath.Join(dir, "MANIFEST")
			if err := os.WriteFile(p, []byte("garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"garbage KEYREGISTRY", func(t *testing.T, dir string, _ []string) string {
			p := filepath.Join(dir, "KEYREGISTRY")
			if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		// Badger failed with "Invalid datakey id", naming neither.
		{"value-log header damaged", func(t *testing.T, dir string, _ []string) string {
			return damageVlogHeader(t, dir)
		}},
		// Badger failed with "Create a new file" having grown it to a
		// sparse file with a new header: the next start succeeded, the
		// values it held lost without a word.
		{"value-log file emptied", func(t *testing.T, dir string, _ []string) string {
			p := filepath.Join(dir, "000001.vlog")
			if err := os.Truncate(p, 0); err != nil {
				t.Fatal(err)
			}
			return p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, tables := writeClosedStore(t)
			file := tc.damage(t, dir, tables)
			for _, open := range []func(Options) (*Store, error){Open, OpenRegistry} {
				s, err := open(Options{Path: dir, Registerer: prometheus.NewRegistry()})
				if err == nil {
					_ = s.Close()
					t.Fatal("Open of a damaged store succeeded")
				}
				if !errors.Is(err, ErrDamaged) {
					t.Errorf("error %v does not wrap ErrDamaged", err)
				}
				wants := []string{dir, file, "restore", "move it away"}
				if tc.name == "value-log file emptied" {
					// The store's only, so newest, value-log file: an
					// omen killed while Badger created it leaves it so,
					// and deleting it then loses nothing.
					wants = append(wants, "deleting it is safe and loses nothing")
				}
				for _, want := range wants {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %q", err, want)
					}
				}
			}
		})
	}
	t.Run("intact", func(t *testing.T) {
		dir, _ := writeClosedStore(t)
		s := openTest(t, Options{Path: dir})
		if _, _, err := s.Model("m1"); err != nil {
			t.Errorf("Model: %v", err)
		}
	})
}

// TestOpenInUse opens a store twice: the second Open fails with an error
// wrapping ErrInUse that says another omen holds it (Badger said only
// "Another process is using this Badger database").
func TestOpenInUse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write bool // an existing store (checkFiles locks), or a new one (Badger's lock)
	}{{"existing store", true}, {"new store", false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.write {
				dir, _ = writeClosedStore(t)
			}
			openTest(t, Options{Path: dir})
			for _, open := range []func(Options) (*Store, error){Open, OpenRegistry} {
				s, err := open(Options{Path: dir, Registerer: prometheus.NewRegistry()})
				if err == nil {
					_ = s.Close()
					t.Fatal("second Open succeeded")
				}
				if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "another omen holds it") {
					t.Errorf("error %q: want ErrInUse naming the path and another omen", err)
				}
			}
		})
	}
}

// damageVlogHeader flips a byte of the encryption key ID in the header of
// the store's first value-log file, returning its name.
func damageVlogHeader(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "000001.vlog")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[5] ^= 0xff
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
