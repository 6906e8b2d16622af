package stream

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// storeAppender is the daemon's ingester reduced to the store calls it
// makes (AppendNew, Seen), on a store whose clock the test moves.
type storeAppender struct {
	st  *store.Store
	mu  sync.Mutex
	now time.Time
}

// openClockedStore opens a store whose ingest-log retention is a minute
// and whose clock stands still until advance moves it.
func openClockedStore(t *testing.T) *storeAppender {
	t.Helper()
	a := &storeAppender{now: time.Now()}
	st, err := store.Open(store.Options{Path: t.TempDir(), NoSync: true, IngestLogRetention: time.Minute, Now: a.clock, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	a.st = st
	return a
}

func (a *storeAppender) clock() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now
}

// ageOut moves the store's clock past the ingest-log retention and runs
// retention: every batch stored so far is dropped, and the source's floor
// rises to the highest Seq stored.
func (a *storeAppender) ageOut(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	a.now = a.now.Add(2 * time.Minute)
	now := a.now
	a.mu.Unlock()
	if _, err := a.st.RunRetention(context.Background(), now); err != nil {
		t.Fatal(err)
	}
}

func (a *storeAppender) Append(ctx context.Context, bs []telemetry.Batch) error {
	_, err := a.st.AppendNew(bs)
	return err
}

func (a *storeAppender) AppendStored(ctx context.Context, bs []telemetry.Batch) ([]int, error) {
	return a.st.AppendNew(bs)
}

func (a *storeAppender) Seen(source string, seqs []uint64) ([]telemetry.SeenState, error) {
	return a.st.Seen(source, seqs)
}

// refuseDeadLetters makes the dead-letter stream refuse new messages
// (full, discard new: an operator's limit, or an account out of
// JetStream storage); acceptDeadLetters lifts it.
func refuseDeadLetters(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	setDLQLimit(t, js, 1)
	publish(t, js, DefaultDLQSubject, "", "filler")
}

func acceptDeadLetters(t *testing.T, js jetstream.JetStream) { t.Helper(); setDLQLimit(t, js, -1) }

func setDLQLimit(t *testing.T, js jetstream.JetStream, maxMsgs int64) {
	t.Helper()
	dlq, err := js.Stream(context.Background(), DefaultDLQStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := dlq.CachedInfo().Config
	cfg.MaxMsgs, cfg.Discard = maxMsgs, jetstream.DiscardNew
	if _, err := js.UpdateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
}

// TestNATSConsumerUnfinishedBelowFloorNotDuplicate: a poison message whose
// dead letter keeps failing is redelivered while later messages are
// stored; once the ingest log's retention has dropped their batches, the
// store's floor lies above the poison message's sequence. Its next
// redeliveries are decoded and dead-lettered again, not acknowledged as
// duplicates (which lost it, never stored nor dead-lettered), and once
// OMEN_DLQ takes messages again it is dead-lettered.
func TestNATSConsumerUnfinishedBelowFloorNotDuplicate(t *testing.T) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	app := openClockedStore(t)
	reg := prometheus.NewRegistry()
	c := newConsumer(t, nc, app, testNATSOptions(), reg)
	setupStreams(t, c)
	refuseDeadLetters(t, js)
	outcome := func(o string) float64 { return counterValue(t, reg, "omen_nats_messages_total", "outcome", o) }
	reason := func(r string) float64 { return counterValue(t, reg, "omen_ingest_errors_total", "reason", r) }
	stop := runConsumer(t, c)

	poison := publish(t, js, "omen.metrics.influx", "", "this is not line protocol at all")
	good := publish(t, js, "omen.metrics.influx", "", fmt.Sprintf("a,i=0 v=1 %d", time.Now().UnixNano()))
	waitFor(t, "the good message stored and a failed dead letter", func() bool {
		seen, _ := app.Seen(c.Source(), []uint64{good})
		return seen[0] == telemetry.SeenStored && reason(ReasonDeadLetterFailed) >= 1
	})
	app.ageOut(t)
	if seen, err := app.Seen(c.Source(), []uint64{poison, good}); err != nil || !slices.Equal(seen, []telemetry.SeenState{telemetry.SeenBelowFloor, telemetry.SeenBelowFloor}) {
		t.Fatalf("Seen(poison, good) after retention = %v, %v; want both below the floor", seen, err)
	}
	// Two more redeliveries: at least one looked up after the retention.
	failed := reason(ReasonDeadLetterFailed)
	waitFor(t, "two more redeliveries of the poison message", func() bool {
		return reason(ReasonDeadLetterFailed) >= failed+2 || outcome("duplicate") > 0
	})
	if v := outcome("duplicate"); v != 0 {
		t.Fatalf("omen_nats_messages_total{outcome=duplicate} = %v: the poison message, never stored nor dead-lettered, was acknowledged as a duplicate", v)
	}

	acceptDeadLetters(t, js)
	waitFor(t, "the poison message dead-lettered", func() bool { return outcome("dead_letter") == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := dlqMessages(t, js); n != 2 {
		t.Fatalf("dead-letter stream holds %d messages, want the filler and the poison message", n)
	}
	if v := outcome("duplicate"); v != 0 {
		t.Fatalf("omen_nats_messages_total{outcome=duplicate} = %v, want 0", v)
	}
	cons, err := js.Consumer(context.Background(), DefaultNATSStream, DefaultDurable)
	if err != nil {
		t.Fatal(err)
	}
	if ci := cons.CachedInfo(); ci.NumAckPending != 0 || ci.AckFloor.Stream != good {
		t.Fatalf("consumer ack floor %d, %d pending; want %d, none", ci.AckFloor.Stream, ci.NumAckPending, good)
	}
}

// TestNATSConsumerReplayBelowFloorSkipped: a durable recreated under a
// running consumer replays the stream, messages whose batches (and a dead
// letter's marker) the ingest log's retention has dropped included: they
// lie below the store's floor and this durable delivers them for the
// first time (published before it was created), so they are
// acknowledged as duplicates without being decoded, and the poison
// message is not dead-lettered again. (The recreated durable's first
// delivery goes to the deleted one's pull and is lost: the replay is the
// redelivery, NumDelivered 2, after AckWait.)
func TestNATSConsumerReplayBelowFloorSkipped(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) { testReplayBelowFloorSkipped(t, ns.start) })
	}
}

