package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// The store keeps two times of its own, so that the backup metrics do not
// start over with each start of omen (a pod recreated under a new
// address, say):
//
//	'B'  when the last successful Backup finished (a restored store: when
//	     the backup it came from was taken)
//	'I'  when the store was created (one an omen older than this record
//	     made: when an omen first opened it since; a restored store: its
//	     source's, or the backup's time if that is earlier)
//
// each a version byte (timeRecordVersion) and a sortable time in ms, as
// the step cursor.
var (
	keyLastBackup = []byte{pLastBackup}
	keyCreated    = []byte{pCreated}
)

// timeRecordVersion is the version byte of the 'B' and 'I' records.
const timeRecordVersion = 1

func timeKV(k []byte, t int64) kv {
	return kv{k, binary.BigEndian.AppendUint64([]byte{timeRecordVersion}, sortable(t))}
}

// decodeTimeRecord decodes the value of a 'B' or 'I' record.
func decodeTimeRecord(v []byte) (int64, error) {
	if len(v) != 9 || v[0] != timeRecordVersion {
		return 0, fmt.Errorf("time record %x, want version %d and 8 bytes", v, timeRecordVersion)
	}
	return unsortable(binary.BigEndian.Uint64(v[1:])), nil
}

// getTime reads the time record at k; ok is false when there is none.
func getTime(txn *badger.Txn, k []byte) (t int64, ok bool, err error) {
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	err = item.Value(func(v []byte) error {
		t, err = decodeTimeRecord(v)
		return err
	})
	return t, err == nil, err
}

// loadTimes reads the store's creation time and its last backup's,
// recording now as the creation time when the store has none (a new
// store, or one an older omen made).
func (s *Store) loadTimes(isNew bool) error {
	return s.db.Update(func(txn *badger.Txn) error {
		created, ok, err := getTime(txn, keyCreated)
		if err != nil {
			return fmt.Errorf("read creation time: %w", err)
		}
		if !ok {
			created = s.opts.Now().UnixMilli()
			if !isNew {
				s.logger.Info("store has no creation time (an older omen made it): recording this start's as omen_store_created_timestamp_seconds",
					"path", s.opts.Path, "created", time.UnixMilli(created).UTC())
			}
			e := timeKV(keyCreated, created)
			if err := txn.Set(e.k, e.v); err != nil {
				return err
			}
		}
		s.created = created
		last, ok, err := getTime(txn, keyLastBackup)
		if err != nil {
			return fmt.Errorf("read last backup time: %w", err)
		}
		if ok {
			s.lastBackup.Store(last)
		}
		return nil
	})
}

// recordBackup records t (ms) as the last successful backup's time, in
// the store and in omen_store_backup_last_success_timestamp_seconds. The
// gauge is set even when the record cannot be written (the disk below
// half its reserve, a write error: logged): the backup did succeed.
// Called within enter.
func (s *Store) recordBackup(t int64) {
	s.lastBackup.Store(t)
	s.m.backupLastOK.Set(float64(t) / 1e3)
	err := s.belowHalfReserve("backup_time")
	if err == nil {
		err = s.writeKVs([]kv{timeKV(keyLastBackup, t)})
	}
	if err != nil {
		s.logger.Warn("store backup succeeded, but its time was not recorded in the store: a restart exports the previous backup's",
			"path", s.opts.Path, "err", err)
		return
	}
	s.m.writes.WithLabelValues("backup_time").Inc()
}

// markRestored records at (the time of the backup a store was restored
// from) as its last successful backup's, and as its creation time when
// that is later (a store created since, by the open that checked it, or
// a source whose clock was ahead).
func (s *Store) markRestored(at time.Time) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	t := at.UnixMilli()
	entries := []kv{timeKV(keyLastBackup, t)}
	if s.created > t {
		entries = append(entries, timeKV(keyCreated, t))
	}
	if err := s.writeKVs(entries); err != nil {
		return fmt.Errorf("record the backup's time %s: %w", at.UTC().Format(time.RFC3339), err)
	}
	return nil
}
