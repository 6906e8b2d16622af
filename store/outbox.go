package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// OutboxItem is a notification waiting to be delivered to every one of its
// Targets (Alertmanager URLs or names).
type OutboxItem struct {
	// ID is assigned by Enqueue, increasing in enqueue order.
	ID uint64
	// Created is the enqueue time in ms; Enqueue sets it to now when 0.
	// Retention expires items by Created.
	Created int64
	// Since is, for an item replacing older ones (the alert package
	// compacts an unreachable Alertmanager's backlog into one item), the
	// time in ms since when its notifications have been undelivered: the
	// least Created (or Since) of the items it replaces. 0 means Created.
	// Retention ignores it.
	Since int64
	// Targets that must each acknowledge the item before it is deleted.
	Targets []string
	// Payload is the notification body (e.g. Alertmanager v2 JSON).
	Payload []byte
}

// Alert states.
const (
	AlertPending  = "pending"
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// AlertState is the notification state of one alert, kept so that a
// restart resumes hysteresis and resends.
type AlertState struct {
	Fingerprint string
	// State is AlertPending, AlertFiring or AlertResolved.
	State string
	// Times in ms since the epoch; 0 when not applicable.
	ActiveAt   int64
	ResolvedAt int64
	LastSent   int64
	// Updated is set by PutAlertState to now when 0; retention drops
	// non-firing states not updated within Retention.
	Updated int64
	Labels  map[string]string
	// Data is opaque to the store (e.g. JSON annotations).
	Data []byte
}

func outItemKey(id uint64) []byte { return binary.BigEndian.AppendUint64([]byte{pOutItem}, id) }

func outPendingKey(target string, id uint64) []byte {
	return binary.BigEndian.AppendUint64(namePrefix(pOutPending, target), id)
}

// Enqueue durably adds items to the outbox, pending for each of their
// Targets, in one transaction. It sets items[i].ID (and Created when 0).
// Payloads are copied.
func (s *Store) Enqueue(items []OutboxItem) error {
	if err := s.enterAlertWrite("outbox"); err != nil {
		return err
	}
	defer s.exit()
	if len(items) == 0 {
		return nil
	}
	for i := range items {
		if len(items[i].Targets) == 0 {
			return fmt.Errorf("enqueue: item %d has no targets", i)
		}
		for _, t := range items[i].Targets {
			if err := validName("outbox target", t); err != nil {
				return fmt.Errorf("enqueue: %w", err)
			}
		}
	}
	start := time.Now()
	s.outMu.Lock()
	defer s.outMu.Unlock()
	now := s.opts.Now().UnixMilli()
	ids := make([]uint64, len(items))
	created := make([]int64, len(items))
	err := s.db.Update(func(txn *badger.Txn) error {
		next, err := getU64(txn, keyOutSeq)
		if err != nil {
			return err
		}
		for i := range items {
			next++
			ids[i] = next
			created[i] = items[i].Created
			if created[i] == 0 {
				created[i] = now
			}
			it := items[i]
			it.ID, it.Created = next, created[i]
			if err := txn.Set(outItemKey(next), encodeOutboxItem(&it)); err != nil {
				return err
			}
			for _, t := range it.Targets {
				if err := txn.Set(outPendingKey(t, next), nil); err != nil {
					return err
				}
			}
		}
		return txn.Set(keyOutSeq, u64(next))
	})
	if err != nil {
		return fmt.Errorf("enqueue %d outbox items: %w", len(items), err)
	}
	for i := range items {
		items[i].ID, items[i].Created = ids[i], created[i]
	}
	s.observe("outbox", len(items), start)
	return nil
}

// Pending returns up to limit (all if limit ≤ 0) items not yet
// acknowledged by target, oldest first.
func (s *Store) Pending(target string, limit int) ([]OutboxItem, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	var out []OutboxItem
	p := namePrefix(pOutPending, target)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Rewind(); it.Valid() && (limit <= 0 || len(out) < limit); it.Next() {
			k := it.Item().Key()
			if len(k) != len(p)+8 {
				return fmt.Errorf("malformed outbox key %x", k)
			}
			id := binary.BigEndian.Uint64(k[len(p):])
			item, err := txn.Get(outItemKey(id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue // dropped by retention
			}
			if err != nil {
				return err
			}
			var o OutboxItem
			if err := item.Value(func(v []byte) error { o, err = decodeOutboxItem(v); return err }); err != nil {
				return fmt.Errorf("decode outbox item %d: %w", id, err)
			}
			o.ID = id
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pending outbox items of %q: %w", target, err)
	}
	return out, nil
}

// Ack records that target has received the items ids. An item acknowledged
// by all its targets is deleted. Unknown or already acknowledged ids are
// ignored.
func (s *Store) Ack(target string, ids []uint64) error {
	if err := s.enterAlertWrite("outbox_ack"); err != nil {
		return err
	}
	defer s.exit()
	if len(ids) == 0 {
		return nil
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	err := s.db.Update(func(txn *badger.Txn) error {
		for _, id := range ids {
			if err := s.ackOne(txn, target, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ack %d outbox items for %q: %w", len(ids), target, err)
	}
	return nil
}

func (s *Store) ackOne(txn *badger.Txn, target string, id uint64) error {
	pk := outPendingKey(target, id)
	if _, err := txn.Get(pk); errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if err := txn.Delete(pk); err != nil {
		return err
	}
	item, err := txn.Get(outItemKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var o OutboxItem
	if err := item.Value(func(v []byte) error { o, err = decodeOutboxItem(v); return err }); err != nil {
		return err
	}
	for _, t := range o.Targets {
		if t == target {
			continue
		}
		if _, err := txn.Get(outPendingKey(t, id)); err == nil {
			return nil // still pending elsewhere
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
	}
	return txn.Delete(outItemKey(id))
}

// DropTarget acknowledges everything pending for target, for a target
// removed from the configuration.
func (s *Store) DropTarget(target string) error {
	if err := s.check(); err != nil {
		return err
	}
	for {
		items, err := s.Pending(target, 1000)
		if err != nil {
			return fmt.Errorf("drop outbox target %q: %w", target, err)
		}
		if len(items) == 0 {
			return nil
		}
		ids := make([]uint64, len(items))
		for i := range items {
			ids[i] = items[i].ID
		}
		if err := s.Ack(target, ids); err != nil {
			return fmt.Errorf("drop outbox target %q: %w", target, err)
		}
	}
}

// Outbox item encoding v1: byte 1, varint created, uvarint n, n × str
// target, str payload. The ID is in the key. v2, only for an item with a
// Since other than 0 and Created: byte 2, varint created, varint since,
// then as v1. Both are read; items without a Since stay v1, so that an
// omen reading only v1 still reads them (it fails on a v2 item, which only
// the compaction of an unreachable Alertmanager's backlog writes).
func encodeOutboxItem(o *OutboxItem) []byte {
	b := make([]byte, 0, 24+len(o.Payload))
	if o.Since == 0 || o.Since == o.Created {
		b = append(b, 1)
		b = binary.AppendVarint(b, o.Created)
	} else {
		b = append(b, 2)
		b = binary.AppendVarint(b, o.Created)
		b = binary.AppendVarint(b, o.Since)
	}
	b = binary.AppendUvarint(b, uint64(len(o.Targets)))
	for _, t := range o.Targets {
		b = appendStr(b, t)
	}
	b = binary.AppendUvarint(b, uint64(len(o.Payload)))
	return append(b, o.Payload...)
}

func decodeOutboxItem(data []byte) (OutboxItem, error) {
	var o OutboxItem
	r := reader{b: data}
	ver := r.byte1()
	if r.err == nil && ver != 1 && ver != 2 {
		return o, fmt.Errorf("%w: outbox item version %d", errCorrupt, ver)
	}
	o.Created = r.varint()
	if ver == 2 {
		o.Since = r.varint()
	}
	n := r.count(1)
	for i := 0; i < n && r.err == nil; i++ {
		o.Targets = append(o.Targets, r.str())
	}
	o.Payload = cloneBytes(r.bytes())
	return o, r.done()
}

// cloneBytes copies b; empty input gives nil.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}

// PutAlertState stores st under st.Fingerprint, replacing any previous
// state. Updated is set to now when 0.
func (s *Store) PutAlertState(st AlertState) error {
	if err := s.enterAlertWrite("alert_state"); err != nil {
		return err
	}
	defer s.exit()
	if err := validName("alert fingerprint", st.Fingerprint); err != nil {
		return fmt.Errorf("put alert state: %w", err)
	}
	start := time.Now()
	if st.Updated == 0 {
		st.Updated = s.opts.Now().UnixMilli()
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if err := s.writeKVs([]kv{{nameKey(pAlert, st.Fingerprint), encodeAlertState(&st)}}); err != nil {
		return fmt.Errorf("put alert state %q: %w", st.Fingerprint, err)
	}
	s.observe("alert_state", 1, start)
	return nil
}

// AlertState returns the state stored for fingerprint, or an error
// wrapping ErrNotFound.
func (s *Store) AlertState(fingerprint string) (AlertState, error) {
	if err := s.enter(); err != nil {
		return AlertState{}, err
	}
	defer s.exit()
	var st AlertState
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(nameKey(pAlert, fingerprint))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { st, err = decodeAlertState(v); return err })
	})
	if err != nil {
		return AlertState{}, fmt.Errorf("alert state %q: %w", fingerprint, err)
	}
	return st, nil
}

// AlertStates returns every stored alert state, ordered by fingerprint.
func (s *Store) AlertStates() ([]AlertState, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	var out []AlertState
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{pAlert}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var st AlertState
			if err := it.Item().Value(func(v []byte) error {
				var err error
				st, err = decodeAlertState(v)
				return err
			}); err != nil {
				return err
			}
			out = append(out, st)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list alert states: %w", err)
	}
	return out, nil
}

// DeleteAlertState removes the state of fingerprint (absent is not an
// error).
func (s *Store) DeleteAlertState(fingerprint string) error {
	if err := s.enterAlertWrite("alert_state_delete"); err != nil {
		return err
	}
	defer s.exit()
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(nameKey(pAlert, fingerprint)) }); err != nil {
		return fmt.Errorf("delete alert state %q: %w", fingerprint, err)
	}
	return nil
}

// Alert state encoding v1: byte 1, str fingerprint, str state, varint
// activeAt, resolvedAt, lastSent, updated, labels, str data.
func encodeAlertState(st *AlertState) []byte {
	b := []byte{1}
	b = appendStr(b, st.Fingerprint)
	b = appendStr(b, st.State)
	for _, t := range []int64{st.ActiveAt, st.ResolvedAt, st.LastSent, st.Updated} {
		b = binary.AppendVarint(b, t)
	}
	b = appendLabelMap(b, st.Labels)
	b = binary.AppendUvarint(b, uint64(len(st.Data)))
	return append(b, st.Data...)
}

func decodeAlertState(data []byte) (AlertState, error) {
	var st AlertState
	r := reader{b: data}
	if ver := r.byte1(); r.err == nil && ver != 1 {
		return st, fmt.Errorf("%w: alert state version %d", errCorrupt, ver)
	}
	st.Fingerprint = r.str()
	st.State = r.str()
	st.ActiveAt = r.varint()
	st.ResolvedAt = r.varint()
	st.LastSent = r.varint()
	st.Updated = r.varint()
	st.Labels = r.labelMap()
	st.Data = cloneBytes(r.bytes())
	return st, r.done()
}
