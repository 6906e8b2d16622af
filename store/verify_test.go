package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
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
		// Badger did not open it ("Invalid datakey id"): Verify failed
		// as unable to check, naming no file.
		{name: "value-log header damaged", damage: func(t *testing.T, dir string, _ []string) string {
			return damageVlogHeader(t, dir)
		}, what: "value-log file has a damaged header"},
		// Badger did not open it read-only ("truncate …: invalid
		// argument").
		{name: "value-log file emptied", damage: func(t *testing.T, dir string, _ []string) string {
			p := filepath.Join(dir, "000001.vlog")
			if err := os.Truncate(p, 0); err != nil {
				t.Fatal(err)
			}
			return p
		}, what: "value-log file is empty (0 bytes). It is the newest value-log file: an omen killed while Badger created it"},
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
			if last.Tables != rep.Tables || last.TablesTotal != rep.Tables || last.Records != rep.Records+rep.RecordsUnread || last.RecordsTotal < last.Records {
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
// does not open a store while Verify holds it, saying omen store verify
// may be what holds it (it named only omen run, model and train).
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
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "or omen store verify") {
			t.Errorf("Open of a store being verified: %v, want ErrInUse saying omen store verify may hold it", err)
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

// TestVerifyValueLogCutShort: a value-log file cut short or missing
// makes every record whose value it held unread: each damaged record
// names the value-log file (not the intact table holding the value
// pointers, nor no file), the first VerifyListedPerFile listed and the
// rest counted, and the unread records are not counted as read.
func TestVerifyValueLogCutShort(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, vlog string)
	}{
		{"cut short", func(t *testing.T, vlog string) {
			if err := os.Truncate(vlog, vlogHeaderSize+100); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing", func(t *testing.T, vlog string) {
			if err := os.Remove(vlog); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := writeClosedStore(t)
			intact, err := Verify(context.Background(), VerifyOptions{Path: dir})
			if err != nil || len(intact.Damaged) > 0 {
				t.Fatalf("Verify of the intact store: %v, %v", intact.Damaged, err)
			}
			vlog := filepath.Join(dir, "000001.vlog")
			tc.damage(t, vlog)
			rep, err := Verify(context.Background(), VerifyOptions{Path: dir})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// The 20 ingest batches' values (over 1 KiB) are in the
			// value log; the model's metadata then misses its data.
			var listed int64
			for _, d := range rep.Damaged {
				switch {
				case strings.HasPrefix(d.Record, "model"):
				case d.File != vlog || !strings.Contains(d.What, "its value does not read"):
					t.Errorf("damage %q, want it in %s", d, vlog)
				default:
					listed++
				}
			}
			if listed != VerifyListedPerFile || listed+rep.Unlisted[vlog] != rep.RecordsUnread || rep.RecordsUnread < 20 {
				t.Errorf("%d listed and %d more counted for %s, %d records unread: want %d listed, the rest counted, every batch unread",
					listed, rep.Unlisted[vlog], vlog, rep.RecordsUnread, VerifyListedPerFile)
			}
			if rep.Records+rep.RecordsUnread != intact.Records {
				t.Errorf("%d records read and %d unread, of the %d read intact", rep.Records, rep.RecordsUnread, intact.Records)
			}
			if rep.DamagedCount() != int64(len(rep.Damaged))+rep.Unlisted[vlog] {
				t.Errorf("DamagedCount %d, %d listed", rep.DamagedCount(), len(rep.Damaged))
			}
		})
	}
}

