package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/omen-sre/omen/telemetry"
)

// fillEveryKind writes every kind of record into s: ingest log batches
// (with their dedup keys and checkpoints), schemas, vectors, entities,
// events, predictions (history and latest), explanations, outbox items
// (one acknowledged by one of its targets), alert states, the step
// cursor, and a model registry with an active model and a rollback
// history (m1 → m2 → m3, rolled back to m2).
func fillEveryKind(t testing.TB, s *Store) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const t0 = 1_700_000_000_000
	for i := range 30 {
		_, err := s.AppendBatches([]telemetry.Batch{makeBatch(rng, fmt.Sprint("src", i%2), uint64(i/2+1), t0+int64(i)*15000, 20, 5)})
		must(err)
	}
	must(s.PutSchema([]string{"a", "b"}, []string{"fail"}))
	for e := range 5 {
		id := fmt.Sprint("node-", e)
		must(s.PutEntity(id, map[string]string{"node": id}, t0))
		var vs []Vector
		var ps []Prediction
		for k := range 10 {
			at := t0 + int64(k)*15000
			vs = append(vs, Vector{Entity: id, T: at, Values: []float64{float64(k), rng.Float64()}, Failure: []bool{k == 9}})
			ps = append(ps, Prediction{Entity: id, T: at, Prob: rng.Float64(), ModelVersion: "m2", Threshold: 0.5})
		}
		must(s.PutVectors(vs))
		must(s.PutPredictions(ps))
		must(s.PutExplanation(PredictionID(id, t0+9*15000), fmt.Appendf(nil, `{"entity":%q,"groups":[]}`, id)))
		must(s.PutEvents(id, []telemetry.Event{{T: t0, Source: telemetry.SourceKubernetes, Reason: "BackOff", Type: "Warning", Message: "restarting"}}))
	}
	items := []OutboxItem{{Targets: []string{"am1", "am2"}, Payload: []byte(`{"alerts":[]}`)}, {Targets: []string{"am1"}, Payload: []byte(`{}`)}}
	must(s.Enqueue(items))
	must(s.Ack("am1", []uint64{items[0].ID}))
	must(s.PutAlertState(AlertState{Fingerprint: "f1", State: AlertFiring, ActiveAt: t0}))
	must(s.PutAlertState(AlertState{Fingerprint: "f2", State: AlertResolved, ActiveAt: t0, ResolvedAt: t0 + 60000}))
	must(s.PutStepCursor(t0 + 9*15000))
	for i := 1; i <= 3; i++ {
		data := make([]byte, 1<<20+i*1000) // two chunks
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		v := fmt.Sprint("m", i)
		must(s.PutModel(v, data, ModelMeta{Description: "model " + v}))
		must(s.Promote(v))
	}
	must(s.Rollback())
}

// dump is every record of s (the newest version of each live key), key →
// value.
func dump(t testing.TB, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().Key())] = string(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// restoredRecords is the records of a store restored from a backup of
// records taken at taken: the same, but the last backup's time ('B'),
// which is taken's, and the creation time ('I'), taken's when that is
// earlier.
func restoredRecords(t *testing.T, records map[string]string, taken time.Time) map[string]string {
	t.Helper()
	out := maps.Clone(records)
	out[string(keyLastBackup)] = string(timeKV(keyLastBackup, taken.UnixMilli()).v)
	created, err := decodeTimeRecord([]byte(records[string(keyCreated)]))
	if err != nil {
		t.Fatalf("source's creation time: %v", err)
	}
	if created > taken.UnixMilli() {
		out[string(keyCreated)] = string(timeKV(keyCreated, taken.UnixMilli()).v)
	}
	return out
}

// restoreAndOpen restores the backup b into dir/badger, opens it and
// verifies it (closing it in t.Cleanup).
func restoreAndOpen(t *testing.T, b []byte) (*Store, BackupInfo) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "badger")
	info, err := Restore(t.Context(), bytes.NewReader(b), RestoreOptions{Path: dir, Store: Options{NoSync: true}})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	rep, err := Verify(t.Context(), VerifyOptions{Path: dir})
	if err != nil || rep.DamagedCount() > 0 || rep.RecordsSkipped != "" {
		t.Fatalf("Verify of the restored store: %v, %+v", err, rep)
	}
	s := openTest(t, Options{Path: dir})
	return s, info
}

