package store

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

func TestRunRetention(t *testing.T) {
	const (
		h   = int64(time.Hour / time.Millisecond)
		now = 100 * h
		cut = now - 10*h // Retention 10h: T < cut is deleted
		lcu = now - h    // IngestLogRetention 1h
	)
	clock := newFakeClock(0)
	reg := prometheus.NewRegistry()
	s := openTest(t, Options{Retention: 10 * time.Hour, IngestLogRetention: time.Hour, Now: clock.Now, Registerer: reg})

	// Ingest log: arrival times set by the clock.
	for i, at := range []int64{now - 2*h, lcu - 1, lcu, now - h/2} {
		clock.Set(at)
		if _, err := s.AppendBatches([]telemetry.Batch{smallBatch("src", uint64(i+1), at)}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(now)
	// Vectors, events, predictions at times around the cutoff.
	times := []int64{cut - 10*h, cut - 1, cut, now - h}
	for _, ent := range []string{"ns/a", "ns/b"} {
		var vs []Vector
		var evs []telemetry.Event
		var ps []Prediction
		for _, ts := range times {
			vs = append(vs, Vector{Entity: ent, T: ts, Values: []float64{1}})
			evs = append(evs, telemetry.Event{T: ts, Source: "kubernetes", Reason: "BackOff", Count: 1, Labels: labels.FromStrings("pod", ent)})
			ps = append(ps, Prediction{Entity: ent, T: ts, Prob: 0.5})
		}
		if err := s.PutVectors(vs); err != nil {
			t.Fatal(err)
		}
		if err := s.PutEvents(ent, evs); err != nil {
			t.Fatal(err)
		}
		if err := s.PutPredictions(ps); err != nil {
			t.Fatal(err)
		}
		for _, ts := range times {
			if err := s.PutExplanation(PredictionID(ent, ts), []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// An entity whose only (hence latest) prediction is old.
	if err := s.PutPredictions([]Prediction{{Entity: "ns/old", T: cut - 5}}); err != nil {
		t.Fatal(err)
	}
	// An explanation put long ago for a prediction that does not exist.
	clock.Set(cut - 1)
	if err := s.PutExplanation("orphan@1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	clock.Set(now)
	for id, last := range map[string]int64{"ns/a": now - h, "ns/old": cut - 1, "ns/edge": cut} {
		if err := s.PutEntity(id, nil, last); err != nil {
			t.Fatal(err)
		}
	}
	outbox := []OutboxItem{
		{Created: cut - 1, Targets: []string{"am1", "am2"}, Payload: []byte("old")},
		{Created: cut, Targets: []string{"am1"}, Payload: []byte("edge")},
	}
	if err := s.Enqueue(outbox); err != nil {
		t.Fatal(err)
	}
	for _, st := range []AlertState{
		{Fingerprint: "resolved-old", State: AlertResolved, Updated: cut - 1},
		{Fingerprint: "firing-old", State: AlertFiring, Updated: cut - 1},
		{Fingerprint: "resolved-new", State: AlertResolved, Updated: cut},
	} {
		if err := s.PutAlertState(st); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutModel("m1", []byte("model"), ModelMeta{Created: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSchema([]string{"f"}, nil); err != nil {
		t.Fatal(err)
	}

	deleted, err := s.RunRetention(t.Context(), time.UnixMilli(now))
	if err != nil {
		t.Fatal(err)
	}
	// 2 batches and their 2 dedup keys + per entity (a, b) 2 vectors, 2
	// events, 2 predictions and their 2 explanations + ns/old's prediction
	// (which has no explanation) and its latest-prediction record + the
	// orphan explanation + 1 entity + 1 outbox item and its 2 pending
	// markers + 1 alert state.
	wantDeleted := 2 + 2 + 2*(2+2+2+2) + 1 + 1 + 1 + 1 + 1 + 2 + 1
	if deleted != wantDeleted {
		t.Fatalf("deleted %d, want %d", deleted, wantDeleted)
	}
	for kind, want := range map[string]float64{
		"batch": 2, "dedup": 2, "vector": 4, "event": 4, "prediction": 5, "explanation": 5,
		"latest_prediction": 1, "entity": 1, "outbox": 1, "outbox_pending": 2, "alert_state": 1, "": 0,
	} {
		if got := testutil.ToFloat64(mustCounterVec(t, s).WithLabelValues(kind)); got != want {
			t.Errorf("omen_store_retention_deleted_total{kind=%q} = %v, want %v", kind, got, want)
		}
	}
	if got := testutil.ToFloat64(s.m.runs.WithLabelValues("success")); got != 1 {
		t.Errorf("omen_store_retention_runs_total{result=success} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.m.lastRun); got != float64(now)/1000 {
		t.Errorf("omen_store_retention_last_success_timestamp_seconds = %v, want %v", got, float64(now)/1000)
	}

	var seqs []uint64
	for _, b := range replayAll(t, s, math.MinInt64) {
		seqs = append(seqs, b.Seq)
	}
	if !reflect.DeepEqual(seqs, []uint64{3, 4}) {
		t.Fatalf("ingest log after retention: seqs %v, want [3 4]", seqs)
	}
	for _, ent := range []string{"ns/a", "ns/b"} {
		var vt, et, pt []int64
		if err := s.Vectors(ent, math.MinInt64, math.MaxInt64, func(v Vector) error { vt = append(vt, v.T); return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.Events(ent, math.MinInt64, math.MaxInt64, func(e telemetry.Event) error { et = append(et, e.T); return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.Predictions(ent, math.MinInt64, math.MaxInt64, func(p Prediction) error { pt = append(pt, p.T); return nil }); err != nil {
			t.Fatal(err)
		}
		want := []int64{cut, now - h}
		if !reflect.DeepEqual(vt, want) || !reflect.DeepEqual(et, want) || !reflect.DeepEqual(pt, want) {
			t.Fatalf("%s after retention: vectors %v events %v predictions %v, want %v", ent, vt, et, pt, want)
		}
		for _, ts := range times {
			_, err := s.Explanation(PredictionID(ent, ts))
			if gone := errors.Is(err, ErrNotFound); gone != (ts < cut) {
				t.Fatalf("explanation %s@%d: err %v", ent, ts, err)
			}
		}
	}
	if _, err := s.Explanation("orphan@1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("orphan explanation: %v", err)
	}
	latest, err := s.LatestPredictions()
	if err != nil || len(latest) != 2 {
		t.Fatalf("LatestPredictions = %+v, %v; want ns/a and ns/b", latest, err)
	}
	ents, err := s.Entities()
	if err != nil || len(ents) != 2 || ents[0].ID != "ns/a" || ents[1].ID != "ns/edge" {
		t.Fatalf("Entities = %+v, %v", ents, err)
	}
	if got := pendingIDs(t, s, "am1", 0); !reflect.DeepEqual(got, []uint64{2}) {
		t.Fatalf("outbox am1 after retention: %v", got)
	}
	if got := pendingIDs(t, s, "am2", 0); len(got) != 0 {
		t.Fatalf("outbox am2 after retention: %v", got)
	}
	if n := countPrefix(t, s, []byte{pOutPending}); n != 1 {
		t.Fatalf("%d pending markers left, want 1", n)
	}
	states, err := s.AlertStates()
	if err != nil || len(states) != 2 || states[0].Fingerprint != "firing-old" || states[1].Fingerprint != "resolved-new" {
		t.Fatalf("AlertStates = %+v, %v", states, err)
	}
	if _, _, err := s.Model("m1"); err != nil {
		t.Fatalf("model deleted by retention: %v", err)
	}
	if _, err := s.Schema(); err != nil {
		t.Fatalf("schema deleted by retention: %v", err)
	}

	// Deduplication outlives the dropped batches: seq 1 and 2 are below
	// the floor, seq 3 and 4 still have keys; seq 5 is new.
	n, err := s.AppendBatches([]telemetry.Batch{smallBatch("src", 1, now), smallBatch("src", 2, now), smallBatch("src", 3, now), smallBatch("src", 5, now)})
	if err != nil || n != 1 {
		t.Fatalf("append after retention: stored %d, %v; want 1", n, err)
	}
	if n := countPrefix(t, s, []byte{pDedup}); n != 3 {
		t.Fatalf("%d dedup keys, want 3", n)
	}
	if cp, err := s.Checkpoint("src"); err != nil || cp != 5 {
		t.Fatalf("Checkpoint = %d, %v", cp, err)
	}

	if again, err := s.RunRetention(t.Context(), time.UnixMilli(now)); err != nil || again != 0 {
		t.Fatalf("second retention run deleted %d, %v; want 0", again, err)
	}
}

func mustCounterVec(t *testing.T, s *Store) *prometheus.CounterVec {
	t.Helper()
	return s.m.retention
}

func TestRetentionOnDisk(t *testing.T) {
	clock := newFakeClock(0)
	dir := t.TempDir()
	s := openTest(t, Options{Path: dir, IngestLogRetention: time.Minute, Now: clock.Now, NoSync: true})
	rng := newTestRand()
	for i := range 50 {
		clock.Set(int64(i))
		b := makeBatch(rng, "disk", uint64(i+1), 0, 100, 10)
		if _, err := s.AppendBatches([]telemetry.Batch{b}); err != nil {
			t.Fatal(err)
		}
	}
	deleted, err := s.RunRetention(t.Context(), time.UnixMilli(int64(time.Hour/time.Millisecond)))
	if err != nil || deleted != 100 {
		t.Fatalf("RunRetention = %d, %v; want 100 (50 batches, 50 dedup keys)", deleted, err)
	}
	if got := replayAll(t, s, math.MinInt64); len(got) != 0 {
		t.Fatalf("%d batches left", len(got))
	}
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := openTest(t, Options{Path: t.TempDir(), NoSync: true, Registerer: reg})
	if _, err := s.AppendBatches([]telemetry.Batch{smallBatch("m", 1, 1), smallBatch("m", 1, 1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RunRetention(t.Context(), time.Now()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range []string{"omen_store_writes_total", "omen_store_write_seconds", "omen_store_retention_deleted_total",
		"omen_store_size_bytes", "omen_store_duplicate_batches_total", "omen_store_disk_free_bytes", "omen_store_disk_reserve_bytes",
		"omen_store_writes_refused_total", "omen_store_retention_runs_total", "omen_store_retention_last_success_timestamp_seconds",
		"omen_store_corrupt_records_total"} {
		if !got[name] {
			t.Errorf("metric %s not registered (have %v)", name, got)
		}
	}
	if v := testutil.ToFloat64(s.m.writes.WithLabelValues("batch")); v != 1 {
		t.Errorf("writes_total{kind=batch} = %v, want 1", v)
	}
	if v := testutil.ToFloat64(s.m.dups); v != 1 {
		t.Errorf("duplicate_batches_total = %v, want 1", v)
	}
}
