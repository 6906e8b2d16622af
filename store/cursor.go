package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// keyStepCursor holds the evaluator's step cursor.
var keyStepCursor = []byte{pStepCursor}

// stepCursorVersion is the value's version byte.
const stepCursorVersion = 1

// PutStepCursor records t (ms) as the last step the evaluator evaluated,
// so that a restarted daemon resumes after it. One small key, overwritten
// at every step: one transaction, fsync'd before returning (unless
// Options.NoSync). It fails with ErrDiskFull while the disk is nearly full,
// as the step's vectors do.
func (s *Store) PutStepCursor(t int64) error {
	if err := s.enterWrite("step_cursor"); err != nil {
		return err
	}
	defer s.exit()
	start := time.Now()
	if err := s.writeKVs([]kv{stepCursorKV(t)}); err != nil {
		return fmt.Errorf("put step cursor: %w", err)
	}
	s.observe("step_cursor", 1, start)
	return nil
}

// PutVectorsStepCursor is PutVectors that also records cursor as the step
// cursor (PutStepCursor), in the vectors' transaction (the last one, if
// it is split): no transaction or fsync of its own.
func (s *Store) PutVectorsStepCursor(vs []Vector, cursor int64) error {
	if err := s.putVectors(vs, []kv{stepCursorKV(cursor)}); err != nil {
		return err
	}
	s.m.writes.WithLabelValues("step_cursor").Inc()
	return nil
}

func stepCursorKV(t int64) kv {
	return kv{keyStepCursor, binary.BigEndian.AppendUint64([]byte{stepCursorVersion}, sortable(t))}
}

// StepCursor returns the step PutStepCursor recorded last (ms); ok is false
// when none was (a new store, or one written by an omen that did not record
// it).
func (s *Store) StepCursor() (t int64, ok bool, err error) {
	if err := s.enter(); err != nil {
		return 0, false, err
	}
	defer s.exit()
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyStepCursor)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 9 || v[0] != stepCursorVersion {
				return fmt.Errorf("malformed value %x", v)
			}
			t, ok = unsortable(binary.BigEndian.Uint64(v[1:])), true
			return nil
		})
	})
	if err != nil {
		return 0, false, fmt.Errorf("read step cursor: %w", err)
	}
	return t, ok, nil
}