// TestBackupRestoreRoundTrip backs up a store holding every kind of
// record and restores it: the restored store opens, Verify finds it
// intact, and it holds the same records, read back through the store's
// methods (the active model and the rollback history too).
func TestBackupRestoreRoundTrip(t *testing.T) {
	src := openTest(t, Options{NoSync: true})
	fillEveryKind(t, src)
	want := dump(t, src)
	var buf bytes.Buffer
	var last BackupProgress
	created := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	info, err := src.Backup(t.Context(), &buf, BackupOptions{OmenVersion: "1.2.3", Now: func() time.Time { return created },
		Progress: func(p BackupProgress) { last = p }})
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if info.Records != int64(len(want)) || info.Bytes != int64(buf.Len()) || last.Records != info.Records || len(info.SHA256) != 64 {
		t.Errorf("backup info %+v (last progress %+v), want %d records in %d bytes", info, last, len(want), buf.Len())
	}
	if h := info.Header; h.OmenVersion != "1.2.3" || !h.Created.Equal(created) || h.StoreFormat != formatVersion {
		t.Errorf("header %+v", h)
	}
	dst, rinfo := restoreAndOpen(t, buf.Bytes())
	if rinfo.Records != info.Records || rinfo.Bytes != info.Bytes || rinfo.SHA256 != info.SHA256 || rinfo.Header != info.Header {
		t.Errorf("restore read %+v, backup wrote %+v", rinfo, info)
	}
	if got := dump(t, dst); !maps.Equal(got, restoredRecords(t, want, created)) {
		t.Errorf("restored store holds %d records, want %d (the source's)", len(got), len(want))
	}
	if v, gen := dst.ActiveVersion(); v != "m2" || gen == 0 {
		t.Errorf("active %q (generation %d), want m2", v, gen)
	}
	if prev, err := dst.PreviousVersion(); err != nil || prev != "m1" {
		t.Errorf("previous version %q, %v; want m1 (the rollback history)", prev, err)
	}
	if _, meta, err := dst.Model("m3"); err != nil || meta.Description != "model m3" {
		t.Errorf("model m3: %+v, %v", meta, err)
	}
	if st, err := dst.AlertState("f1"); err != nil || st.State != AlertFiring {
		t.Errorf("alert state f1: %+v, %v", st, err)
	}
	if pend, err := dst.Pending("am1", 10); err != nil || len(pend) != 1 {
		t.Errorf("pending for am1: %d items, %v; want 1", len(pend), err)
	}
	if _, err := dst.Explanation(PredictionID("node-3", 1_700_000_000_000+9*15000)); err != nil {
		t.Errorf("explanation: %v", err)
	}
	var batches int
	if err := dst.ReplayBatches(0, func(telemetry.Batch) error { batches++; return nil }); err != nil || batches != 30 {
		t.Errorf("replayed %d batches, %v; want 30", batches, err)
	}
	// The restored store takes writes after the restored records: a
	// write's version is newer than every restored one.
	if err := dst.Promote("m3"); err != nil {
		t.Fatal(err)
	}
	if v, _ := dst.ActiveVersion(); v != "m3" {
		t.Errorf("active %q after promoting m3", v)
	}
}

