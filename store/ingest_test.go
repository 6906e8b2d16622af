package store

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

func replayAll(t *testing.T, s *Store, since int64) []telemetry.Batch {
	t.Helper()
	var out []telemetry.Batch
	if err := s.ReplayBatches(since, func(b telemetry.Batch) error {
		out = append(out, b)
		return nil
	}); err != nil {
		t.Fatalf("ReplayBatches: %v", err)
	}
	return out
}

func smallBatch(source string, seq uint64, t int64) telemetry.Batch {
	return telemetry.Batch{Source: source, Seq: seq, Received: t, Samples: []telemetry.Sample{
		{Labels: labels.FromStrings("__name__", "up", "src", source), T: t, V: float64(seq)},
	}}
}

func TestAppendReplayRoundTrip(t *testing.T) {
	for _, compress := range []bool{true, false} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			s := openTest(t, Options{InMemory: true, DisableIngestCompression: !compress})
			want := codecCases()
			n, err := s.AppendBatches(want)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(want) {
				t.Fatalf("stored %d, want %d", n, len(want))
			}
			got := replayAll(t, s, math.MinInt64)
			if len(got) != len(want) {
				t.Fatalf("replayed %d batches, want %d", len(got), len(want))
			}
			for i := range want {
				sameBatch(t, got[i], want[i])
			}
		})
	}
}

