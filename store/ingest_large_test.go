package store

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// bigBatch is a batch of n random series (one sample each) and m events
// that encodes to several MiB (compressed or not).
func bigBatch(source string, seq uint64, n, m int) telemetry.Batch {
	r := rand.New(rand.NewPCG(1, 2))
	b := telemetry.Batch{Source: source, Seq: seq, Received: 1234}
	for i := range n {
		b.Samples = append(b.Samples, telemetry.Sample{
			Labels: labels.FromStrings("__name__", "m", "id", fmt.Sprint(r.Uint64())), T: int64(1000 + i), V: r.Float64(),
		})
	}
	for i := range m {
		b.Events = append(b.Events, telemetry.Event{
			T: int64(5000 + i), Source: telemetry.SourceKubernetes, Reason: "BackOff", Type: "Warning", Count: 1,
			Labels: labels.FromStrings("pod", fmt.Sprint("p-", r.Uint64())), Message: fmt.Sprint("msg ", r.Uint64()),
		})
	}
	return b
}

// randomText is n bytes that snappy cannot shrink.
func randomText(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// TestAppendLargeBatchSplit: a batch whose encoding exceeds the value-log
// file size (Badger refuses such a value in every transaction, so it
// failed on every retry) is stored as several records, each within the
// limit, that replay to exactly its samples and events; a redelivery is a
// duplicate.
func TestAppendLargeBatchSplit(t *testing.T) {
	cases := []struct {
		name     string
		opts     Options
		samples  int
		events   int
		minParts int
	}{
		{"disk, 1 MiB value log", Options{ValueLogFileSize: 1 << 20, DiskReserve: -1}, 60000, 3000, 4},
		{"disk, uncompressed", Options{ValueLogFileSize: 1 << 20, DiskReserve: -1, DisableIngestCompression: true}, 60000, 0, 4},
		{"disk, events only", Options{ValueLogFileSize: 1 << 20, DiskReserve: -1}, 0, 40000, 2},
		{"in memory", Options{InMemory: true}, 60000, 100, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, tc.opts)
			big := bigBatch("nats/big", 7, tc.samples, tc.events)
			if whole := len(encodeBatch(nil, &big, !tc.opts.DisableIngestCompression)); int64(whole) <= s.opts.ValueLogFileSize && !tc.opts.InMemory {
				t.Fatalf("test batch encodes to %d bytes, not above the value-log file size %d", whole, s.opts.ValueLogFileSize)
			}
			idx, err := s.AppendNew([]telemetry.Batch{smallBatch("nats/small", 1, 1), big})
			if err != nil || fmt.Sprint(idx) != "[0 1]" {
				t.Fatalf("AppendNew = %v, %v; want [0 1], nil", idx, err)
			}
			var samples []telemetry.Sample
			var events []telemetry.Event
			parts := 0
			for _, b := range replayAll(t, s, math.MinInt64) {
				if b.Source != big.Source {
					continue
				}
				parts++
				if b.Seq != big.Seq || b.Received != big.Received {
					t.Fatalf("piece has seq %d, received %d; want %d, %d", b.Seq, b.Received, big.Seq, big.Received)
				}
				samples = append(samples, b.Samples...)
				events = append(events, b.Events...)
			}
			if parts < tc.minParts {
				t.Fatalf("stored as %d records, want at least %d", parts, tc.minParts)
			}
			if len(samples) != len(big.Samples) || len(events) != len(big.Events) {
				t.Fatalf("replayed %d samples, %d events; want %d, %d", len(samples), len(events), len(big.Samples), len(big.Events))
			}
			for i := range samples {
				if w := big.Samples[i]; !labels.Equal(samples[i].Labels, w.Labels) || samples[i].T != w.T || samples[i].V != w.V {
					t.Fatalf("sample %d = %v, want %v", i, samples[i], w)
				}
			}
			for i := range events {
				if w := big.Events[i]; !labels.Equal(events[i].Labels, w.Labels) || events[i].T != w.T || events[i].Message != w.Message {
					t.Fatalf("event %d = %v, want %v", i, events[i], w)
				}
			}
			if cp, err := s.Checkpoint(big.Source); err != nil || cp != big.Seq {
				t.Fatalf("Checkpoint = %d, %v; want %d", cp, err, big.Seq)
			}
			if n, err := s.AppendBatches([]telemetry.Batch{big}); err != nil || n != 0 {
				t.Fatalf("redelivery: stored %d, %v; want 0 (a duplicate)", n, err)
			}
		})
	}
}

