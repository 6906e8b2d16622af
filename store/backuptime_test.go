package store

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// gauges reads omen_store_backup_last_success_timestamp_seconds and
// omen_store_created_timestamp_seconds from reg, as Prometheus would
// scrape them.
func gauges(t *testing.T, reg *prometheus.Registry) (lastOK, created float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, mf := range mfs {
		switch mf.GetName() {
		case "omen_store_backup_last_success_timestamp_seconds":
			lastOK, found = mf.GetMetric()[0].GetGauge().GetValue(), found+1
		case "omen_store_created_timestamp_seconds":
			created, found = mf.GetMetric()[0].GetGauge().GetValue(), found+1
		}
	}
	if found != 2 {
		t.Fatalf("%d of the 2 gauges registered", found)
	}
	return lastOK, created
}

// reopen opens the store at dir with the clock at ms and a registry of
// its own, closing it in t.Cleanup.
func reopen(t *testing.T, dir string, ms int64) (*Store, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return openTest(t, Options{Path: dir, NoSync: true, Registerer: reg, Now: newFakeClock(ms).Now}), reg
}

// TestBackupTimeSurvivesRestart: the last successful backup's time is
// kept in the store, so a reopened store exports it in
// omen_store_backup_last_success_timestamp_seconds from the start (it
// was 0 until the first backup since the start, so that a restart, or a
// pod recreated under a new address, started OmenBackupStale's grace
// over); the store's creation time, recorded at its first open, is
// exported in omen_store_created_timestamp_seconds and kept too. A failed
// backup changes neither.
func TestBackupTimeSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	const t0 = 1_700_000_000_000
	s, reg := reopen(t, dir, t0)
	if ok, c := gauges(t, reg); ok != 0 || c != t0/1e3 {
		t.Errorf("new store: last success %v, created %v; want 0 and %v", ok, c, t0/1e3)
	}
	clock := newFakeClock(t0 + 3_600_000)
	s.opts.Now = clock.Now
	if _, err := s.Backup(t.Context(), io.Discard, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	clock.Set(t0 + 7_200_000)
	if _, err := s.Backup(t.Context(), failWriter{io.ErrClosedPipe}, BackupOptions{}); err == nil {
		t.Fatal("a backup to a failing writer succeeded")
	}
	if ok, _ := gauges(t, reg); ok != (t0+3_600_000)/1e3 {
		t.Errorf("after the backup: last success %v", ok)
	}
	if n := testutil.ToFloat64(s.m.writes.WithLabelValues("backup_time")); n != 1 {
		t.Errorf("omen_store_writes_total{kind=\"backup_time\"} %v, want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int64{t0 + 86_400_000, t0 + 2*86_400_000} {
		s, reg := reopen(t, dir, at)
		if ok, c := gauges(t, reg); ok != (t0+3_600_000)/1e3 || c != t0/1e3 {
			t.Errorf("reopened at %d: last success %v, created %v; want %v and %v", at, ok, c, (t0+3_600_000)/1e3, t0/1e3)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCreatedTimeOfOlderStore: a store an older omen made has no
// creation time: the first open by this omen records its own time, and
// later opens keep it.
func TestCreatedTimeOfOlderStore(t *testing.T) {
	dir := t.TempDir()
	s, _ := reopen(t, dir, 1_000_000)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(keyCreated) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int64{5_000_000, 9_000_000} {
		s, reg := reopen(t, dir, at)
		if ok, c := gauges(t, reg); ok != 0 || c != 5_000 {
			t.Errorf("opened at %d: last success %v, created %v; want 0 and 5000 (the first open's)", at, ok, c)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRestoredBackupTime: a restored store's last successful backup is
// the one it came from, taken at its header's time (not the source's
// backup before it, which the records hold, nor none); its creation time
// is its source's, or that time when the source had none (an older omen
// made it).
func TestRestoredBackupTime(t *testing.T) {
	const t0 = 1_700_000_000_000
	taken := time.UnixMilli(t0 + 50*3_600_000)
	for _, tc := range []struct {
		name        string
		olderSource bool // the source has no creation time
		wantCreated int64
	}{
		{"source with a creation time", false, t0},
		{"source an older omen made", true, taken.UnixMilli()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, _ := reopen(t, t.TempDir(), t0)
			src.opts.Now = newFakeClock(t0 + 3_600_000).Now
			if _, err := src.Backup(t.Context(), io.Discard, BackupOptions{}); err != nil { // the records' 'B'
				t.Fatal(err)
			}
			if tc.olderSource {
				if err := src.db.Update(func(txn *badger.Txn) error { return txn.Delete(keyCreated) }); err != nil {
					t.Fatal(err)
				}
			}
			var buf bytes.Buffer
			if _, err := src.Backup(t.Context(), &buf, BackupOptions{Now: func() time.Time { return taken }}); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "badger")
			// The restore's own clock is a day after the backup.
			if _, err := Restore(t.Context(), &buf, RestoreOptions{Path: dir, Store: Options{NoSync: true, Now: newFakeClock(taken.UnixMilli() + 86_400_000).Now}}); err != nil {
				t.Fatal(err)
			}
			_, reg := reopen(t, dir, taken.UnixMilli()+2*86_400_000)
			if ok, c := gauges(t, reg); ok != float64(taken.UnixMilli())/1e3 || c != float64(tc.wantCreated)/1e3 {
				t.Errorf("restored: last success %v, created %v; want %v and %v", ok, c, float64(taken.UnixMilli())/1e3, float64(tc.wantCreated)/1e3)
			}
		})
	}
}
