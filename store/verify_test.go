package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/telemetry"
)

// flipMiddle inverts 8 bytes in the middle of the file name.
func flipMiddle(t *testing.T, name string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 2; i < len(b)/2+8; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// putRaw writes key = val into the closed store at dir, past the store's
// encoders, and closes it again (flushing it into a table).
func putRaw(t *testing.T, dir string, key, val []byte) {
	t.Helper()
	s, err := Open(Options{Path: dir, NoSync: true, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, val) }); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// dirState is the SHA-256 and mode of each file in dir, by name.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fmt.Sprintf("%x %v", sha256.Sum256(b), fi.Mode())
	}
	return out
}

// TestVerify damages a real store's files and records: Verify names
// each damaged file (and record) and what is wrong. A table damaged in
// its middle opens (Open reads a table's index and last block only):
// only Verify's block checksums see it.
func TestVerify(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damage damages the store at dir and returns the file the
		// damage names ("" for none: intact).
		damage func(t *testing.T, dir string, tables []string) string
		// record and what are in the damage's text.
		record, what string
		// opens: Open still opens the damaged store.
		opens bool
		// recordsRead: the records are read (the files are intact).
		recordsRead bool
	}{
		{name: "intact", damage: func(*testing.T, string, []string) string { return "" }, opens: true, recordsRead: true},
		{name: "bytes flipped mid-table", damage: func(t *testing.T, _ string, tables []string) string {
			flipMiddle(t, tables[0])
			return tables[0]
		}, what: "does not match its checksums", opens: true},
		{name: "truncated table", damage: func(t *testing.T, _ string, tables []string) string {
			fi, err := os.Stat(tables[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(tables[0], fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			return tables[0]
		}, what: "truncated or damaged"},
		{name: "missing table", damage: func(t *testing.T, _ string, tables []string) string {
			if err := os.Remove(tables[0]); err != nil {
				t.Fatal(err)
			}
			return tables[0]
		}, what: "is missing"},
		{name: "garbage MANIFEST", damage: func(t *testing.T, dir string, _ []string) string {
			p := filepath.Join(dir, "MANIFEST")
			if err := os.WriteFile(p, []byte("garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, what: "does not decode"},
		{name: "value-log entry flipped", damage: func(t *testing.T, dir string, _ []string) string {
			// The ingest batches (over 1 KiB) are in the value log.
			p := filepath.Join(dir, "000001.vlog")
			flipMiddle(t, p)
			return p
		}, record: "ingest log batch", what: "does not read", opens: true, recordsRead: true},
		{name: "vector that does not decode", damage: func(t *testing.T, dir string, _ []string) string {
			putRaw(t, dir, nameTimeKey(pVector, "node-1", 5000), []byte{9, 9, 9})
			return ".sst" // the table the vector was flushed into
		}, record: `feature vector "node-1" at 1970-01-01T00:00:05Z`, what: "does not decode", opens: true, recordsRead: true},
		{name: "model data not matching its metadata", damage: func(t *testing.T, dir string, _ []string) string {
			putRaw(t, dir, modelChunkKey("m1", 0), []byte("mode!"))
			return ""
		}, record: `model "m1"`, what: "does not match its metadata", opens: true, recordsRead: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, tables := writeClosedStore(t)
			file := tc.damage(t, dir, tables)
			before := dirState(t, dir)
			var last VerifyProgress
			rep, err := Verify(context.Background(), VerifyOptions{Path: dir, Progress: func(p VerifyProgress) { last = p }})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if after := dirState(t, dir); !maps.Equal(before, after) {
				t.Errorf("Verify changed the store's files: %v, then %v", before, after)
			}
			damaged := tc.record != "" || tc.what != ""
			if damaged == (len(rep.Damaged) == 0) {
				t.Fatalf("damaged %q, want damage (record %q, %q) in file %q: %v", rep.Damaged, tc.record, tc.what, file, damaged)
			}
			for _, d := range rep.Damaged { // the flipped bytes may span two records
				if !strings.Contains(d.File, file) || !strings.Contains(d.Record, tc.record) || !strings.Contains(d.What, tc.what) {
					t.Errorf("damage %+v, want file %q, record %q, what %q", d, file, tc.record, tc.what)
				}
				if file == "" && d.File != "" {
					t.Errorf("damage %+v names a file", d)
				}
			}
			if tc.recordsRead {
				if rep.RecordsSkipped != "" || rep.Records < 20 || rep.RecordBytes < 20*1024 {
					t.Errorf("records %d (%d bytes), skipped %q: want the store's records read", rep.Records, rep.RecordBytes, rep.RecordsSkipped)
				}
			} else if rep.RecordsSkipped == "" || rep.Records != 0 {
				t.Errorf("records %d read, skipped %q: want none read past damaged files", rep.Records, rep.RecordsSkipped)
			}
			if rep.Tables < 1 && tc.name != "garbage MANIFEST" {
				t.Errorf("tables %d", rep.Tables)
			}
			if last.Tables != rep.Tables || last.TablesTotal != rep.Tables || last.Records != rep.Records || last.RecordsTotal < last.Records {
				t.Errorf("last progress %+v, report %+v", last, rep)
			}
			s, err := Open(Options{Path: dir, Registerer: prometheus.NewRegistry()})
			if err == nil {
				_ = s.Close()
			}
			if (err == nil) != tc.opens {
				t.Errorf("Open: %v, want it to open: %v", err, tc.opens)
			}
		})
	}
}

// TestVerifyEveryDamagedTable damages two tables: both are named.
func TestVerifyEveryDamagedTable(t *testing.T) {
	dir, _ := writeClosedStore(t)
	putRaw(t, dir, nameTimeKey(pVector, "node-1", 5000), make([]byte, 600)) // a second table
	tables, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil || len(tables) != 2 {
		t.Fatalf("tables %q (%v), want 2", tables, err)
	}
	for _, name := range tables {
		flipMiddle(t, name)
	}
	rep, err := Verify(context.Background(), VerifyOptions{Path: dir})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(rep.Damaged) != 2 || rep.Tables != 2 {
		t.Fatalf("tables %d, damaged %q: want both tables damaged", rep.Tables, rep.Damaged)
	}
	for i, d := range rep.Damaged {
		if d.File != tables[1-i] { // the newest level-0 table first
			t.Errorf("damage %d names %q, want %q", i, d.File, tables[1-i])
		}
	}
}

// TestVerifySkipRecords checks the files only.
func TestVerifySkipRecords(t *testing.T) {
	dir, _ := writeClosedStore(t)
	rep, err := Verify(context.Background(), VerifyOptions{Path: dir, SkipRecords: true})
	if err != nil || len(rep.Damaged) > 0 || rep.Records != 0 || rep.RecordsSkipped == "" || rep.Tables < 1 {
		t.Fatalf("Verify: %+v, %v: want tables checked, no records read", rep, err)
	}
}

// TestVerifyInUse: Verify refuses a store an omen holds, and an omen
// does not open a store while Verify holds it.
func TestVerifyInUse(t *testing.T) {
	dir, _ := writeClosedStore(t)
	s := openTest(t, Options{Path: dir})
	_, err := Verify(context.Background(), VerifyOptions{Path: dir})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "stop it first") {
		t.Errorf("Verify of a store in use: %v, want ErrInUse naming the path and what to do", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockDirShared(dir) // as Verify holds it
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	for _, open := range []func(Options) (*Store, error){Open, OpenRegistry} {
		s, err := open(Options{Path: dir, Registerer: prometheus.NewRegistry()})
		if err == nil {
			_ = s.Close()
			t.Fatal("Open of a store being verified succeeded")
		}
		if !errors.Is(err, ErrInUse) {
			t.Errorf("Open of a store being verified: %v, want ErrInUse", err)
		}
	}
}

// TestVerifyNotClosedCleanly verifies a copy of a store taken while it
// was open (as a crash leaves it): the tables are checked, the records
// are not (Badger opens it read-only only once its memtable log is
// replayed), saying why.
func TestVerifyNotClosedCleanly(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Path: dir, NoSync: true, MemTableSize: 1 << 20, ValueLogFileSize: 1 << 20})
	rng := newTestRand()
	for i := range 5 {
		if _, err := s.AppendBatches([]telemetry.Batch{makeBatch(rng, "crash", uint64(i+1), int64(i)*1000, 20, 5)}); err != nil {
			t.Fatalf("AppendBatches: %v", err)
		}
	}
	cp := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cp, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Verify(context.Background(), VerifyOptions{Path: cp})
	if err != nil || len(rep.Damaged) > 0 || !strings.Contains(rep.RecordsSkipped, "not closed cleanly") || !strings.Contains(rep.RecordsSkipped, ".mem") {
		t.Fatalf("Verify: %+v, %v: want records skipped, naming the memtable log", rep, err)
	}
}

// TestVerifyNoStore: a directory without a store is an error.
func TestVerifyNoStore(t *testing.T) {
	dir := t.TempDir()
	if _, err := Verify(context.Background(), VerifyOptions{Path: dir}); err == nil || !strings.Contains(err.Error(), "not a store") {
		t.Errorf("Verify of an empty directory: %v", err)
	}
}