// TestVerifyAfterFailedStart: an omen whose start fails (a value-log
// file's header damaged) leaves an empty memtable log. Verify names the
// damaged file, not the memtable log ("not closed cleanly … run omen
// model list, then verify again", which failed the same way, leaving
// another); and once the file is restored, it says the memtable log is
// empty (no records lost), not that the store was not closed cleanly.
func TestVerifyAfterFailedStart(t *testing.T) {
	dir, _ := writeClosedStore(t)
	vlog := filepath.Join(dir, "000001.vlog")
	good, err := os.ReadFile(vlog)
	if err != nil {
		t.Fatal(err)
	}
	damageVlogHeader(t, dir)
	// A start that fails in Badger (past the store's own checks) leaves
	// the memtable log Badger made.
	if out := runVerifyChild(t, "badger-open", dir); out != "fails\n" {
		t.Fatalf("Badger's open of the damaged store: %q", out)
	}
	if mems, _ := filepath.Glob(filepath.Join(dir, "*.mem")); len(mems) == 0 {
		t.Fatal("the failed start left no memtable log")
	}
	rep, err := Verify(context.Background(), VerifyOptions{Path: dir})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(rep.Damaged) != 1 || rep.Damaged[0].File != vlog || strings.Contains(rep.RecordsSkipped, ".mem") {
		t.Errorf("damage %q, records skipped %q: want %s named, not the memtable log", rep.Damaged, rep.RecordsSkipped, vlog)
	}

	if err := os.WriteFile(vlog, good, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(context.Background(), VerifyOptions{Path: dir})
	if err != nil || len(rep.Damaged) > 0 || !strings.Contains(rep.RecordsSkipped, "empty memtable log") ||
		strings.Contains(rep.RecordsSkipped, "not closed cleanly") {
		t.Errorf("Verify: %+v, %v: want records skipped for an empty memtable log", rep, err)
	}
	// Opening the store deletes it: the records are then read.
	s := openTest(t, Options{Path: dir, Registerer: prometheus.NewRegistry()})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(context.Background(), VerifyOptions{Path: dir}); err != nil || len(rep.Damaged) > 0 || rep.RecordsSkipped != "" {
		t.Errorf("Verify after an open: %+v, %v", rep, err)
	}
}

// TestVerifyUnopenableValueLog: a value-log file whose header reads but
// that Badger does not open read-only (here /dev/zero: Badger truncates
// a file of size 0 to its full size, which a read-only file refuses) is
// named as damage, not an error naming no file. Verify runs in a child
// process: Badger's failed Open leaves goroutines running.
func TestVerifyUnopenableValueLog(t *testing.T) {
	dir, _ := writeClosedStore(t)
	p := filepath.Join(dir, "000009.vlog")
	if err := os.Symlink("/dev/zero", p); err != nil {
		t.Fatal(err)
	}
	var rep VerifyReport
	if err := json.Unmarshal([]byte(runVerifyChild(t, "verify", dir)), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Damaged) != 1 || rep.Damaged[0].File != p || !strings.Contains(rep.Damaged[0].What, "does not open") || rep.RecordsSkipped == "" {
		t.Errorf("damage %q, records skipped %q: want %s named", rep.Damaged, rep.RecordsSkipped, p)
	}
}

// TestVerifyValueLogDiskUsage: the value-log size shown is the disk space
// its files take: a store copied while omen ran has its value-log file
// at its sparse size of twice the value-log file size (268 MB for a few
// kB).
func TestVerifyValueLogDiskUsage(t *testing.T) {
	dir, _ := writeClosedStore(t)
	p := filepath.Join(dir, "000001.vlog")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 1<<30); err != nil { // sparse, as Badger leaves it
		t.Fatal(err)
	}
	rep, err := Verify(context.Background(), VerifyOptions{Path: dir, SkipRecords: true})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.ValueLogBytes >= 1<<20 || rep.ValueLogBytes < fi.Size()/2 {
		t.Errorf("value log of %d bytes (%d before it was made sparse to 1 GiB): want its disk usage", rep.ValueLogBytes, fi.Size())
	}
}

// verifyChildEnv makes the test binary a child of runVerifyChild
// (through TestMain), for what leaves goroutines behind (a failed
// badger.Open does), which goleak would report.
const verifyChildEnv = "OMEN_STORE_VERIFY_CHILD"

// verifyChild runs op ("badger-open DIR": prints "fails" when Badger
// does not open the database at DIR; "verify DIR": Verify's report, as
// JSON) and exits.
func verifyChild(op string) {
	op, dir, _ := strings.Cut(op, " ")
	switch op {
	case "badger-open":
		db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
		if err == nil {
			_ = db.Close()
			fmt.Println("opens")
		} else {
			fmt.Println("fails")
		}
	case "verify":
		rep, err := Verify(context.Background(), VerifyOptions{Path: dir})
		if err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		b, _ := json.Marshal(rep)
		fmt.Println(string(b))
	}
	os.Exit(0)
}

// runVerifyChild runs verifyChild(op+" "+dir) in a child process,
// returning its stdout.
func runVerifyChild(t *testing.T, op, dir string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), verifyChildEnv+"="+op+" "+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %s %s: %v\n%s", op, dir, err, out)
	}
	return string(out)
}
