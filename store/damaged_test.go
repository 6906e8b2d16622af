package store

import (
	"bytes"
	"context"
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
					// The store's only, so newest, value-log file: not
					// to be deleted, but given its header
					// (TestEmptyNewestValueLogRemedy).
					wants = append(wants, "Do not delete it", "truncate -s 20 "+file)
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

// TestEmptyNewestValueLogRemedy empties the newest value-log file of a
// store whose model's values it holds (the case the start cannot tell from
// a crash at a value-log rotation, which leaves it empty holding nothing).
// Open refuses it, saying not to delete it but to give it its 20-byte
// header (the hint said deleting it was safe when omen was killed while
// Badger created it, and deleting it is what turns lost values into wrong
// ones). Given the header, as the hint says, the store opens, new values go
// to the next file, and Verify names the model's records with the emptied
// file; deleted instead, Badger gives its number to the next file, and the
// old model's record reads the new model's value as its own.
func TestEmptyNewestValueLogRemedy(t *testing.T) {
	setup := func(t *testing.T) (dir, file string, newData []byte) {
		t.Helper()
		dir = t.TempDir()
		s, err := Open(Options{Path: dir, NoSync: true, Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		rng := newTestRand()
		data := func() []byte {
			b := make([]byte, modelChunk) // one chunk, in the value log
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			return b
		}
		if err := s.PutModel("old", data(), ModelMeta{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		vlogs, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
		if err != nil || len(vlogs) == 0 {
			t.Fatalf("no value-log file (%v)", err)
		}
		file = vlogs[len(vlogs)-1]
		if err := os.Truncate(file, 0); err != nil {
			t.Fatal(err)
		}
		s, err = Open(Options{Path: dir, NoSync: true, Registerer: prometheus.NewRegistry()})
		if err == nil {
			_ = s.Close()
			t.Fatal("Open of a store whose newest value-log file is empty succeeded")
		}
		for _, want := range []string{file, "is empty (0 bytes)", "Do not delete it", "truncate -s 20 " + file, "omen store verify"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "deleting it is safe") {
			t.Errorf("error %q says deleting the file is safe", err)
		}
		return dir, file, data()
	}
	// putNew opens the store at dir, registers a new model of data and
	// returns the raw value of the old model's chunk, as Badger reads it.
	putNew := func(t *testing.T, dir string, data []byte) []byte {
		t.Helper()
		s := openTest(t, Options{Path: dir})
		if err := s.PutModel("new", data, ModelMeta{}); err != nil {
			t.Fatal(err)
		}
		var old []byte
		_ = s.get(modelChunkKey("old", 0), func(v []byte) error { old = bytes.Clone(v); return nil })
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return old
	}

	t.Run("given its header", func(t *testing.T) {
		dir, file, data := setup(t)
		if err := os.Truncate(file, vlogHeaderSize); err != nil { // truncate -s 20
			t.Fatal(err)
		}
		if old := putNew(t, dir, data); bytes.Equal(old, data) {
			t.Error("the old model's chunk reads the new model's data")
		}
		rep, err := Verify(context.Background(), VerifyOptions{Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		named := false
		for _, d := range rep.Damaged {
			named = named || d.File == file && strings.Contains(d.Record, `"old"`)
		}
		if !named {
			t.Errorf("Verify does not name the old model's records with %s: %+v", file, rep.Damaged)
		}
	})

	t.Run("deleted", func(t *testing.T) {
		dir, file, data := setup(t)
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		if old := putNew(t, dir, data); !bytes.Equal(old, data) {
			t.Errorf("the old model's chunk (%d bytes) does not read the new model's data: if Badger no longer reuses the deleted file's number, the hint may say deleting it is safe", len(old))
		}
	})
}
