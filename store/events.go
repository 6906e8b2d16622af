package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// PutEvents stores evs as events of entity. An event is identified by
// (entity, T, Source, Reason, UID, Message): putting the same event again
// overwrites it, so redelivery is idempotent. One transaction per call,
// fsync'd before returning. evs is not retained.
func (s *Store) PutEvents(entity string, evs []telemetry.Event) error {
	if err := s.enterWrite("event"); err != nil {
		return err
	}
	defer s.exit()
	if err := validName("entity", entity); err != nil {
		return fmt.Errorf("put events: %w", err)
	}
	start := time.Now()
	entries := make([]kv, len(evs))
	for i := range evs {
		ev := &evs[i]
		k := nameTimeKey(pEvent, entity, ev.T)
		k = binary.BigEndian.AppendUint64(k, eventHash(ev))
		entries[i] = kv{k, encodeEvent(ev)}
	}
	if err := s.writeKVs(entries); err != nil {
		return fmt.Errorf("put events of %q: %w", entity, err)
	}
	s.observe("event", len(evs), start)
	return nil
}

// Events calls fn, in time order, for each event of entity with
// from ≤ T ≤ to (ms). fn owns the event; an error from fn stops the scan
// and is returned wrapped.
func (s *Store) Events(entity string, from, to int64, fn func(telemetry.Event) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	err := s.scanRange(pEvent, entity, from, to, func(t int64, _, val []byte) error {
		ev, err := decodeEvent(val)
		if err != nil {
			return err
		}
		ev.T = t
		return fn(ev)
	})
	if err != nil {
		return fmt.Errorf("read events of %q: %w", entity, err)
	}
	return nil
}

func eventHash(ev *telemetry.Event) uint64 {
	h := fnv.New64a()
	for _, s := range []string{ev.Source, ev.Reason, ev.UID, ev.Message} {
		_, _ = h.Write([]byte(s))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}

// Event encoding v1: byte 1, str source, str reason, str type, varint
// count, uvarint n + n × (str name, str value), str message, str uid. T is
// in the key.
func encodeEvent(ev *telemetry.Event) []byte {
	b := make([]byte, 0, 64+len(ev.Message))
	b = append(b, 1)
	b = appendStr(b, ev.Source)
	b = appendStr(b, ev.Reason)
	b = appendStr(b, ev.Type)
	b = binary.AppendVarint(b, int64(ev.Count))
	b = binary.AppendUvarint(b, uint64(ev.Labels.Len()))
	ev.Labels.Range(func(l labels.Label) {
		b = appendStr(b, l.Name)
		b = appendStr(b, l.Value)
	})
	b = appendStr(b, ev.Message)
	return appendStr(b, ev.UID)
}

func decodeEvent(data []byte) (telemetry.Event, error) {
	var ev telemetry.Event
	r := reader{b: data}
	if ver := r.byte1(); r.err == nil && ver != 1 {
		return ev, fmt.Errorf("%w: event version %d", errCorrupt, ver)
	}
	ev.Source = r.str()
	ev.Reason = r.str()
	ev.Type = r.str()
	c := r.varint()
	if c < math.MinInt32 || c > math.MaxInt32 {
		r.fail("event count out of range")
	}
	ev.Count = int(c)
	n := r.count(2)
	sb := labels.NewScratchBuilder(n)
	for i := 0; i < n && r.err == nil; i++ {
		name := r.str()
		sb.Add(name, r.str())
	}
	sb.Sort()
	ev.Labels = sb.Labels()
	ev.Message = r.str()
	ev.UID = r.str()
	if err := r.done(); err != nil {
		return telemetry.Event{}, err
	}
	return ev, nil
}