// TestBackupConsistentUnderWrites backs up a store while a writer goes
// on: each of its writes puts vectors of two entities whose keys are far
// apart in one transaction, and every tenth registers and promotes a
// model. The restored store holds a prefix of the writes, each whole
// (both entities' vectors, or neither), and a registry whose active
// model is the last promoted by then, with its data.
func TestBackupConsistentUnderWrites(t *testing.T) {
	src := openTest(t, Options{NoSync: true})
	fillEveryKind(t, src)
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		written atomic.Int64
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := int64(1); !stop.Load(); i++ {
			err := src.PutVectors([]Vector{
				{Entity: "aaa", T: i, Values: []float64{1, 2}, Failure: []bool{false}},
				{Entity: "zzz", T: i, Values: []float64{1, 2}, Failure: []bool{false}},
			})
			if err == nil && i%10 == 0 {
				v := "w" + strconv.FormatInt(i, 10)
				if err = src.PutModel(v, bytes.Repeat([]byte{byte(i)}, 3000), ModelMeta{}); err == nil {
					err = src.Promote(v)
				}
			}
			if err != nil {
				t.Error(err)
				return
			}
			written.Store(i)
		}
	}()
	for written.Load() < 50 { // writing before and during the backup
		time.Sleep(time.Millisecond)
	}
	var buf bytes.Buffer
	_, err := src.Backup(t.Context(), &buf, BackupOptions{})
	at := written.Load()
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	dst, _ := restoreAndOpen(t, buf.Bytes())
	times := func(entity string) []int64 {
		var ts []int64
		if err := dst.Vectors(entity, 0, 1<<40, func(v Vector) error { ts = append(ts, v.T); return nil }); err != nil {
			t.Fatal(err)
		}
		return ts
	}
	a, z := times("aaa"), times("zzz")
	if !slices.Equal(a, z) {
		t.Fatalf("restored vectors of aaa %v and zzz %v differ: a write is in the backup in part", a, z)
	}
	k := int64(len(a))
	for i, ti := range a {
		if ti != int64(i+1) {
			t.Fatalf("restored writes %v: not a prefix of the writes", a)
		}
	}
	if k < 50 || k > at+1 {
		t.Errorf("restored %d writes; %d were done when the backup started, %d when it ended", k, 50, at)
	}
	v, _ := dst.ActiveVersion()
	n, err := strconv.ParseInt(strings.TrimPrefix(v, "w"), 10, 64)
	if err != nil || n%10 != 0 || n > k || k-n >= 20 {
		t.Errorf("active model %q with %d writes restored: want the one promoted last by then", v, k)
	}
	models, err := dst.ListModels()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range models {
		if w, err := strconv.ParseInt(strings.TrimPrefix(m.Version, "w"), 10, 64); err == nil && w > k {
			t.Errorf("model %s registered after write %d is in the backup, write %d is not", m.Version, w, k+1)
		}
	}
}

