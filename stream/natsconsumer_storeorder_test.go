package stream

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// refusingStore is an Appender whose store refuses its next refuse
// commits with store.ErrDiskFull, a retryable error, as the store does
// below its disk reserve, and refuses as invalid (ErrInvalid) every
// commit holding the batch of Seq invalid; once that batch is refused
// alone (the consumer looks for the bad message one by one), the next
// refuseAfterInvalid commits are refused as full too. What it takes goes
// to the MemAppender, in order. It records the sequences of the first
// commit refused as full (held) and how many times each sequence was
// appended to the MemAppender (offered).
type refusingStore struct {
	*MemAppender
	mu                 sync.Mutex
	refuse             int
	invalid            uint64
	refuseAfterInvalid int
	refused            int
	held               []uint64
	offered            map[uint64]int
}

func (s *refusingStore) Append(ctx context.Context, b []telemetry.Batch) error {
	s.mu.Lock()
	for _, x := range b {
		if s.invalid != 0 && x.Seq == s.invalid {
			if len(b) == 1 {
				s.refuse += s.refuseAfterInvalid
				s.refuseAfterInvalid = 0
			}
			s.mu.Unlock()
			return fmt.Errorf("batch %d: %w", x.Seq, ErrInvalid)
		}
	}
	if s.refuse > 0 {
		s.refuse--
		s.refused++
		if s.refused == 1 {
			for _, x := range b {
				s.held = append(s.held, x.Seq)
			}
		}
		s.mu.Unlock()
		return fmt.Errorf("commit %d batches to the ingest log: append batches: %w: 10 bytes free", len(b), store.ErrDiskFull)
	}
	if s.offered == nil {
		s.offered = make(map[uint64]int)
	}
	for _, x := range b {
		s.offered[x.Seq]++
	}
	s.mu.Unlock()
	return s.MemAppender.Append(ctx, b)
}

// refusing reports whether refusals are pending, and how many commits
// were refused.
func (s *refusingStore) refusing() (pending bool, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refuse > 0 || s.refuseAfterInvalid > 0, s.refused
}