func TestAppendIdempotent(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(1_000_000)
	open := func() *Store {
		s, err := Open(Options{Path: dir, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	steps := []struct {
		name       string
		batches    []telemetry.Batch
		wantStored int
		wantCP     map[string]uint64
		reopen     bool
	}{
		{"first", []telemetry.Batch{smallBatch("a", 1, 1), smallBatch("a", 2, 2), smallBatch("b", 7, 3)}, 3,
			map[string]uint64{"a": 2, "b": 7}, false},
		{"duplicate in call and of stored", []telemetry.Batch{smallBatch("a", 3, 4), smallBatch("a", 3, 4), smallBatch("a", 1, 1)}, 1,
			map[string]uint64{"a": 3, "b": 7}, false},
		{"seq zero never deduplicated", []telemetry.Batch{smallBatch("a", 0, 5), smallBatch("a", 0, 5), smallBatch("", 0, 5)}, 3,
			map[string]uint64{"a": 3, "b": 7, "": 0}, false},
		{"after reopen", []telemetry.Batch{smallBatch("a", 2, 2), smallBatch("b", 7, 3), smallBatch("b", 5, 6)}, 1,
			map[string]uint64{"a": 3, "b": 7}, true},
		{"all duplicates", []telemetry.Batch{smallBatch("b", 5, 6)}, 0, map[string]uint64{"b": 7}, true},
	}
	total := 0
	for _, st := range steps {
		if st.reopen {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open()
		}
		clock.Set(clock.Now().UnixMilli() + 1000)
		n, err := s.AppendBatches(st.batches)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if n != st.wantStored {
			t.Fatalf("%s: stored %d, want %d", st.name, n, st.wantStored)
		}
		total += n
		for src, want := range st.wantCP {
			got, err := s.Checkpoint(src)
			if err != nil || got != want {
				t.Fatalf("%s: Checkpoint(%q) = %d, %v; want %d", st.name, src, got, err, want)
			}
		}
	}
	got := replayAll(t, s, math.MinInt64)
	if len(got) != total {
		t.Fatalf("replayed %d, want %d", len(got), total)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReplayOrderAndSince(t *testing.T) {
	clock := newFakeClock(10_000)
	s := openTest(t, Options{InMemory: true, Now: clock.Now})
	// Arrival clock per call; the clock goes backwards at the third call,
	// which must not reorder the log.
	calls := []struct {
		clock int64
		seqs  []uint64
	}{
		{10_000, []uint64{1, 2}},
		{20_000, []uint64{3}},
		{15_000, []uint64{4, 5}},
		{30_000, []uint64{6}},
	}
	for _, c := range calls {
		clock.Set(c.clock)
		var bs []telemetry.Batch
		for _, q := range c.seqs {
			bs = append(bs, smallBatch("src", q, c.clock))
		}
		if _, err := s.AppendBatches(bs); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		since int64
		want  []uint64
	}{
		{math.MinInt64, []uint64{1, 2, 3, 4, 5, 6}},
		{10_000, []uint64{1, 2, 3, 4, 5, 6}},
		{10_001, []uint64{3, 4, 5, 6}},
		{20_000, []uint64{3, 4, 5, 6}}, // 4 and 5 arrived (clamped) at 20 000
		{20_001, []uint64{6}},
		{30_001, nil},
	}
	for _, tc := range tests {
		var got []uint64
		for _, b := range replayAll(t, s, tc.since) {
			got = append(got, b.Seq)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("since %d: got %v, want %v", tc.since, got, tc.want)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := s.ReplayBatches(0, func(telemetry.Batch) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("ReplayBatches with failing fn: n=%d err=%v, want 1 and stop", n, err)
	}
}

func TestAppendSplitsLargeCalls(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	// More entries than half Badger's per-transaction count limit.
	n := int(s.db.MaxBatchCount()/3) + 100
	bs := make([]telemetry.Batch, n)
	for i := range bs {
		bs[i] = telemetry.Batch{Source: "big", Seq: uint64(i + 1), Received: int64(i)}
	}
	stored, err := s.AppendBatches(bs)
	if err != nil {
		t.Fatal(err)
	}
	if stored != n {
		t.Fatalf("stored %d, want %d", stored, n)
	}
	got := replayAll(t, s, math.MinInt64)
	if len(got) != n {
		t.Fatalf("replayed %d, want %d", len(got), n)
	}
	for i, b := range got {
		if b.Seq != uint64(i+1) {
			t.Fatalf("replay %d has seq %d", i, b.Seq)
		}
	}
	if cp, err := s.Checkpoint("big"); err != nil || cp != uint64(n) {
		t.Fatalf("Checkpoint = %d, %v; want %d", cp, err, n)
	}
}

func TestAppendConcurrent(t *testing.T) {
	s := openTest(t, Options{})
	const workers, calls, per = 6, 30, 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for c := range calls {
				// Workers overlap: seqs drawn from a shared range, plus a
				// source of their own.
				var bs []telemetry.Batch
				for range per {
					bs = append(bs, smallBatch("shared", uint64(1+rng.IntN(200)), int64(c)))
				}
				bs = append(bs, smallBatch(fmt.Sprintf("own-%d", w), uint64(c+1), int64(c)))
				n, err := s.AppendBatches(bs)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				stored += n
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	got := replayAll(t, s, math.MinInt64)
	if len(got) != stored {
		t.Fatalf("replayed %d, stored reported %d", len(got), stored)
	}
	seen := make(map[dedupID]bool)
	var maxShared uint64
	for _, b := range got {
		id := dedupID{b.Source, b.Seq}
		if seen[id] {
			t.Fatalf("batch %v stored twice", id)
		}
		seen[id] = true
		if b.Source == "shared" {
			maxShared = max(maxShared, b.Seq)
		}
	}
	if cp, err := s.Checkpoint("shared"); err != nil || cp != maxShared {
		t.Fatalf("Checkpoint(shared) = %d, %v; want %d", cp, err, maxShared)
	}
	for w := range workers {
		if cp, err := s.Checkpoint(fmt.Sprintf("own-%d", w)); err != nil || cp != calls {
			t.Fatalf("Checkpoint(own-%d) = %d, %v; want %d", w, cp, err, calls)
		}
	}
}

func TestAppendRejectsBadSource(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	for _, src := range []string{"", "a\x00b"} {
		if _, err := s.AppendBatches([]telemetry.Batch{{Source: src, Seq: 1}}); err == nil {
			t.Errorf("source %q accepted", src)
		}
	}
}

func TestAppendNewReturnsStoredIndexes(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	if _, err := s.AppendBatches([]telemetry.Batch{smallBatch("s", 1, 1), smallBatch("s", 3, 1)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AppendNew([]telemetry.Batch{
		smallBatch("s", 1, 2), // stored before
		smallBatch("s", 2, 2),
		smallBatch("s", 3, 2), // stored before
		smallBatch("s", 0, 2), // no seq: always stored
		smallBatch("s", 2, 2), // repeat within the call
		smallBatch("t", 1, 2),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 3, 5}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("AppendNew = %v, want %v", got, want)
	}
}

func TestReplaySkipsCorruptBatch(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	if _, err := s.AppendBatches([]telemetry.Batch{smallBatch("c", 1, 1), smallBatch("c", 2, 1), smallBatch("c", 3, 1)}); err != nil {
		t.Fatal(err)
	}
	// Overwrite the middle log record with garbage.
	keys, err := s.keysWithPrefix([]byte{pLog})
	if err != nil || len(keys) != 3 {
		t.Fatalf("log keys: %d, %v", len(keys), err)
	}
	if err := s.writeKVs([]kv{{keys[1], []byte{1, 0, 0xff}}}); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, b := range replayAll(t, s, math.MinInt64) {
		seqs = append(seqs, b.Seq)
	}
	if fmt.Sprint(seqs) != "[1 3]" {
		t.Fatalf("replayed %v, want [1 3]", seqs)
	}
	if got := testutil.ToFloat64(s.m.corrupt); got != 1 {
		t.Fatalf("corrupt_records_total = %v, want 1", got)
	}
}

func TestAppendCommitFailure(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	if _, err := s.AppendBatches([]telemetry.Batch{smallBatch("f", 1, 1)}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	entered := make(chan struct{})
	release := make(chan struct{})
	s.testCommitHook = func([]*part) error {
		close(entered)
		<-release
		return boom
	}
	type result struct {
		idx []int
		err error
	}
	first := make(chan result, 1)
	go func() {
		idx, err := s.AppendNew([]telemetry.Batch{smallBatch("f", 2, 2), smallBatch("f", 3, 2)})
		first <- result{idx, err}
	}()
	<-entered
	// A redelivery of seq 3 while its first delivery is being committed
	// waits for that commit and fails with it.
	waiting := make(chan int, 1)
	s.testAfterDedup = func(waits int) { waiting <- waits }
	second := make(chan result, 1)
	go func() {
		idx, err := s.AppendNew([]telemetry.Batch{smallBatch("f", 3, 3)})
		second <- result{idx, err}
	}()
	if n := <-waiting; n != 1 {
		t.Fatalf("second call waits for %d commits, want 1", n)
	}
	close(release)
	r1, r2 := <-first, <-second
	if !errors.Is(r1.err, boom) || len(r1.idx) != 0 {
		t.Fatalf("failed commit: %v, %v", r1.idx, r1.err)
	}
	if r2.err == nil || len(r2.idx) != 0 {
		t.Fatalf("duplicate of a failed commit: %v, %v; want an error", r2.idx, r2.err)
	}
	if cp, err := s.Checkpoint("f"); err != nil || cp != 1 {
		t.Fatalf("Checkpoint after failed commit = %d, %v; want 1", cp, err)
	}
	// Nothing of the failed call is remembered: a retry stores both.
	s.testCommitHook, s.testAfterDedup = nil, nil
	idx, err := s.AppendNew([]telemetry.Batch{smallBatch("f", 2, 4), smallBatch("f", 3, 4)})
	if err != nil || fmt.Sprint(idx) != "[0 1]" {
		t.Fatalf("retry: %v, %v", idx, err)
	}
	if cp, err := s.Checkpoint("f"); err != nil || cp != 3 {
		t.Fatalf("Checkpoint after retry = %d, %v; want 3", cp, err)
	}
}

// TestSeen: Seen reports what AppendNew would skip as a duplicate, and
// why: a stored (source, Seq), of a batch or of an empty marker batch,
// is telemetry.SeenStored; one at or below the source's retention floor whose key
// retention dropped, or that never was stored (a gap below the floor), is
// telemetry.SeenBelowFloor; none of another source, never Seq 0.
func TestSeen(t *testing.T) {
	clock := newFakeClock(0)
	s := openTest(t, Options{InMemory: true, IngestLogRetention: time.Minute, Now: clock.Now})
	marker := telemetry.Batch{Source: "s", Seq: 6, Received: 1}
	if _, err := s.AppendBatches([]telemetry.Batch{smallBatch("s", 1, 1), smallBatch("s", 3, 1), smallBatch("s", 0, 1), marker}); err != nil {
		t.Fatal(err)
	}
	// An hour later 5 arrives (kept, below the floor that follows):
	// retention drops the keys of 1, 3 and the marker 6, raising the floor
	// to 6; 2 and 4 never came.
	clock.Set(time.Hour.Milliseconds())
	if _, err := s.AppendBatches([]telemetry.Batch{smallBatch("s", 5, 1)}); err != nil {
		t.Fatal(err)
	}
	seqs := []uint64{1, 2, 3, 0, 4, 5, 6, 7}
	got, err := s.Seen("s", seqs)
	if err != nil {
		t.Fatal(err)
	}
	want := []telemetry.SeenState{telemetry.SeenStored, telemetry.NotSeen, telemetry.SeenStored, telemetry.NotSeen, telemetry.NotSeen, telemetry.SeenStored, telemetry.SeenStored, telemetry.NotSeen}
	if !slices.Equal(got, want) {
		t.Fatalf("Seen(s) before retention = %v, want %v", got, want)
	}
	if _, err := s.RunRetention(t.Context(), time.UnixMilli(time.Hour.Milliseconds())); err != nil {
		t.Fatal(err)
	}
	got, err = s.Seen("s", seqs)
	if err != nil {
		t.Fatal(err)
	}
	want = []telemetry.SeenState{telemetry.SeenBelowFloor, telemetry.SeenBelowFloor, telemetry.SeenBelowFloor, telemetry.NotSeen, telemetry.SeenBelowFloor, telemetry.SeenStored, telemetry.SeenBelowFloor, telemetry.NotSeen}
	if !slices.Equal(got, want) {
		t.Fatalf("Seen(s) after retention = %v, want %v", got, want)
	}
	// Seen agrees with AppendNew: everything it reports seen is skipped.
	var bs []telemetry.Batch
	for _, seq := range seqs {
		if seq != 0 {
			bs = append(bs, telemetry.Batch{Source: "s", Seq: seq, Received: 2})
		}
	}
	idx, err := s.AppendNew(bs)
	if err != nil {
		t.Fatal(err)
	}
	var stored []uint64
	for _, i := range idx {
		stored = append(stored, bs[i].Seq)
	}
	if fmt.Sprint(stored) != "[7]" {
		t.Fatalf("AppendNew stored seqs %v, want [7]", stored)
	}
	if got, err := s.Seen("t", []uint64{1, 3}); err != nil || !slices.Equal(got, []telemetry.SeenState{telemetry.NotSeen, telemetry.NotSeen}) {
		t.Fatalf("Seen(t) = %v, %v; want none", got, err)
	}
}
