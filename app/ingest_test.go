package app

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/stream"
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
	if err != nil || !slices.Equal(seen, []stream.SeenState{stream.SeenStored, stream.SeenStored, stream.NotSeen}) {
		t.Fatalf("Seen = %v, %v; want [stored stored not_seen]", seen, err)
	}
	// Two minutes later the retention drops their keys: below the floor.
	now.Store(2 * time.Minute.Milliseconds())
	if _, err := st.RunRetention(context.Background(), time.UnixMilli(now.Load())); err != nil {
		t.Fatal(err)
	}
	seen, err = in.Seen("nats/OMEN/omen@x", []uint64{1, 3, 4})
	if err != nil || !slices.Equal(seen, []stream.SeenState{stream.SeenBelowFloor, stream.SeenBelowFloor, stream.NotSeen}) {
		t.Fatalf("Seen after retention = %v, %v; want [below_floor below_floor not_seen]", seen, err)
	}
}
