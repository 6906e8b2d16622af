package store

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// rawSchema returns the stored JSON record of schema version v.
func rawSchema(t *testing.T, s *Store, v uint32) []byte {
	t.Helper()
	var doc []byte
	if err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(schemaKey(v))
		if err != nil {
			return err
		}
		doc, err = it.ValueCopy(nil)
		return err
	}); err != nil {
		t.Fatalf("schema version %d: %v", v, err)
	}
	return doc
}

// TestPutSchemaPresence: the schema records the daemon's presence
// features (offline training reads the windows the daemon scores by
// them). A change of them alone is a new version, the same ones are not;
// none recorded is an empty list, told from not recorded (PutSchemaStep:
// nil, and no field in the record, as an older omen wrote it).
func TestPutSchemaPresence(t *testing.T) {
	s := openTestMem(t)
	steps := []struct {
		presence []string // nil: PutSchemaStep
		version  uint32
		field    string // in the JSON record; "": none
	}{
		{[]string{"cpu"}, 1, `"presence_features":["cpu"]`},
		{[]string{"cpu"}, 1, `"presence_features":["cpu"]`},
		{[]string{"cpu", "mem"}, 2, `"presence_features":["cpu","mem"]`},
		{[]string{}, 3, `"presence_features":[]`},
		{nil, 4, ""},
		{nil, 4, ""},
		{[]string{}, 5, `"presence_features":[]`},
	}
	for i, st := range steps {
		var err error
		if st.presence == nil {
			err = s.PutSchemaStep([]string{"cpu", "mem"}, []string{"l"}, 15*time.Second)
		} else {
			err = s.PutSchemaPresence([]string{"cpu", "mem"}, []string{"l"}, 15*time.Second, st.presence)
		}
		if err != nil {
			t.Fatal(err)
		}
		sc, err := s.Schema()
		if err != nil {
			t.Fatal(err)
		}
		if sc.Version != st.version || !slices.Equal(sc.Presence, st.presence) || (sc.Presence == nil) != (st.presence == nil) {
			t.Fatalf("put %d (%q): schema version %d, presence %#v; want version %d, %#v", i, st.presence, sc.Version, sc.Presence, st.version, st.presence)
		}
		doc := string(rawSchema(t, s, sc.Version))
		if st.field == "" && strings.Contains(doc, "presence") || st.field != "" && !strings.Contains(doc, st.field) {
			t.Fatalf("put %d (%q): record %s, want %s", i, st.presence, doc, cmp.Or(st.field, "no presence_features"))
		}
	}
	// PutSchemaPresence's nil is none recorded: an empty list.
	if err := s.PutSchemaPresence([]string{"cpu", "mem"}, []string{"l"}, 15*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if sc, err := s.Schema(); err != nil || sc.Version != 5 || sc.Presence == nil {
		t.Fatalf("PutSchemaPresence(nil) after an empty list: schema %+v, %v; want version 5 unchanged", sc, err)
	}
	// Schema's result is the caller's.
	sc, _ := s.Schema()
	sc.Presence = append(sc.Presence, "x")
	if again, _ := s.Schema(); len(again.Presence) != 0 {
		t.Fatalf("Schema's presence shared with the caller: %q", again.Presence)
	}
}

// TestSchemaPresenceCompat: a record of an older omen (no
// presence_features) decodes with Presence nil (not recorded), and the
// daemon's next PutSchemaPresence records them as a new version; a newer
// record decodes with the older omen's Schema type (JSON, unknown fields
// ignored) as before.
func TestSchemaPresenceCompat(t *testing.T) {
	s := openTestMem(t)
	old := `{"version":1,"since":1764000000000,"features":["cpu","mem"],"labels":["l"],"step_ms":15000}`
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(schemaKey(1), []byte(old)) }); err != nil {
		t.Fatal(err)
	}
	if err := s.loadSchema(); err != nil {
		t.Fatal(err)
	}
	sc, err := s.Schema()
	if err != nil || sc.Version != 1 || sc.Presence != nil || sc.StepMS != 15000 || !slices.Equal(sc.Features, []string{"cpu", "mem"}) {
		t.Fatalf("older record: schema %+v, %v; want version 1 at 15000 ms, presence not recorded (nil)", sc, err)
	}
	if err := s.PutSchemaPresence(sc.Features, sc.Labels, 15*time.Second, []string{"cpu"}); err != nil {
		t.Fatal(err)
	}
	if sc, err := s.Schema(); err != nil || sc.Version != 2 || !slices.Equal(sc.Presence, []string{"cpu"}) {
		t.Fatalf("after PutSchemaPresence on an older record: schema %+v, %v; want version 2 recording [cpu]", sc, err)
	}
	// The Schema type of an omen before presence_features, decoded as
	// its schemas() does.
	type olderSchema struct {
		Version  uint32   `json:"version"`
		Since    int64    `json:"since"`
		Features []string `json:"features"`
		Labels   []string `json:"labels"`
		StepMS   int64    `json:"step_ms,omitempty"`
	}
	var o olderSchema
	if err := json.Unmarshal(rawSchema(t, s, 2), &o); err != nil || o.Version != 2 || o.StepMS != 15000 || !slices.Equal(o.Features, []string{"cpu", "mem"}) || !slices.Equal(o.Labels, []string{"l"}) {
		t.Fatalf("newer record read by an older omen: %+v, %v", o, err)
	}
	// Every version lists, the older one without presence features.
	all, err := s.Schemas()
	if err != nil || len(all) != 2 || all[0].Presence != nil || !slices.Equal(all[1].Presence, []string{"cpu"}) {
		t.Fatalf("schemas %+v, %v", all, err)
	}
}
