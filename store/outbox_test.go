package store

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func pendingIDs(t *testing.T, s *Store, target string, limit int) []uint64 {
	t.Helper()
	items, err := s.Pending(target, limit)
	if err != nil {
		t.Fatal(err)
	}
	ids := []uint64{}
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

func TestOutboxPendingAckSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(1000)
	s, err := Open(Options{Path: dir, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	items := []OutboxItem{
		{Targets: []string{"am1", "am2"}, Payload: []byte(`[{"labels":{"alertname":"A"}}]`)},
		{Targets: []string{"am1", "am2"}, Payload: []byte(`[{"labels":{"alertname":"B"}}]`), Created: 500},
		{Targets: []string{"am2"}, Payload: []byte(`[]`)},
	}
	if err := s.Enqueue(items); err != nil {
		t.Fatal(err)
	}
	if items[0].ID != 1 || items[1].ID != 2 || items[2].ID != 3 || items[0].Created != 1000 || items[1].Created != 500 {
		t.Fatalf("Enqueue did not assign IDs/times: %+v", items)
	}
	steps := []struct {
		name   string
		ack    string
		ids    []uint64
		reopen bool
		want   map[string][]uint64
	}{
		{"initial", "", nil, false, map[string][]uint64{"am1": {1, 2}, "am2": {1, 2, 3}, "am3": {}}},
		{"am1 acks 1", "am1", []uint64{1}, false, map[string][]uint64{"am1": {2}, "am2": {1, 2, 3}}},
		{"reopen keeps state", "", nil, true, map[string][]uint64{"am1": {2}, "am2": {1, 2, 3}}},
		{"am2 acks 1 and unknown 99, twice 1", "am2", []uint64{1, 99, 1}, false, map[string][]uint64{"am1": {2}, "am2": {2, 3}}},
		{"am2 acks 3", "am2", []uint64{3}, true, map[string][]uint64{"am1": {2}, "am2": {2}}},
	}
	for _, st := range steps {
		if st.reopen {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err = Open(Options{Path: dir, Now: clock.Now}); err != nil {
				t.Fatal(err)
			}
		}
		if st.ack != "" {
			if err := s.Ack(st.ack, st.ids); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		for target, want := range st.want {
			if got := pendingIDs(t, s, target, 0); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: Pending(%s) = %v, want %v", st.name, target, got, want)
			}
		}
	}
	// Items fully acknowledged are deleted; ID 1 and 3 are gone.
	if n := countPrefix(t, s, []byte{pOutItem}); n != 1 {
		t.Fatalf("%d outbox items stored, want 1", n)
	}
	if got := pendingIDs(t, s, "am2", 1); !reflect.DeepEqual(got, []uint64{2}) {
		t.Fatalf("limit: %v", got)
	}
	got, err := s.Pending("am1", 0)
	if err != nil || len(got) != 1 || string(got[0].Payload) != string(items[1].Payload) || got[0].Created != 500 ||
		!reflect.DeepEqual(got[0].Targets, []string{"am1", "am2"}) {
		t.Fatalf("Pending(am1) = %+v, %v", got, err)
	}
	// IDs keep growing after items are deleted and the store reopened.
	more := []OutboxItem{{Targets: []string{"am1"}, Payload: []byte("{}")}}
	if err := s.Enqueue(more); err != nil || more[0].ID != 4 {
		t.Fatalf("next ID = %d, %v; want 4", more[0].ID, err)
	}
	if err := s.DropTarget("am1"); err != nil {
		t.Fatal(err)
	}
	if got := pendingIDs(t, s, "am1", 0); len(got) != 0 {
		t.Fatalf("after DropTarget: %v", got)
	}
	if err := s.Enqueue([]OutboxItem{{Payload: []byte("{}")}}); err == nil {
		t.Fatal("item without targets accepted")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func countPrefix(t *testing.T, s *Store, p []byte) int {
	t.Helper()
	keys, err := s.keysWithPrefix(p)
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

func TestAlertStates(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(7000)
	s := openTest(t, Options{Path: dir, Now: clock.Now})
	states := []AlertState{
		{Fingerprint: "f2", State: AlertFiring, ActiveAt: 100, LastSent: 200, Labels: map[string]string{"alertname": "OmenModuleLoadFailure", "pod": "p"}, Data: []byte(`{"summary":"x"}`)},
		{Fingerprint: "f1", State: AlertResolved, ActiveAt: 50, ResolvedAt: 90, Updated: 95},
	}
	for _, st := range states {
		if err := s.PutAlertState(st); err != nil {
			t.Fatal(err)
		}
	}
	states[0].Updated = 7000
	if _, err := s.AlertState("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing state: %v", err)
	}
	got, err := s.AlertState("f2")
	if err != nil || !reflect.DeepEqual(got, states[0]) {
		t.Fatalf("AlertState(f2) = %+v, %v; want %+v", got, err, states[0])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, Options{Path: dir})
	all, err := s.AlertStates()
	if err != nil || !reflect.DeepEqual(all, []AlertState{states[1], states[0]}) {
		t.Fatalf("AlertStates = %+v, %v", all, err)
	}
	if err := s.DeleteAlertState("f1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AlertState("f1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted state: %v", err)
	}
}

// TestOutboxSince: an item's Since (the time its notifications have been
// undelivered since, for an item replacing older ones) is stored and read
// back, survives a reopen, and leaves retention alone: retention expires
// items by Created, so an item enqueued now with an old Since is kept. An
// item without Since is still encoded as version 1, and version-1
// encodings decode with Since 0.
func TestOutboxSince(t *testing.T) {
	const h = int64(3_600_000)
	now := 100 * h
	dir := t.TempDir()
	clock := newFakeClock(now)
	s, err := Open(Options{Path: dir, Now: clock.Now, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	items := []OutboxItem{
		{Created: now, Since: now - 2*h, Targets: []string{"am1"}, Payload: []byte("compacted")},
		{Created: now, Targets: []string{"am1"}, Payload: []byte("plain")},
	}
	if err := s.Enqueue(items); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(Options{Path: dir, Now: clock.Now, Retention: time.Hour}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.RunRetention(t.Context(), time.UnixMilli(now)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Pending("am1", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		payload      string
		since, creat int64
	}{{"compacted", now - 2*h, now}, {"plain", 0, now}}
	if len(got) != len(want) {
		t.Fatalf("Pending = %+v, want %d items (retention goes by Created, not Since)", got, len(want))
	}
	for i, w := range want {
		if string(got[i].Payload) != w.payload || got[i].Since != w.since || got[i].Created != w.creat {
			t.Errorf("item %d = %+v, want payload %q, Since %d, Created %d", i, got[i], w.payload, w.since, w.creat)
		}
	}
	tests := []struct {
		name    string
		item    OutboxItem
		version byte
	}{
		{"no since", OutboxItem{Created: 7, Targets: []string{"a"}, Payload: []byte("p")}, 1},
		{"since equal to created", OutboxItem{Created: 7, Since: 7, Targets: []string{"a"}, Payload: []byte("p")}, 1},
		{"since", OutboxItem{Created: 7, Since: 3, Targets: []string{"a"}, Payload: []byte("p")}, 2},
	}
	for _, tc := range tests {
		enc := encodeOutboxItem(&tc.item)
		if enc[0] != tc.version {
			t.Errorf("%s: encoded as version %d, want %d", tc.name, enc[0], tc.version)
		}
		dec, err := decodeOutboxItem(enc)
		wantSince := tc.item.Since
		if tc.version == 1 {
			wantSince = 0
		}
		if err != nil || dec.Created != tc.item.Created || dec.Since != wantSince || string(dec.Payload) != "p" {
			t.Errorf("%s: decoded %+v, %v", tc.name, dec, err)
		}
	}
}
