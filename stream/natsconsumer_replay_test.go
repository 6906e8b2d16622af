package stream

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// dedupAppender is a MemAppender that is also a SeenChecker and a
// StoredAppender, as the daemon's ingester is.
type dedupAppender struct{ MemAppender }

func (d *dedupAppender) Seen(source string, seqs []uint64) ([]telemetry.SeenState, error) {
	return d.seenSeqs(source, seqs), nil
}

func (d *dedupAppender) AppendStored(ctx context.Context, bs []telemetry.Batch) ([]int, error) {
	return d.appendStored(ctx, bs)
}

// storedOnly is a MemAppender that is a StoredAppender but no
// SeenChecker.
type storedOnly struct{ MemAppender }

func (d *storedOnly) AppendStored(ctx context.Context, bs []telemetry.Batch) ([]int, error) {
	return d.appendStored(ctx, bs)
}

// dlqMessages returns how many messages the dead-letter stream holds.
func dlqMessages(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), DefaultDLQStream)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().State.Msgs
}

// TestNATSConsumerRecreatedSkipsStoredBeforeDecoding: a durable consumer
// recreated under a running consumer replays the stream (DeliverAll).
// Messages stored before, whose samples have meanwhile aged past the
// decoder's MaxAge, are acknowledged as duplicates without being decoded:
// none is dead-lettered as too_old, and the poison message dead-lettered
// before is not published to OMEN_DLQ again. A message whose samples are
// all too old is terminated and counted as expired, not dead-lettered.
func TestNATSConsumerRecreatedSkipsStoredBeforeDecoding(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, ns.start(t))
			var ahead atomic.Int64 // how far the decoder's clock is ahead
			opts := testNATSOptions()
			opts.Decode.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
			app := &dedupAppender{}
			reg := prometheus.NewRegistry()
			c := newConsumer(t, nc, app, opts, reg)
			setupStreams(t, c)
			stop := runConsumer(t, c)
			outcome := func(o string) float64 { return counterValue(t, reg, "omen_nats_messages_total", "outcome", o) }
			reason := func(r string) float64 { return counterValue(t, reg, "omen_ingest_errors_total", "reason", r) }

			ts := time.Now().UnixNano()
			publish(t, js, "omen.metrics.influx", "", fmt.Sprintf("a,i=0 v=1 %d", ts))
			publish(t, js, "omen.metrics.influx", "", "this is not line protocol at all")
			waitFor(t, "the sample stored and the poison message dead-lettered", func() bool {
				s, _, _ := app.Counts()
				return s == 1 && outcome("dead_letter") == 1
			})

			// Three hours later the stored sample is too old for the
			// decoder; the durable is lost and recreated.
			ahead.Store(int64(3 * time.Hour))
			if err := js.DeleteConsumer(context.Background(), DefaultNATSStream, DefaultDurable); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the recreated consumer's replay", func() bool {
				return counterValue(t, reg, "omen_nats_consumer_recreated_total", "consumer", DefaultDurable) == 1 &&
					outcome("duplicate") == 2
			})
			// A message whose only sample is too old: expired.
			publish(t, js, "omen.metrics.influx", "", fmt.Sprintf("a,i=1 v=1 %d", ts))
			waitFor(t, "the too old message", func() bool { return outcome("expired") == 1 })
			// A later one still flows.
			publish(t, js, "omen.metrics.influx", "", fmt.Sprintf("a,i=2 v=1 %d", time.Now().Add(3*time.Hour).UnixNano()))
			waitFor(t, "the last sample", func() bool { s, _, _ := app.Counts(); return s == 2 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}

			if n := dlqMessages(t, js); n != 1 {
				t.Fatalf("dead-letter stream holds %d messages, want the one poison message once", n)
			}
			if v := outcome("dead_letter"); v != 1 {
				t.Fatalf("omen_nats_messages_total{outcome=dead_letter} = %v, want 1", v)
			}
			if v := reason(ReasonDeadLetter); v != 1 {
				t.Fatalf("omen_ingest_errors_total{reason=dead_letter} = %v, want 1", v)
			}
			// The expired message's sample, not the replayed one's.
			if v := reason("too_old"); v != 1 {
				t.Fatalf("omen_ingest_errors_total{reason=too_old} = %v, want 1", v)
			}
			if v := reason("malformed"); v != 1 {
				t.Fatalf("omen_ingest_errors_total{reason=malformed} = %v, want 1 (the poison message decoded once)", v)
			}
		})
	}
}

// fakeMsg is a JetStream message for commit: it counts its acks.
type fakeMsg struct {
	jetstream.Msg
	acks atomic.Int32
}

func (m *fakeMsg) Ack() error { m.acks.Add(1); return nil }

// TestNATSConsumerCountsStoredOnly: omen_ingested_samples_total and
// omen_ingested_events_total count what the store stored: a message
// stored by one commit and committed again (redelivered while the first
// commit was under way, after its ack was lost) is acknowledged again but
// not counted again.
func TestNATSConsumerCountsStoredOnly(t *testing.T) {
	verifyNoLeaks(t)
	nc, _ := connectJS(t, natsServers[0].start(t))
	for _, tc := range []struct {
		name string
		app  Appender
		want float64
	}{
		{"stored appender", &storedOnly{}, 1},
		{"seen checker and stored appender", &dedupAppender{}, 1},
		// A plain Appender cannot tell: every commit counts.
		{"plain appender", &MemAppender{}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			c := newConsumer(t, nc, tc.app, testNATSOptions(), reg)
			msg := &fakeMsg{}
			for range 2 {
				st := &stage{
					spans: []msgSpan{{msg: msg, seq: 7}},
					batches: []telemetry.Batch{{Source: "nats/OMEN/omen@x", Seq: 7, Samples: []telemetry.Sample{{Labels: labels.FromStrings("__name__", "a"), T: 1, V: 1}},
						Events: []telemetry.Event{{T: 1, Reason: "r"}}}},
				}
				if !c.commit(context.Background(), context.Background(), st) {
					t.Fatal("commit failed")
				}
			}
			if n := msg.acks.Load(); n != 2 {
				t.Fatalf("%d acks, want 2 (one per delivery)", n)
			}
			if v := counterValue(t, reg, "omen_ingested_samples_total", "source", c.name); v != tc.want {
				t.Fatalf("omen_ingested_samples_total = %v, want %v", v, tc.want)
			}
			if v := counterValue(t, reg, "omen_ingested_events_total", "source", c.name); v != tc.want {
				t.Fatalf("omen_ingested_events_total = %v, want %v", v, tc.want)
			}
		})
	}
}

// seenSeqs reports, for each of seqs, whether a batch of source with that
// Seq is stored (telemetry.SeenStored; MemAppender has no retention floor).
func (m *MemAppender) seenSeqs(source string, seqs []uint64) []telemetry.SeenState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]telemetry.SeenState, len(seqs))
	for i, seq := range seqs {
		if _, ok := m.seen[seqKey{source, seq}]; ok && seq != 0 {
			out[i] = telemetry.SeenStored
		}
	}
	return out
}
