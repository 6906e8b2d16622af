package store

import (
	"errors"
	"reflect"
	"testing"
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
