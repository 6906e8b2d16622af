package app

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
)

// TestCorruptActiveModelRefusedOnce: the active model's data damaged on
// disk (a flipped byte, its checksum no longer matches) is refused as an
// unusable model, once: the registry check every 2 s logged "load
// promoted model" at ERROR for good, as if reading it again could mend
// it (crash-safety review, finding 4).
func TestCorruptActiveModelRefusedOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	m := testModel(t, features.Names(cfg.Config), 4, 8, 1)
	st, err := store.Open(store.Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, data := promoteTestModel(t, st, m)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	flipModelByte(t, dir, data)

	st, err = store.Open(store.Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var logs testenv.SyncBuffer
	s, err := newScorer(scorerOptions{Store: st, Config: cfg, Registerer: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if got := logs.String(); !strings.Contains(got, "no usable model") || !strings.Contains(got, "omen model rollback") {
		t.Errorf("start log does not refuse the damaged model and name the way out:\n%s", got)
	}
	for i := range 3 {
		if err := s.reloadModel(); err != nil {
			t.Fatalf("registry check %d after the start: %v (want nil: the damaged model is refused until another is promoted)", i+1, err)
		}
	}
}

// flipModelByte flips one byte of the stored model data data in the
// Badger database under dir (the store is closed).
func flipModelByte(t *testing.T, dir string, data []byte) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	var key, val []byte
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) > 64 && bytes.HasPrefix(data, v) {
				key, val = it.Item().KeyCopy(nil), v
				return nil
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if key == nil {
		t.Fatal("model data not found in the store")
	}
	val[len(val)/2] ^= 0x40
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set(key, val) }); err != nil {
		t.Fatal(err)
	}
}
