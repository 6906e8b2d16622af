package app

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// TestIngesterParallelApply: a commit large enough to be applied on
// several goroutines leaves the head as a one-by-one application would,
// skips duplicates and counts every sample once.
func TestIngesterParallelApply(t *testing.T) {
	in, _ := newTestIngester(t)
	head := in.head

	const pods, rounds = 500, 4 // 10 series a pod: 20,000 samples a call
	t0 := int64(1_700_000_000_000)
	var batches []telemetry.Batch
	for r := range rounds {
		for half := range 2 {
			b := telemetry.Batch{Source: "test", Seq: uint64(len(batches) + 1), Received: t0}
			for p := half * pods / 2; p < (half+1)*pods/2; p++ {
				for f := range 10 {
					b.Samples = append(b.Samples, telemetry.Sample{
						Labels: labels.FromStrings("__name__", fmt.Sprintf("m%d", f), "namespace", "ns", "pod", fmt.Sprintf("p%d", p)),
						T:      t0 + int64(r)*15_000, V: float64(r),
					})
				}
			}
			batches = append(batches, b)
		}
	}
	if err := in.Append(context.Background(), batches); err != nil {
		t.Fatal(err)
	}
	if n := head.NumSeries(); n != pods*10 {
		t.Fatalf("head holds %d series, want %d", n, pods*10)
	}
	if got, want := in.applied.Load(), int64(pods*10*rounds); got != want {
		t.Fatalf("applied %d samples, want %d", got, want)
	}
	if wm := in.watermark.Load(); wm != t0+(rounds-1)*15_000 {
		t.Fatalf("watermark %d", wm)
	}
	// Redelivered: duplicates, nothing applied again.
	if err := in.Append(context.Background(), batches); err != nil {
		t.Fatal(err)
	}
	if got := in.applied.Load(); got != int64(pods*10*rounds) {
		t.Fatalf("after redelivery applied %d samples", got)
	}
	q, err := head.Querier(0, t0+rounds*15_000)
	if err != nil {
		t.Fatal(err)
	}
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "pod", "p7"), labels.MustNewMatcher(labels.MatchEqual, "__name__", "m3"))
	n := 0
	for ss.Next() {
		it := ss.At().Iterator(nil)
		for it.Next() != 0 {
			n++
		}
	}
	if n != rounds {
		t.Fatalf("series m3 of p7 holds %d samples, want %d", n, rounds)
	}
}

// TestIngesterSeenAndStored: the ingester tells the NATS consumer which
// (Source, Seq) the store holds (stream.SeenChecker), so that a replayed
// message is acknowledged without being decoded, and which lie below the
// store's retention floor, their keys dropped (the consumer decides those
// by the message); and which batches an Append stored
// (stream.StoredAppender), so that a redelivery is not counted as
// ingested twice.
func TestIngesterSeenAndStored(t *testing.T) {
	var now atomic.Int64
	in, st := newTestIngesterOn(t, store.Options{InMemory: true, IngestLogRetention: time.Minute,
		Now: func() time.Time { return time.UnixMilli(now.Load()) }})
	b := func(seq uint64) telemetry.Batch {
		return telemetry.Batch{Source: "nats/OMEN/omen@x", Seq: seq, Received: 1,
			Samples: []telemetry.Sample{{Labels: labels.FromStrings("__name__", "a"), T: 1, V: 1}}}
	}
	stored, err := in.AppendStored(context.Background(), []telemetry.Batch{b(1), b(2)})
	if err != nil || fmt.Sprint(stored) != "[0 1]" {
		t.Fatalf("AppendStored = %v, %v; want [0 1]", stored, err)
	}
	stored, err = in.AppendStored(context.Background(), []telemetry.Batch{b(2), b(3)})
	if err != nil || fmt.Sprint(stored) != "[1]" {
		t.Fatalf("AppendStored of a duplicate and a new batch = %v, %v; want [1]", stored, err)
	}
	seen, err := in.Seen("nats/OMEN/omen@x", []uint64{1, 3, 4})
	if err != nil || !slices.Equal(seen, []telemetry.SeenState{telemetry.SeenStored, telemetry.SeenStored, telemetry.NotSeen}) {
		t.Fatalf("Seen = %v, %v; want [stored stored not_seen]", seen, err)
	}
	// Two minutes later the retention drops their keys: below the floor.
	now.Store(2 * time.Minute.Milliseconds())
	if _, err := st.RunRetention(context.Background(), time.UnixMilli(now.Load())); err != nil {
		t.Fatal(err)
	}
	seen, err = in.Seen("nats/OMEN/omen@x", []uint64{1, 3, 4})
	if err != nil || !slices.Equal(seen, []telemetry.SeenState{telemetry.SeenBelowFloor, telemetry.SeenBelowFloor, telemetry.NotSeen}) {
		t.Fatalf("Seen after retention = %v, %v; want [below_floor below_floor not_seen]", seen, err)
	}
}