// TestNATSConsumerStoreOutageKeepsStreamOrder: while the store refuses
// batches with a retryable error (its disk below the reserve), the
// consumer holds the refused messages and appends them again after its
// pause, so that the store takes every message in stream order, each
// once, with messages published before and during the refusals: no gap,
// nothing twice (nothing is redelivered: the AckWait, 10s, is far longer
// than the pauses). Before, it nacked the refused batch with the pause as
// its delay and, after the pause, stored the next batches already pulled
// before the redelivery of the nacked ones: newer samples stored first,
// and the older ones late to the evaluator (omen_ingest_late_samples_total),
// whose steps were not evaluated again. The second case is a commit
// refused in part: a batch the store refuses as invalid makes the
// consumer append the messages one by one, and the store then refuses
// one with the retryable error; the messages after it were appended on
// (stored before it) and it alone nacked. Now it and those after it are
// held and appended again, together, after the pause. The third case
// holds the pull longer than its heartbeats. The fourth holds the batch
// longer than the AckWait (2s): marked in progress, it is not
// redelivered (the batches waiting behind it are, and skipped as
// duplicates: there only the order and the held batch are checked).
func TestNATSConsumerStoreOutageKeepsStreamOrder(t *testing.T) {
	for _, srv := range natsServers {
		t.Run(srv.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, srv.start(t))
			for _, tc := range []struct {
				name string
				// refuse: commits refused from the start; invalidAt: the
				// index of the message whose batch the store refuses as
				// invalid (-1: none), after which refuseAfterInvalid
				// commits are refused; heartbeat shortens the pull's idle
				// heartbeat; ackWait, when set, replaces 10s.
				refuse, invalidAt, refuseAfterInvalid int
				heartbeat, ackWait                    time.Duration
			}{
				{"refused commits", 3, -1, 0, 0, 0},
				{"refused after an invalid batch", 0, 3, 2, 0, 0},
				// Pauses of 50ms to 1.6s, 3s in all: the pull is held
				// over many of its heartbeats.
				{"held past the pull's heartbeats", 6, -1, 0, 500 * time.Millisecond, 0},
				// Pauses of 50ms to 1s (half the AckWait), 3.5s in all:
				// the batch held is marked in progress, so that the
				// server does not redeliver it. (The batches waiting
				// behind it outlive their AckWait and are redelivered:
				// the store skips them as duplicates.)
				{"held past the AckWait", 7, -1, 0, 0, 2 * time.Second},
			} {
				t.Run(tc.name, func(t *testing.T) {
					mem := &MemAppender{}
					app := &refusingStore{MemAppender: mem, refuse: tc.refuse}
					opts := testNATSOptions()
					opts.AckWait = 10 * time.Second
					if tc.ackWait > 0 {
						opts.AckWait = tc.ackWait
					}
					opts.FetchBatch = 10
					opts.Durable = fmt.Sprintf("order-%d-%d", tc.refuse, tc.invalidAt)
					subject := "omen.metrics.influx." + opts.Durable
					opts.FilterSubjects = []string{subject}
					reg := prometheus.NewRegistry()
					c, err := NewNATSConsumer(nc, app, opts, reg, slog.New(slog.DiscardHandler))
					if err != nil {
						t.Fatal(err)
					}
					c.heartbeat = tc.heartbeat
					setupStreams(t, c)

					var want []uint64 // the sequences to store, in stream order
					pub := func(i int) {
						seq := publish(t, js, subject, "", fmt.Sprintf("order,i=%d v=%d %d", i, i, time.Now().UnixNano()))
						if i == tc.invalidAt {
							app.mu.Lock()
							app.invalid, app.refuseAfterInvalid = seq, tc.refuseAfterInvalid
							app.mu.Unlock()
							return // dead-lettered, not stored
						}
						want = append(want, seq)
					}
					// A backlog of several fetches, pulled and buffered
					// while the first is refused.
					const before, after, most = 60, 30, 3000
					i := 0
					for ; i < before; i++ {
						pub(i)
					}
					stop := runConsumer(t, c)
					// Publishing goes on while the store refuses, then a
					// little longer.
					for {
						pending, refused := app.refusing()
						if !pending && refused > 0 {
							break
						}
						if i == most {
							t.Fatalf("%d messages published, the store still refuses (%d refused)", i, refused)
						}
						pub(i)
						i++
						time.Sleep(5 * time.Millisecond)
					}
					for end := i + after; i < end; i++ {
						pub(i)
					}
					waitFor(t, "every message stored", func() bool { return len(mem.Batches()) >= len(want) })
					// Before stop, which nacks a batch in flight.
					if v := counterValue(t, reg, "omen_nats_messages_total", "outcome", "nacked"); v != 0 {
						t.Errorf("omen_nats_messages_total{outcome=nacked} = %v, want 0 (refused messages are held, not nacked)", v)
					}
					if err := stop(); err != nil {
						t.Fatal(err)
					}

					_, refused := app.refusing()
					if want := tc.refuse + tc.refuseAfterInvalid; refused != want {
						t.Errorf("%d commits refused, want %d", refused, want)
					}
					var got []uint64
					for _, b := range mem.Batches() {
						got = append(got, b.Seq)
					}
					app.mu.Lock()
					for _, seq := range app.held {
						if n := app.offered[seq]; n != 1 {
							t.Errorf("sequence %d, of the batch held, appended %d times, want once (not redelivered)", seq, n)
						}
					}
					app.mu.Unlock()
					if _, _, dups := mem.Counts(); dups != 0 && tc.ackWait == 0 {
						t.Errorf("%d batches appended twice (redelivered)", dups)
					}
					if len(got) != len(want) {
						t.Fatalf("stored %d messages, want %d:\n got  %v\n want %v", len(got), len(want), got, want)
					}
					for k := range want {
						if got[k] != want[k] {
							t.Fatalf("stored out of stream order at position %d (sequence %d, want %d):\n got  %v\n want %v", k, got[k], want[k], got, want)
						}
					}
					if v, ok := gaugeValue(t, reg, "omen_nats_consumer_backoff_seconds", "consumer", opts.Durable); !ok || v != 0 {
						t.Errorf("omen_nats_consumer_backoff_seconds = %v (present %v) once the store takes batches, want 0", v, ok)
					}
				})
			}
		})
	}
}
