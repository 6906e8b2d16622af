package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

func collectVectors(t *testing.T, s *Store, entity string, from, to int64) []Vector {
	t.Helper()
	var out []Vector
	if err := s.Vectors(entity, from, to, func(v Vector) error { out = append(out, v); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSchemaVersions(t *testing.T) {
	clock := newFakeClock(5000)
	dir := t.TempDir()
	s := openTest(t, Options{Path: dir, Now: clock.Now})
	if _, err := s.Schema(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Schema on empty store: %v, want ErrNotFound", err)
	}
	if err := s.PutSchema([]string{"cpu", "mem"}, []string{"crashloop"}); err != nil {
		t.Fatal(err)
	}
	clock.Set(6000)
	if err := s.PutSchema([]string{"cpu", "mem"}, []string{"crashloop"}); err != nil {
		t.Fatal(err)
	}
	clock.Set(7000)
	if err := s.PutSchema([]string{"cpu", "mem", "restarts"}, []string{"crashloop", "mount"}); err != nil {
		t.Fatal(err)
	}
	want := []Schema{
		{Version: 1, Since: 5000, Features: []string{"cpu", "mem"}, Labels: []string{"crashloop"}},
		{Version: 2, Since: 7000, Features: []string{"cpu", "mem", "restarts"}, Labels: []string{"crashloop", "mount"}},
	}
	check := func(s *Store) {
		all, err := s.Schemas()
		if err != nil || !reflect.DeepEqual(all, want) {
			t.Fatalf("Schemas = %+v, %v; want %+v", all, err, want)
		}
		cur, err := s.Schema()
		if err != nil || !reflect.DeepEqual(cur, want[1]) {
			t.Fatalf("Schema = %+v, %v; want %+v", cur, err, want[1])
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openTest(t, Options{Path: dir}))
}

func TestVectorsRoundTrip(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	// Without a schema any layout is accepted (version 0).
	free := Vector{Entity: "ns/free", T: 1, Values: []float64{1}, Failure: nil}
	if err := s.PutVectors([]Vector{free}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSchema([]string{"a", "b", "c"}, []string{"l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8"}); err != nil {
		t.Fatal(err)
	}
	fail := []bool{true, false, false, true, false, false, false, false, true}
	in := []Vector{
		{Entity: "ns/pod", T: 3000, Values: []float64{1, math.NaN(), math.Inf(-1)}, Failure: fail},
		{Entity: "ns/pod", T: -1000, Values: []float64{0, 0, 0}, Failure: make([]bool, 9)},
		{Entity: "ns/pod", T: 1000, Values: []float64{1.5, 2.5, -3}, Failure: fail},
		{Entity: "ns/pod2", T: 1000, Values: []float64{9, 9, 9}, Failure: fail},
		{Entity: "ns/po", T: 1000, Values: []float64{8, 8, 8}, Failure: fail},
	}
	if err := s.PutVectors(in); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		entity   string
		from, to int64
		wantT    []int64
	}{
		{"ns/pod", math.MinInt64, math.MaxInt64, []int64{-1000, 1000, 3000}},
		{"ns/pod", 1000, 3000, []int64{1000, 3000}},
		{"ns/pod", 1001, 2999, nil},
		{"ns/pod", -1000, -1000, []int64{-1000}},
		{"ns/pod", 5, 1, nil},
		{"ns/pod2", 0, 5000, []int64{1000}},
		{"ns/po", 0, 5000, []int64{1000}},
		{"ns/free", 0, 5000, []int64{1}},
		{"other", 0, 5000, nil},
	}
	for _, tc := range tests {
		got := collectVectors(t, s, tc.entity, tc.from, tc.to)
		var ts []int64
		for _, v := range got {
			ts = append(ts, v.T)
			if v.Entity != tc.entity {
				t.Fatalf("vector of %q returned for %q", v.Entity, tc.entity)
			}
		}
		if !reflect.DeepEqual(ts, tc.wantT) {
			t.Errorf("%s [%d, %d]: times %v, want %v", tc.entity, tc.from, tc.to, ts, tc.wantT)
		}
	}
	got := collectVectors(t, s, "ns/pod", 3000, 3000)[0]
	if got.Schema != 1 || got.Values[0] != 1 || !math.IsNaN(got.Values[1]) || !math.IsInf(got.Values[2], -1) || !reflect.DeepEqual(got.Failure, fail) {
		t.Fatalf("round trip: got %+v", got)
	}
	bad := []Vector{
		{Entity: "x", T: 1, Values: []float64{1}, Failure: fail},                  // wrong value count
		{Entity: "x", T: 1, Values: []float64{1, 2, 3}, Failure: fail[:2]},        // wrong label count
		{Entity: "x", T: 1, Values: []float64{1, 2, 3}, Failure: fail, Schema: 7}, // unknown schema
	}
	for i, v := range bad {
		if err := s.PutVectors([]Vector{v}); err == nil {
			t.Errorf("bad vector %d accepted", i)
		}
	}
	// No entity: skipped and counted, not an error (TestInvalidEntitySkipped).
	if err := s.PutVectors([]Vector{{Entity: "", T: 1, Values: []float64{1, 2, 3}, Failure: fail}}); err != nil {
		t.Errorf("vector without entity: %v", err)
	}
}

func TestDecodeVectorCorrupt(t *testing.T) {
	v := Vector{Values: []float64{1, 2}, Failure: []bool{true}}
	for _, enc := range [][]byte{encodeVector(1, &v), encodeVectorV1(1, &v)} {
		for i := 0; i < len(enc); i++ {
			if _, err := decodeVector(enc[:i]); err == nil {
				t.Fatalf("truncated vector (version %d, %d of %d bytes) decoded", enc[0], i, len(enc))
			}
		}
	}
}

func TestEntities(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	steps := []struct {
		id     string
		labels map[string]string
		t      int64
	}{
		{"ns/a", map[string]string{"namespace": "ns", "pod": "a", "v": "1"}, 2000},
		{"ns/a", map[string]string{"namespace": "ns", "pod": "a", "v": "0"}, 1000}, // older: labels kept
		{"ns/a", map[string]string{"namespace": "ns", "pod": "a", "v": "3"}, 3000},
		{"mod/auth", nil, 500},
	}
	for _, st := range steps {
		if err := s.PutEntity(st.id, st.labels, st.t); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Entities()
	if err != nil {
		t.Fatal(err)
	}
	want := []EntityInfo{
		{ID: "mod/auth", FirstSeen: 500, LastSeen: 500},
		{ID: "ns/a", Labels: map[string]string{"namespace": "ns", "pod": "a", "v": "3"}, FirstSeen: 1000, LastSeen: 3000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Entities = %+v, want %+v", got, want)
	}
}

func TestEventsRoundTrip(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	ls := labels.FromStrings("namespace", "ns", "pod", "p")
	evs := []telemetry.Event{
		{T: 2000, Source: telemetry.SourceKubernetes, Reason: "BackOff", Type: "Warning", Count: 2, Labels: ls, Message: "back-off", UID: "u1"},
		{T: 1000, Source: telemetry.SourceModule, Reason: "ModuleLoadError", Type: "error", Count: 1, Labels: ls, Message: "x"},
		{T: 1000, Source: telemetry.SourceKubernetes, Reason: "FailedMount", Type: "Warning", Count: 1, Labels: labels.EmptyLabels()},
	}
	if err := s.PutEvents("ns/p", evs); err != nil {
		t.Fatal(err)
	}
	// Redelivery of the same events (same identity) is idempotent; a grown
	// count of the same event object at a later time is a new record.
	again := append([]telemetry.Event(nil), evs[0])
	again[0].Count = 2
	grown := evs[0]
	grown.T, grown.Count = 3000, 5
	if err := s.PutEvents("ns/p", append(again, grown)); err != nil {
		t.Fatal(err)
	}
	var got []telemetry.Event
	if err := s.Events("ns/p", 0, 10000, func(e telemetry.Event) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d events, want 4: %+v", len(got), got)
	}
	if got[0].T != 1000 || got[1].T != 1000 || got[2].T != 2000 || got[3].T != 3000 || got[3].Count != 5 {
		t.Fatalf("order/content: %+v", got)
	}
	for _, g := range got {
		var w *telemetry.Event
		for i := range evs {
			if evs[i].Reason == g.Reason && evs[i].T == g.T {
				w = &evs[i]
			}
		}
		if w == nil {
			continue
		}
		if !labels.Equal(g.Labels, w.Labels) || g.Message != w.Message || g.UID != w.UID || g.Type != w.Type || g.Source != w.Source || g.Count != w.Count {
			t.Fatalf("event mismatch: got %+v, want %+v", g, *w)
		}
	}
	n := 0
	if err := s.Events("ns/p", 1500, 2500, func(telemetry.Event) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("range [1500, 2500]: %d events, %v", n, err)
	}
}

func TestPredictionsAndExplanations(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	ps := []Prediction{
		{Entity: "ns/a", T: 1000, Prob: 0.1, Anomaly: 0.5, ModelVersion: "v1", Threshold: 0.7},
		{Entity: "ns/a", T: 3000, Prob: 0.9, Anomaly: 2.5, ModelVersion: "v1", Threshold: 0.7},
		{Entity: "ns/a", T: 2000, Prob: 0.4, ModelVersion: "v1", Threshold: 0.7},
		{Entity: "ns/b", T: 500, Prob: 0.2, ModelVersion: "v2", Threshold: 0.6, ID: PredictionID("ns/b", 500)},
	}
	if err := s.PutPredictions(ps); err != nil {
		t.Fatal(err)
	}
	// An older prediction must not replace the latest.
	if err := s.PutPredictions([]Prediction{{Entity: "ns/a", T: 2500, Prob: 0.3}}); err != nil {
		t.Fatal(err)
	}
	var got []Prediction
	if err := s.Predictions("ns/a", 1000, 2000, func(p Prediction) error { got = append(got, p); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []Prediction{ps[0], ps[2]}
	for i := range want {
		want[i].ID = PredictionID(want[i].Entity, want[i].T)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Predictions = %+v, want %+v", got, want)
	}
	latest, err := s.LatestPredictions()
	if err != nil {
		t.Fatal(err)
	}
	wantLatest := []Prediction{ps[1], ps[3]}
	wantLatest[0].ID = PredictionID("ns/a", 3000)
	if !reflect.DeepEqual(latest, wantLatest) {
		t.Fatalf("LatestPredictions = %+v, want %+v", latest, wantLatest)
	}
	if err := s.PutPredictions([]Prediction{{ID: "wrong", Entity: "ns/a", T: 1}}); err == nil {
		t.Fatal("mismatched ID accepted")
	}

	id := PredictionID("ns/a", 3000)
	if e, ts, err := ParsePredictionID(id); err != nil || e != "ns/a" || ts != 3000 {
		t.Fatalf("ParsePredictionID(%q) = %q, %d, %v", id, e, ts, err)
	}
	if _, err := s.Explanation(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Explanation before put: %v, want ErrNotFound", err)
	}
	doc := []byte(`{"prediction":"ns/a@3000","attributions":[{"feature":"restarts","value":0.4}]}`)
	if err := s.PutExplanation(id, doc); err != nil {
		t.Fatal(err)
	}
	gotDoc, err := s.Explanation(id)
	if err != nil || string(gotDoc) != string(doc) {
		t.Fatalf("Explanation = %s, %v", gotDoc, err)
	}
	if err := s.PutExplanation(id, []byte("{not json")); err == nil {
		t.Fatal("invalid JSON accepted")
	}
}

// TestPredictionHistoryFormats checks that history records are written in
// format 2 (entity and time only in the key) and that format-1 records,
// written by an earlier omen, are still read by both scans, with the key's
// entity and time.
func TestPredictionHistoryFormats(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	old := Prediction{Entity: "ns/old", T: 1000, Prob: 0.25, Anomaly: 1.5, ModelVersion: "v0", Threshold: 0.5}
	if err := s.writeKVs([]kv{{nameTimeKey(pPred, old.Entity, old.T), encodePrediction(&old)}}); err != nil {
		t.Fatal(err)
	}
	cur := Prediction{Entity: "ns/old", T: 2000, Prob: 0.75, Anomaly: 3, ModelVersion: "v1", Threshold: 0.5}
	if err := s.PutPredictions([]Prediction{cur}); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(nameTimeKey(pPred, cur.Entity, cur.T))
		if err != nil {
			return err
		}
		raw, err = item.ValueCopy(nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if want := encodePredictionAt(&cur); !bytes.Equal(raw, want) || raw[0] != 2 || bytes.Contains(raw, []byte(cur.Entity)) {
		t.Fatalf("history record % x, want format 2 without the entity: % x", raw, want)
	}
	old.ID, cur.ID = PredictionID(old.Entity, old.T), PredictionID(cur.Entity, cur.T)
	var fwd, back []Prediction
	if err := s.Predictions("ns/old", 0, 3000, func(p Prediction) error { fwd = append(fwd, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.PredictionsNewestFirst("ns/old", 0, 3000, func(p Prediction) error { back = append(back, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []Prediction{old, cur}; !reflect.DeepEqual(fwd, want) {
		t.Fatalf("Predictions = %+v, want %+v", fwd, want)
	}
	if want := []Prediction{cur, old}; !reflect.DeepEqual(back, want) {
		t.Fatalf("PredictionsNewestFirst = %+v, want %+v", back, want)
	}
	if _, err := decodePrediction(raw); !errors.Is(err, errCorrupt) {
		t.Fatalf("format 2 decoded without its key: %v, want errCorrupt", err)
	}
}

func TestPutEntitiesMergesInOneCall(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	if err := s.PutEntity("e", map[string]string{"v": "stored"}, 5000); err != nil {
		t.Fatal(err)
	}
	err := s.PutEntities([]EntityInfo{
		{ID: "e", Labels: map[string]string{"v": "newest"}, LastSeen: 9000},
		{ID: "e", Labels: map[string]string{"v": "older"}, FirstSeen: 1000, LastSeen: 7000},
		{ID: "f", Labels: map[string]string{"v": "f"}, FirstSeen: 300, LastSeen: 400},
		{ID: "f", LastSeen: 350},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Entities()
	if err != nil {
		t.Fatal(err)
	}
	want := []EntityInfo{
		{ID: "e", Labels: map[string]string{"v": "newest"}, FirstSeen: 1000, LastSeen: 9000},
		{ID: "f", Labels: map[string]string{"v": "f"}, FirstSeen: 300, LastSeen: 400},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Entities = %+v, want %+v", got, want)
	}
	// An invalid ID is skipped (TestInvalidEntitySkipped), not an error.
	if err := s.PutEntities([]EntityInfo{{ID: ""}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Entities(); len(got) != 2 {
		t.Fatalf("empty entity id stored: %+v", got)
	}
}

// encodeVectorV1 is the version-1 encoding (8-byte floats), which stores
// written before version 2 hold.
func encodeVectorV1(schema uint32, v *Vector) []byte {
	b := []byte{vectorV1}
	b = binary.AppendUvarint(b, uint64(schema))
	b = binary.AppendUvarint(b, uint64(len(v.Values)))
	for _, x := range v.Values {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	b = binary.AppendUvarint(b, uint64(len(v.Failure)))
	var cur byte
	for i, f := range v.Failure {
		if f {
			cur |= 1 << (i % 8)
		}
	}
	if len(v.Failure) > 0 {
		b = append(b, cur)
	}
	return b
}

func TestVectorEncodings(t *testing.T) {
	v := Vector{Schema: 4, Values: []float64{0, 1, 3, 0.25, -2, 1e300, math.NaN(), math.Inf(1), math.Copysign(0, -1), 0.123456789, 1 << 40}, Failure: []bool{false, true, true}}
	for _, tc := range []struct {
		name string
		enc  []byte
	}{{"v2", encodeVector(4, &v)}, {"v1", encodeVectorV1(4, &v)}} {
		got, err := decodeVector(tc.enc)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.Schema != 4 || len(got.Values) != len(v.Values) || !reflect.DeepEqual(got.Failure, v.Failure) {
			t.Fatalf("%s: got %+v", tc.name, got)
		}
		for i, x := range v.Values {
			if math.Float64bits(got.Values[i]) != math.Float64bits(x) {
				t.Errorf("%s: value %d = %v, want %v (bit for bit)", tc.name, i, got.Values[i], x)
			}
		}
	}
	// Version 2 is compact for the zeros, counts and flags of a typical
	// vector: 20 features, 14 of them 0 or small integers.
	typical := Vector{Values: []float64{0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 3, 0, 1, 0.4375, 0.9134, 123456789, 0.02, 2.5e-3, 0.7}}
	v1, v2 := len(encodeVectorV1(1, &typical)), len(encodeVector(1, &typical))
	if v2 > v1/2 {
		t.Errorf("typical vector: version 2 takes %d bytes, version 1 %d", v2, v1)
	}
	if _, err := decodeVector(append([]byte{3}, encodeVector(1, &typical)[1:]...)); err == nil {
		t.Error("vector version 3 accepted")
	}
}

// TestStoreFormatUpgrade: a format-1 store (written before prediction
// history format 2) is upgraded in place when opened; a format this code
// does not know is refused at Open.
func TestStoreFormatUpgrade(t *testing.T) {
	for _, c := range []struct {
		name    string
		stored  []byte
		want    byte
		refused bool
	}{
		{"format 1 is upgraded", []byte{1}, formatVersion, false},
		{"current format", []byte{formatVersion}, formatVersion, false},
		{"newer format", []byte{formatVersion + 1}, 0, true},
		{"malformed", []byte{1, 0}, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(Options{Path: dir})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyFormat, c.stored) }); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = Open(Options{Path: dir})
			if c.refused {
				if err == nil || !strings.Contains(err.Error(), "unsupported store format") {
					_ = s.Close()
					t.Fatalf("Open = %v, want unsupported store format", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			var got []byte
			if err := s.db.View(func(txn *badger.Txn) error {
				item, err := txn.Get(keyFormat)
				if err == nil {
					got, err = item.ValueCopy(nil)
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, []byte{c.want}) {
				t.Fatalf("format after Open = %v, want %d", got, c.want)
			}
		})
	}
}
