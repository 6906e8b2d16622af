package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// writeStore writes a store under a fresh storage path (batches and a
// model) and closes it, returning the storage path and the store's tables.
func writeStore(t *testing.T) (path string, tables []string) {
	t.Helper()
	path = t.TempDir()
	st, err := store.Open(store.Options{Path: filepath.Join(path, "badger"), NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 20 {
		b := telemetry.Batch{Source: "verify", Seq: uint64(i + 1), Received: int64(i) * 1000}
		for s := range 40 {
			b.Samples = append(b.Samples, telemetry.Sample{
				Labels: labels.FromStrings("__name__", "m", "pod", "pod-"+string(rune('a'+s%26))+string(rune('a'+s/26))),
				T:      int64(i) * 1000, V: rng.Float64(),
			})
		}
		if _, err := st.AppendBatches([]telemetry.Batch{b}); err != nil {
			t.Fatalf("AppendBatches: %v", err)
		}
	}
	if err := st.PutModel("m1", []byte("model data"), store.ModelMeta{}); err != nil {
		t.Fatalf("PutModel: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	tables, err = filepath.Glob(filepath.Join(path, "badger", "*.sst"))
	if err != nil || len(tables) == 0 {
		t.Fatalf("no table written (%v)", err)
	}
	return path, tables
}

// writeLargeBatches appends n batches whose values (over 1 KiB) go to the
// value log to the store under path, returning the value-log file that
// holds them.
func writeLargeBatches(t *testing.T, path string, n int) string {
	t.Helper()
	st, err := store.Open(store.Options{Path: filepath.Join(path, "badger"), NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	rng := rand.New(rand.NewPCG(8, 8))
	for i := range n {
		b := telemetry.Batch{Source: "large", Seq: uint64(i + 1), Received: int64(i) * 1000}
		for s := range 200 {
			b.Samples = append(b.Samples, telemetry.Sample{
				Labels: labels.FromStrings("__name__", "m", "pod", fmt.Sprintf("pod-%03d-%x", s, rng.Uint64())), T: int64(i)*1000 + int64(s), V: rng.Float64(),
			})
		}
		if _, err := st.AppendBatches([]telemetry.Batch{b}); err != nil {
			t.Fatalf("AppendBatches: %v", err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	vlogs, err := filepath.Glob(filepath.Join(path, "badger", "*.vlog"))
	if err != nil || len(vlogs) == 0 {
		t.Fatalf("no value-log file (%v)", err)
	}
	return vlogs[len(vlogs)-1] // the newest: Badger writes to a new one at each open
}

// TestStoreVerify runs omen store verify on a real store: intact (exit
// 0, the summary), damaged in the middle of a table (exit 1 naming the
// table and what to do; omen run's start does not see that damage), held
// by another omen (exit 1 saying so), and absent.
func TestStoreVerify(t *testing.T) {
	for _, tc := range []struct {
		name string
		// prepare damages or holds the store at path, returning the
		// strings stdout and stderr must hold.
		prepare      func(t *testing.T, path string, tables []string) (stdout, stderr []string)
		rc           int
		tablesOnly   bool
		wantNoDamage bool
	}{
		{name: "intact", rc: 0, wantNoDamage: true, prepare: func(*testing.T, string, []string) ([]string, []string) {
			return []string{"tables:          1 (", "block checksums checked", "value-log files: 1 (", " on disk)", "read and decoded\n", "no damage found"}, nil
		}},
		{name: "intact, tables only", rc: 0, tablesOnly: true, wantNoDamage: true, prepare: func(*testing.T, string, []string) ([]string, []string) {
			return []string{"records:         not checked (--tables-only)", "no damage found"}, nil
		}},
		{name: "bytes flipped mid-table", rc: 1, prepare: func(t *testing.T, _ string, tables []string) ([]string, []string) {
			b, err := os.ReadFile(tables[0])
			if err != nil {
				t.Fatal(err)
			}
			for i := len(b) / 2; i < len(b)/2+8; i++ {
				b[i] ^= 0xff
			}
			if err := os.WriteFile(tables[0], b, 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"damaged:         1\n  " + tables[0] + ": level-0 table does not match its checksums", "records:         not checked"},
				[]string{"is damaged (listed above)", "restore", "move it away"}
		}},
		// Badger did not open it: verify exited 1 "unable to check"
		// with Badger's "Invalid datakey id", naming no file.
		{name: "value-log header damaged", rc: 1, prepare: func(t *testing.T, path string, _ []string) ([]string, []string) {
			vlog := filepath.Join(path, "badger", "000001.vlog")
			b, err := os.ReadFile(vlog)
			if err != nil {
				t.Fatal(err)
			}
			b[5] ^= 0xff
			if err := os.WriteFile(vlog, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"damaged:         1\n  " + vlog + ": value-log file has a damaged header", "records:         not checked"},
				[]string{"is damaged (listed above)", "restore", "move it away"}
		}},
		// Every batch's value was in the value log: each was listed
		// (blamed on the table holding the value pointers) and counted
		// as read.
		{name: "value-log file cut short", rc: 1, prepare: func(t *testing.T, path string, _ []string) ([]string, []string) {
			vlog := writeLargeBatches(t, path, 20)
			if err := os.Truncate(vlog, 120); err != nil {
				t.Fatal(err)
			}
			return []string{"; 20 more whose value does not read", "damaged:         20\n  " + vlog + ": ingest log batch",
					"\n  " + vlog + ": 10 more damaged records (not listed)\n"},
				[]string{"is damaged (listed above)"}
		}},
		{name: "held by another omen", rc: 1, prepare: func(t *testing.T, path string, _ []string) ([]string, []string) {
			st, err := store.Open(store.Options{Path: filepath.Join(path, "badger"), NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return nil, []string{"the store at " + `"` + path + `"` + " is in use by another omen process", "stop it, then verify"}
		}},
		{name: "no store", rc: 1, prepare: func(t *testing.T, path string, _ []string) ([]string, []string) {
			if err := os.RemoveAll(filepath.Join(path, "badger")); err != nil {
				t.Fatal(err)
			}
			return nil, []string{"no omen store at"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, tables := writeStore(t)
			wantOut, wantErr := tc.prepare(t, path, tables)
			args := []string{"store", "verify", "--storage.path", path}
			if tc.tablesOnly {
				args = append(args, "--tables-only")
			}
			var out, errb bytes.Buffer
			rc := dispatch(args, &out, &errb)
			if rc != tc.rc {
				t.Errorf("exit %d, want %d; stdout %q, stderr %q", rc, tc.rc, out.String(), errb.String())
			}
			for _, w := range wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout %q does not hold %q", out.String(), w)
				}
			}
			for _, w := range wantErr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr %q does not hold %q", errb.String(), w)
				}
			}
			if tc.wantNoDamage && (strings.Contains(out.String(), "damaged") || errb.Len() > 0) {
				t.Errorf("an intact store: stdout %q, stderr %q", out.String(), errb.String())
			}
		})
	}
}

// TestStoreVerifyUsage: usage errors exit 2, help 0.
func TestStoreVerifyUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		rc   int
		want string
	}{
		{[]string{"store"}, 2, "omen store: missing the subcommand (verify, backup or restore)\nsee omen store --help"},
		{[]string{"store", "check"}, 2, `unknown subcommand "check" (want verify, backup or restore)`},
		{[]string{"store", "verify", "data/"}, 2, `omen store verify: unexpected arguments ["data/"] (the store is --storage.path's)`},
		{[]string{"store", "--nope"}, 2, "flag provided but not defined"},
		{[]string{"store", "help"}, 0, "usage: omen store verify|backup|restore"},
		{[]string{"store", "verify", "--help"}, 0, "usage: omen store verify|backup|restore"},
	} {
		var out, errb bytes.Buffer
		rc := dispatch(tc.args, &out, &errb)
		got, other := errb.String(), out.String()
		if tc.rc == 0 {
			got, other = other, got // help asked for: stdout
		}
		if rc != tc.rc || !strings.Contains(got, tc.want) || other != "" {
			t.Errorf("omen %q: exit %d, stdout %q stderr %q; want %d with %q (help on stdout, errors on stderr)", tc.args, rc, out.String(), errb.String(), tc.rc, tc.want)
		}
	}
}

// TestVerifyProgress: progress redraws one line on a terminal, at most
// every 100 ms, and is erased at the end; elsewhere nothing prints.
func TestVerifyProgress(t *testing.T) {
	now := time.Unix(0, 0)
	var b bytes.Buffer
	p := &progressLine{w: &b, tty: true, now: func() time.Time { return now }}
	p.showVerify(store.VerifyProgress{Tables: 1, TablesTotal: 2, TableBytes: 1500, TableBytesTotal: 3000})
	p.showVerify(store.VerifyProgress{Tables: 2, TablesTotal: 2}) // within 100 ms: not drawn
	now = now.Add(time.Second)
	p.showVerify(store.VerifyProgress{Tables: 2, TablesTotal: 2, TableBytes: 3000, TableBytesTotal: 3000, Records: 42, RecordsTotal: 50})
	p.clear()
	want := "\r\033[Komen store verify: tables 1/2 (1.5 kB of 3.0 kB)" +
		"\r\033[Komen store verify: tables 2/2 (3.0 kB of 3.0 kB), records 42 of about 50" + "\r\033[K"
	if b.String() != want {
		t.Errorf("progress %q, want %q", b.String(), want)
	}
	b.Reset()
	p = &progressLine{w: &b, now: time.Now}
	p.showVerify(store.VerifyProgress{Tables: 1, TablesTotal: 1})
	p.clear()
	if b.Len() > 0 {
		t.Errorf("progress off a terminal: %q", b.String())
	}
}