func testReplayBelowFloorSkipped(t *testing.T, start func(*testing.T) string) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, start(t))
	app := openClockedStore(t)
	reg := prometheus.NewRegistry()
	c := newConsumer(t, nc, app, testNATSOptions(), reg)
	setupStreams(t, c)
	outcome := func(o string) float64 { return counterValue(t, reg, "omen_nats_messages_total", "outcome", o) }
	stop := runConsumer(t, c)

	publish(t, js, "omen.metrics.influx", "", "this is not line protocol at all")
	good := publish(t, js, "omen.metrics.influx", "", fmt.Sprintf("a,i=0 v=1 %d", time.Now().UnixNano()))
	waitFor(t, "the good message stored and the poison one dead-lettered", func() bool {
		seen, _ := app.Seen(c.Source(), []uint64{good})
		return seen[0] == telemetry.SeenStored && outcome("dead_letter") == 1
	})
	app.ageOut(t)
	if err := js.DeleteConsumer(context.Background(), DefaultNATSStream, DefaultDurable); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recreated consumer's replay", func() bool {
		return counterValue(t, reg, "omen_nats_consumer_recreated_total", "consumer", DefaultDurable) == 1 &&
			outcome("duplicate") == 2
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := dlqMessages(t, js); n != 1 {
		t.Fatalf("dead-letter stream holds %d messages, want the poison message once", n)
	}
	if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", "malformed"); v != 1 {
		t.Fatalf("omen_ingest_errors_total{reason=malformed} = %v, want 1 (the poison message decoded once)", v)
	}
}

// TestReplayed: a message below the store's floor counts as replayed
// (acknowledged without decoding) when it was published before the
// durable was created; when that time is not known, on its first
// delivery.
func TestReplayed(t *testing.T) {
	created := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		published time.Time
		delivered uint64
		created   time.Time
		want      bool
	}{
		{"published before the durable", created.Add(-time.Hour), 2, created, true},
		{"published after the durable, first delivery", created.Add(time.Hour), 1, created, false},
		{"published after the durable, redelivered", created.Add(time.Hour), 5, created, false},
		{"creation unknown, first delivery", created, 1, time.Time{}, true},
		{"creation unknown, redelivered", created, 2, time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := int64(0)
			if !tc.created.IsZero() {
				c = tc.created.UnixNano()
			}
			meta := &jetstream.MsgMetadata{Timestamp: tc.published, NumDelivered: tc.delivered}
			if got := replayed(meta, c); got != tc.want {
				t.Fatalf("replayed = %v, want %v", got, tc.want)
			}
		})
	}
}
