package alert

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/omen-sre/omen/store"
)

// FuzzDecodeState feeds arbitrary persisted alert states to decodeState: it
// must not panic, and what it accepts must encode and decode to the same
// state.
func FuzzDecodeState(f *testing.F) {
	s := &entityState{
		Key: "k", Entity: "shop/a", Labels: map[string]string{"alertname": AlertName, "pod": "a"},
		State: store.AlertFiring, ActiveAt: time.UnixMilli(1700000000000), LastSent: time.UnixMilli(1700000060000),
		Severity: SeverityWarning, Explanation: &Explanation{TopCauses: []Cause{{Name: "cpu", Kind: "metric", Share: 0.5}}},
		Last: pred("a", time.UnixMilli(1700000000000), 0.8),
	}
	st, err := s.encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(st.State, st.Data)
	f.Add(store.AlertPending, []byte(`{"entity":"x","count":1,"last":{"t":1}}`))
	f.Add("bogus", []byte(`{}`))
	f.Fuzz(func(t *testing.T, state string, data []byte) {
		in := store.AlertState{Fingerprint: "k", State: state, Labels: map[string]string{"alertname": AlertName}, Data: data, ActiveAt: 5}
		s, err := decodeState(in)
		if err != nil {
			return
		}
		out, err := s.encode()
		if err != nil {
			t.Fatalf("encode decoded state: %v", err)
		}
		s2, err := decodeState(out)
		if err != nil {
			t.Fatalf("decode re-encoded state: %v", err)
		}
		if s2.core() != s.core() || s2.Entity != s.Entity || s2.Severity != s.Severity {
			t.Fatalf("round trip changed the state: %+v vs %+v", s2.core(), s.core())
		}
	})
}

// FuzzMerge feeds arbitrary outbox payloads to merge: it must not panic,
// must acknowledge every item (and keep at most two versions per
// fingerprint, see collapse).
func FuzzMerge(f *testing.F) {
	t0 := time.UnixMilli(1700000000000).UTC()
	good, _ := json.Marshal([]queued{
		{postableAlert{Labels: map[string]string{"alertname": AlertName, "pod": "a"}, StartsAt: t0, EndsAt: t0.Add(time.Hour)}, false},
		{postableAlert{Labels: map[string]string{"alertname": AlertName, "pod": "a"}, StartsAt: t0, EndsAt: t0.Add(time.Minute)}, true},
	})
	f.Add(good, []byte(`[]`))
	f.Add([]byte(`[{"labels":{"a":"b"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"2026-01-01T01:00:00Z"}]`), []byte(`not json`))
	f.Add([]byte(`[{"labels":null}]`), []byte(`[{"resolved":true}]`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		items := []store.OutboxItem{{ID: 1, Payload: a}, {ID: 2, Payload: b}}
		out, ids := merge(items, discard{})
		if len(ids) != 2 {
			t.Fatalf("acknowledged %v, want both items", ids)
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("merged alerts do not encode: %v", err)
		}
	})
}