// TestRestoreRefusesBrokenBackup restores backups cut short, with a byte
// changed, with another magic, or with data after them: each is refused
// with an error wrapping ErrBackupInvalid that says what is wrong, and no
// directory is left behind.
func TestRestoreRefusesBrokenBackup(t *testing.T) {
	src := openTest(t, Options{NoSync: true})
	fillEveryKind(t, src)
	var buf bytes.Buffer
	if _, err := src.Backup(t.Context(), &buf, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	_, headBytes, err := readBackupHeader(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	hl := len(headBytes)
	flip := func(i int) []byte {
		b := slices.Clone(good)
		b[i] ^= 0x20
		return b
	}
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "the file is empty"},
		{"cut in the magic", good[:5], "cut short in its header"},
		{"cut in the header", good[:hl-2], "cut short in its header"},
		{"cut after the header", good[:hl], "cut short after"},
		{"cut mid-body", good[:len(good)/2], "cut short after"},
		{"cut before the end mark", good[:len(good)-backupTrailerSize-8], fmt.Sprintf("cut short after %d bytes, before its end mark", len(good)-backupTrailerSize-8)},
		{"cut in the end mark", good[:len(good)-backupTrailerSize-3], fmt.Sprintf("cut short after %d bytes, before its end mark", len(good)-backupTrailerSize-3)},
		{"cut right after the end mark", good[:len(good)-backupTrailerSize], fmt.Sprintf("cut short after %d bytes, in its trailer", len(good)-backupTrailerSize)},
		{"cut in the trailer's counts", good[:len(good)-backupTrailerSize+5], fmt.Sprintf("cut short after %d bytes, in its trailer", len(good)-backupTrailerSize+5)},
		{"cut in the trailer's SHA-256", good[:len(good)-1], fmt.Sprintf("cut short after %d bytes, in its trailer", len(good)-1)},
		{"other magic", append([]byte("PK\x03\x04zipfile"), good[12:]...), `not an omen backup (it starts with "PK\x03\x04zipf"`},
		{"newer format", func() []byte { b := slices.Clone(good); b[9] = 2; return b }(), "backup format 2"},
		{"byte flipped in the header", flip(hl - 10), "its header is damaged"},
		{"byte flipped in a value", flip(len(good) / 2), "damaged: its SHA-256"},
		{"byte flipped in a list's length", flip(hl + 6), "damaged at byte"},
		{"byte flipped in the trailer", flip(len(good) - 5), "damaged: its SHA-256"},
		{"data after the trailer", append(slices.Clone(good), 0), "data follows its trailer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "badger")
			_, err := Restore(t.Context(), bytes.NewReader(tc.file), RestoreOptions{Path: dir, Store: Options{NoSync: true}})
			if !errors.Is(err, ErrBackupInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Restore: %v; want ErrBackupInvalid, %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
			if _, err := CheckBackup(t.Context(), bytes.NewReader(tc.file), nil); !errors.Is(err, ErrBackupInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckBackup: %v; want ErrBackupInvalid, %q", err, tc.want)
			}
		})
	}
	if _, err := CheckBackup(t.Context(), bytes.NewReader(good), nil); err != nil {
		t.Errorf("CheckBackup of the intact backup: %v", err)
	}
}