// TestAppendTooLarge: a batch one sample or event of which alone encodes
// beyond the record limit is refused at once with ErrTooLarge, naming the
// size and the limit without Badger's hex dump of the value, and nothing
// of the call is stored; the next call is unaffected.
func TestAppendTooLarge(t *testing.T) {
	huge := randomText(1500 << 10)
	cases := []struct {
		name string
		opts Options
		b    telemetry.Batch
		what string
	}{
		{"sample, disk", Options{ValueLogFileSize: 1 << 20, DiskReserve: -1}, telemetry.Batch{Source: "nats/x", Seq: 2, Samples: []telemetry.Sample{
			{Labels: labels.FromStrings("__name__", "ok"), T: 1},
			{Labels: labels.FromStrings("__name__", "m", "v", huge), T: 2},
		}}, "sample"},
		{"event, in memory", Options{InMemory: true}, telemetry.Batch{Source: "nats/x", Seq: 2, Events: []telemetry.Event{
			{T: 1, Source: telemetry.SourceKubernetes, Reason: "r", Message: huge},
		}}, "event"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, tc.opts)
			idx, err := s.AppendNew([]telemetry.Batch{smallBatch("nats/x", 1, 1), tc.b})
			if !errors.Is(err, ErrTooLarge) || len(idx) != 0 {
				t.Fatalf("AppendNew = %v, %v; want nothing stored and ErrTooLarge", idx, err)
			}
			msg := err.Error()
			limit := fmt.Sprintf("limit of %d bytes", s.maxRecord())
			if strings.Contains(msg, "\n") || len(msg) > 400 || !strings.Contains(msg, limit) || !strings.Contains(msg, "one "+tc.what+" encodes to") {
				t.Fatalf("error text %q: want one line naming the size and %q", msg, limit)
			}
			if got := replayAll(t, s, math.MinInt64); len(got) != 0 {
				t.Fatalf("refused call stored %d batches", len(got))
			}
			if n, err := s.AppendBatches([]telemetry.Batch{smallBatch("nats/x", 1, 1)}); err != nil || n != 1 {
				t.Fatalf("next call: %d, %v", n, err)
			}
		})
	}
}

// TestGroupCommitIsolatesFailure: when the group committer packs parts
// of several calls into one transaction and that transaction fails
// because of one call's data (here a key beyond Badger's limit), the other
// calls' parts are committed nonetheless, and no error text carries
// Badger's hex dump.
func TestGroupCommitIsolatesFailure(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	s.testCommitHook = func([]*part) error {
		// Hold the first commit so that the next calls queue behind it
		// and are committed together.
		once.Do(func() {
			close(entered)
			<-release
		})
		return nil
	}
	errs := make(chan error, 1)
	go func() { _, err := s.AppendBatches([]telemetry.Batch{smallBatch("first", 1, 1)}); errs <- err }()
	<-entered
	results := make([]chan error, 2)
	calls := [][]telemetry.Batch{
		{smallBatch(strings.Repeat("s", 70000), 1, 2)}, // its keys exceed Badger's 65000 bytes
		{smallBatch("good", 1, 3)},
	}
	for i, bs := range calls {
		results[i] = make(chan error, 1)
		go func() { _, err := s.AppendBatches(bs); results[i] <- err }()
		for queued := 0; queued <= i; {
			s.gc.mu.Lock()
			queued = len(s.gc.queue)
			s.gc.mu.Unlock()
			runtime.Gosched()
		}
	}
	close(release)
	if err := <-errs; err != nil {
		t.Fatalf("first call: %v", err)
	}
	poisonErr, goodErr := <-results[0], <-results[1]
	if poisonErr == nil || strings.Contains(poisonErr.Error(), "\n") || len(poisonErr.Error()) > 400 {
		t.Fatalf("call with an oversized key: %q; want a one-line error", poisonErr)
	}
	if goodErr != nil {
		t.Fatalf("call committed in the same group as a failing one: %v", goodErr)
	}
	if cp, err := s.Checkpoint("good"); err != nil || cp != 1 {
		t.Fatalf("Checkpoint(good) = %d, %v; want 1", cp, err)
	}
	// The first call's transaction and the good call's, alone: the failed
	// ones are not counted as committed.
	if n := testutil.ToFloat64(s.m.commits); n != 2 {
		t.Errorf("omen_store_ingest_commits_total = %v, want 2", n)
	}
}

// TestAppendSplitBeyondTxn: a batch whose pieces together cannot be
// committed in one transaction (in memory, where the values count at full
// size) is refused with ErrTooLarge, a permanent error, instead of
// failing with Badger's retryable "Txn is too big" on every retry
// (reviewer's finding); a smaller call is unaffected.
func TestAppendSplitBeyondTxn(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	big := bigBatch("nats/big", 7, 400000, 0)
	if _, err := s.AppendNew([]telemetry.Batch{big}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a batch beyond one transaction: %v, want ErrTooLarge", err)
	}
	if n, err := s.AppendBatches([]telemetry.Batch{smallBatch("small", 1, 2)}); err != nil || n != 1 {
		t.Fatalf("a small batch after: %d, %v", n, err)
	}
}