// TestIngesterMarkersAreNoArrival: Appends of empty batches only (the
// markers the NATS consumer stores for dead-lettered or expired messages)
// neither move the activity clock nor count as stored batches: a stream
// carrying only poison kept the clock running as if data arrived (the
// series that stopped aged as on the wall clock through an outage of
// data) and inflated omen_ingest_batches_total{result="stored"}. A call
// with data among its markers is an arrival, its marker counted apart.
func TestIngesterMarkersAreNoArrival(t *testing.T) {
	in, _ := newTestIngester(t)
	w0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC).UnixMilli()
	var wall atomic.Int64
	wall.Store(w0)
	in.clock = func() time.Time { return time.UnixMilli(wall.Load()) }
	const src = "nats/OMEN/omen@x"
	data := func(seq uint64) telemetry.Batch {
		return telemetry.Batch{Source: src, Seq: seq, Received: wall.Load(),
			Samples: []telemetry.Sample{{Labels: labels.FromStrings("__name__", "a"), T: wall.Load(), V: 1}}}
	}
	marker := func(seq uint64) telemetry.Batch { return telemetry.Batch{Source: src, Seq: seq, Received: wall.Load()} }
	if err := in.Append(context.Background(), []telemetry.Batch{data(1)}); err != nil {
		t.Fatal(err)
	}
	// Ten minutes of poison only: a marker a second.
	seq := uint64(1)
	for range 600 {
		wall.Add(time.Second.Milliseconds())
		seq++
		if err := in.Append(context.Background(), []telemetry.Batch{marker(seq)}); err != nil {
			t.Fatal(err)
		}
	}
	// The clock counted activityGap of the pause, as of any pause of data.
	if got, want := in.activity.now(wall.Load())-w0, activityGap.Milliseconds(); got != want {
		t.Fatalf("activity clock ran %d ms over 10 minutes of markers only, want %d (activityGap)", got, want)
	}
	count := func(r string) float64 { return testutil.ToFloat64(in.batches.WithLabelValues(r)) }
	if s, m := count("stored"), count("marker"); s != 1 || m != 600 {
		t.Fatalf("omen_ingest_batches_total stored=%v marker=%v, want 1 and 600", s, m)
	}
	// running is how far the clock moves in the second after wall.
	running := func() int64 {
		w := wall.Load()
		return in.activity.now(w+time.Second.Milliseconds()) - in.activity.now(w)
	}
	if got := running(); got != 0 {
		t.Fatalf("activity clock moves %d ms a second after 10 minutes of markers only, want 0 (stopped)", got)
	}
	// Data with a marker: an arrival, the clock runs again.
	wall.Add(time.Second.Milliseconds())
	if err := in.Append(context.Background(), []telemetry.Batch{data(seq + 1), marker(seq + 2)}); err != nil {
		t.Fatal(err)
	}
	if got := running(); got != time.Second.Milliseconds() {
		t.Fatalf("activity clock moves %d ms a second after data arrived, want 1000", got)
	}
	if s, m := count("stored"), count("marker"); s != 2 || m != 601 {
		t.Fatalf("omen_ingest_batches_total stored=%v marker=%v, want 2 and 601", s, m)
	}
}