// TestRestoreEveryByteFlipped changes each byte of a small backup in
// turn (every 7th): Restore refuses each with ErrBackupInvalid, leaving
// nothing, and never panics (a changed list length must not reach
// Badger's Load as a huge allocation).
func TestRestoreEveryByteFlipped(t *testing.T) {
	src := openTest(t, Options{InMemory: true})
	if err := src.PutModel("m1", []byte("model"), ModelMeta{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Promote("m1"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := src.Backup(t.Context(), &buf, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	parent := t.TempDir()
	for i := 0; i < len(good); i += 7 {
		b := slices.Clone(good)
		b[i] ^= 0x01
		dir := filepath.Join(parent, "badger")
		_, err := Restore(t.Context(), bytes.NewReader(b), RestoreOptions{Path: dir, Store: Options{NoSync: true}})
		if !errors.Is(err, ErrBackupInvalid) {
			t.Fatalf("byte %d of %d flipped: Restore: %v; want ErrBackupInvalid", i, len(good), err)
		}
		if ents, _ := os.ReadDir(parent); len(ents) != 0 {
			t.Fatalf("byte %d flipped: left behind: %v", i, ents)
		}
	}
}

// TestRestoreRefusesNonEmptyDir: a directory holding anything (a store)
// is never restored into, and is left as it was; an empty one is.
func TestRestoreRefusesNonEmptyDir(t *testing.T) {
	src := openTest(t, Options{InMemory: true})
	if err := src.PutModel("m1", []byte("model"), ModelMeta{}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := src.Backup(t.Context(), &buf, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	dir, _ := writeClosedStore(t)
	before := dirState(t, dir)
	_, err := Restore(t.Context(), bytes.NewReader(buf.Bytes()), RestoreOptions{Path: dir})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "restore only into a new or empty directory") {
		t.Errorf("Restore into a store: %v; want ErrExists", err)
	}
	if after := dirState(t, dir); !maps.Equal(before, after) {
		t.Error("Restore changed the store it refused")
	}
	if ents, _ := os.ReadDir(filepath.Dir(dir)); len(ents) != 1 {
		t.Errorf("left beside it: %v", ents)
	}
	empty := t.TempDir()
	if _, err := Restore(t.Context(), bytes.NewReader(buf.Bytes()), RestoreOptions{Path: empty, Store: Options{NoSync: true}}); err != nil {
		t.Errorf("Restore into an empty directory: %v", err)
	}
	s := openTest(t, Options{Path: empty})
	if _, _, err := s.Model("m1"); err != nil {
		t.Error(err)
	}
}

// TestBackupDir backs up a closed store read-only (the same records as
// a backup of the open store), and refuses one an omen holds.
func TestBackupDir(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Path: dir, NoSync: true, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	fillEveryKind(t, s)
	want := dump(t, s)
	_, err = BackupDir(t.Context(), dir, io.Discard, BackupOptions{})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "omen store backup --url") {
		t.Errorf("BackupDir of an open store: %v; want ErrInUse naming --url", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before := dirState(t, dir)
	var buf bytes.Buffer
	info, err := BackupDir(t.Context(), dir, &buf, BackupOptions{})
	if err != nil {
		t.Fatalf("BackupDir: %v", err)
	}
	if after := dirState(t, dir); !maps.Equal(before, after) {
		t.Error("BackupDir changed the store's files")
	}
	if info.Records != int64(len(want)) {
		t.Errorf("%d records backed up, want %d", info.Records, len(want))
	}
	dst, _ := restoreAndOpen(t, buf.Bytes())
	if got := dump(t, dst); !maps.Equal(got, restoredRecords(t, want, info.Header.Created)) {
		t.Errorf("restored %d records, want %d", len(got), len(want))
	}
	if _, err := BackupDir(t.Context(), t.TempDir(), io.Discard, BackupOptions{}); err == nil || !strings.Contains(err.Error(), "not a store") {
		t.Errorf("BackupDir of an empty directory: %v", err)
	}
}

// cancelWriter cancels its context once n bytes were written to it.
type cancelWriter struct {
	n      int
	cancel context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.n -= len(p)
	if w.n <= 0 {
		w.cancel()
	}
	return len(p), nil
}

// TestBackupStops: a backup whose context ends, or whose writer fails,
// stops with that error (its goroutines ended: goleak in TestMain), and
// what it wrote is refused as cut short.
func TestBackupStops(t *testing.T) {
	src := openTest(t, Options{NoSync: true})
	fillEveryKind(t, src)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var buf bytes.Buffer
	cw := &cancelWriter{n: 100, cancel: cancel}
	_, err := src.Backup(ctx, io.MultiWriter(&buf, cw), BackupOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Backup: %v; want context.Canceled", err)
	}
	if _, err := CheckBackup(t.Context(), &buf, nil); !errors.Is(err, ErrBackupInvalid) || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("CheckBackup of a stopped backup: %v", err)
	}
	werr := errors.New("disk full")
	_, err = src.Backup(t.Context(), failWriter{werr}, BackupOptions{})
	if !errors.Is(err, werr) {
		t.Errorf("Backup to a failing writer: %v", err)
	}
	// The store is still usable and closes.
	if _, err := src.Backup(t.Context(), io.Discard, BackupOptions{}); err != nil {
		t.Errorf("Backup after: %v", err)
	}
}

// TestBackupWriteErrorReturned: a backup whose writer fails mid-stream
// returns the writer's error, each time: Badger's Stream, its Send
// failed, cancels its reading goroutines and returned one of their
// context errors or Send's, whichever it saw first (a stalled client's
// write timeout was then taken, and counted, for a canceled backup).
func TestBackupWriteErrorReturned(t *testing.T) {
	src := openTest(t, Options{NoSync: true})
	fillEveryKind(t, src)
	werr := errors.New("disk full")
	for i := range 20 {
		_, err := src.Backup(t.Context(), &failAfterWriter{n: 1 << 10, err: werr}, BackupOptions{})
		if !errors.Is(err, werr) || IsCanceled(err) {
			t.Fatalf("backup %d: %v; want the writer's error", i, err)
		}
	}
	if n := testutil.ToFloat64(src.m.backups.WithLabelValues("failed")); n != 20 {
		t.Errorf("%v backups counted failed; want 20", n)
	}
}

// failAfterWriter fails with err once n bytes are written.
type failAfterWriter struct {
	n   int
	err error
}

func (w *failAfterWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, w.err
	}
	return len(p), nil
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

// FuzzReadBackupHeader: the header decoder never panics, refuses what
// it does not read with ErrBackupInvalid, and what it reads encodes back
// to the bytes it read.
func FuzzReadBackupHeader(f *testing.F) {
	good, err := encodeBackupHeader(BackupHeader{OmenVersion: "1.0", Created: time.Unix(1_700_000_000, 0).UTC(), StoreFormat: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:10])
	f.Add([]byte(backupMagic))
	f.Add(append([]byte(backupMagic), 0, 1, 0xff, 0xff, 0xff, 0xff))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, head, err := readBackupHeader(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrBackupInvalid) {
				t.Fatalf("error %v does not wrap ErrBackupInvalid", err)
			}
			return
		}
		if !bytes.HasPrefix(b, head) {
			t.Fatalf("header bytes %q are not the input's start", head)
		}
		again, err := ReadBackupHeader(bytes.NewReader(head))
		if err != nil || again != h {
			t.Fatalf("re-read %+v, %v; want %+v", again, err, h)
		}
	})
}

// TestRestoreRefusesFullDisk: a restore whose filesystem has less free
// space than the backup and the store's disk reserve is refused before
// anything is made (Badger would die of SIGBUS on a full filesystem).
func TestRestoreRefusesFullDisk(t *testing.T) {
	src := openTest(t, Options{InMemory: true})
	if err := src.PutModel("m1", []byte("model"), ModelMeta{}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := src.Backup(t.Context(), &buf, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	const reserve = 100 << 20
	for _, tc := range []struct {
		name string
		free uint64
		size int64
		ok   bool
	}{
		{"below the reserve", reserve - 1, 0, false},
		{"reserve free, not the backup besides", reserve + 1000, 2000, false},
		{"room for both", reserve + 3000, 2000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "badger")
			free := func(string) (uint64, error) { return tc.free, nil }
			_, err := Restore(t.Context(), bytes.NewReader(buf.Bytes()), RestoreOptions{Path: dir, Size: tc.size,
				Store: Options{NoSync: true, DiskReserve: reserve, DiskFree: free}})
			if tc.ok {
				if err != nil {
					t.Errorf("Restore: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrDiskFull) {
				t.Errorf("Restore: %v; want ErrDiskFull", err)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}

// TestBackupMetrics: each backup counts in omen_store_backups_total by
// its result (canceled: its context ended; failed: another error), its
// bytes written in omen_store_backup_bytes_total whatever the result, a
// success sets omen_store_backup_last_success_timestamp_seconds and is
// observed in omen_store_backup_duration_seconds, a failure sets
// omen_store_backup_last_failure_timestamp_seconds.
func TestBackupMetrics(t *testing.T) {
	clock := newFakeClock(1_700_000_000_000)
	reg := prometheus.NewRegistry()
	s := openTest(t, Options{NoSync: true, Registerer: reg, Now: clock.Now})
	fillEveryKind(t, s)
	type want struct {
		success, failed, canceled float64
		lastOK, lastBad           float64
		durations                 uint64
	}
	var total int64 // bytes written by the backups so far
	for _, tc := range []struct {
		name  string
		at    int64 // clock, ms
		run   func() (int64, error)
		want  want
		isErr bool
	}{
		{"success", 1_700_000_001_000, func() (int64, error) {
			var buf bytes.Buffer
			info, err := s.Backup(t.Context(), &buf, BackupOptions{})
			if int64(buf.Len()) != info.Bytes {
				t.Errorf("info.Bytes %d, %d written", info.Bytes, buf.Len())
			}
			return int64(buf.Len()), err
		}, want{1, 0, 0, 1_700_000_001, 0, 1}, false},
		{"failed", 1_700_000_002_500, func() (int64, error) {
			info, err := s.Backup(t.Context(), failWriter{errors.New("disk full")}, BackupOptions{})
			return info.Bytes, err
		}, want{1, 1, 0, 1_700_000_001, 1_700_000_002.5, 1}, true},
		{"canceled", 1_700_000_003_000, func() (int64, error) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cw := &cancelWriter{n: 100, cancel: cancel}
			var buf bytes.Buffer
			info, err := s.Backup(ctx, io.MultiWriter(&buf, cw), BackupOptions{})
			if int64(buf.Len()) != info.Bytes || info.Bytes == 0 {
				t.Errorf("info.Bytes %d, %d written", info.Bytes, buf.Len())
			}
			return info.Bytes, err
		}, want{1, 1, 1, 1_700_000_001, 1_700_000_002.5, 1}, true},
		{"success again", 1_700_000_004_000, func() (int64, error) {
			info, err := s.Backup(t.Context(), io.Discard, BackupOptions{})
			return info.Bytes, err
		}, want{2, 1, 1, 1_700_000_004, 1_700_000_002.5, 2}, false},
	} {
		clock.Set(tc.at)
		n, err := tc.run()
		if (err != nil) != tc.isErr {
			t.Fatalf("%s: Backup: %v", tc.name, err)
		}
		total += n
		got := want{
			success:  testutil.ToFloat64(s.m.backups.WithLabelValues("success")),
			failed:   testutil.ToFloat64(s.m.backups.WithLabelValues("failed")),
			canceled: testutil.ToFloat64(s.m.backups.WithLabelValues("canceled")),
			lastOK:   testutil.ToFloat64(s.m.backupLastOK),
			lastBad:  testutil.ToFloat64(s.m.backupLastBad),
		}
		var m dto.Metric
		if err := s.m.backupSeconds.Write(&m); err != nil {
			t.Fatal(err)
		}
		got.durations = m.GetHistogram().GetSampleCount()
		if got != tc.want {
			t.Errorf("after %s: %+v; want %+v", tc.name, got, tc.want)
		}
		if b := testutil.ToFloat64(s.m.backupBytes); b != float64(total) {
			t.Errorf("after %s: backup_bytes_total %v; want %d", tc.name, b, total)
		}
	}
	// Registered under the names the README and the example rules use.
	for _, name := range []string{"omen_store_backups_total", "omen_store_backup_last_success_timestamp_seconds",
		"omen_store_backup_last_failure_timestamp_seconds", "omen_store_backup_bytes_total", "omen_store_backup_duration_seconds"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n == 0 {
			t.Errorf("%s: %d series, %v", name, n, err)
		}
	}
}

// TestIsCanceled: a context's error, wrapped too, is a canceled
// backup's; a write deadline's (a stalled client) and others are not.
func TestIsCanceled(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{context.Canceled, true},
		{fmt.Errorf("back up store: %w", context.Canceled), true},
		{fmt.Errorf("back up store: %w", context.DeadlineExceeded), true},
		{os.ErrDeadlineExceeded, false},
		{io.ErrUnexpectedEOF, false},
		{nil, false},
	} {
		if got := IsCanceled(tc.err); got != tc.want {
			t.Errorf("IsCanceled(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
