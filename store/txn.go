package store

import (
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

type kv struct {
	k, v []byte
}

// writeKVs sets entries in one transaction, splitting it into several
// (committed in order) if Badger finds it too big. Blind writes never
// conflict.
func (s *Store) writeKVs(entries []kv) error {
	if len(entries) == 0 {
		return nil
	}
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for _, e := range entries {
		err := txn.Set(e.k, e.v)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return err
			}
			txn = s.db.NewTransaction(true)
			err = txn.Set(e.k, e.v)
		}
		if err != nil {
			return err
		}
	}
	return txn.Commit()
}

// scanRange iterates keys prefix | name | 0x00 | sortable(t) | rest with
// from ≤ t ≤ to, in key order, calling fn with t, rest and the value (valid
// only during the call).
func (s *Store) scanRange(prefix byte, name string, from, to int64, fn func(t int64, rest, val []byte) error) error {
	if from > to {
		return nil
	}
	p := namePrefix(prefix, name)
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 100, Prefix: p})
		defer it.Close()
		for it.Seek(appendTime(p, from)); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()[len(p):]
			t, ok := keyTime(k)
			if !ok {
				return fmt.Errorf("malformed key %x", item.Key())
			}
			if t > to {
				return nil
			}
			if err := item.Value(func(v []byte) error { return fn(t, k[8:], v) }); err != nil {
				return err
			}
		}
		return nil
	})
}
