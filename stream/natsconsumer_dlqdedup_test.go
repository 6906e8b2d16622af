package stream

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// lostAckJS is a JetStream whose first lose publishes to subject reach
// the server, which stores them, while the publisher gets a timeout: a
// PubAck lost on the way back.
type lostAckJS struct {
	jetstream.JetStream
	subject string
	lose    atomic.Int32
}

func (j *lostAckJS) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := j.JetStream.PublishMsg(ctx, m, opts...)
	if err == nil && m.Subject == j.subject && j.lose.Add(-1) >= 0 {
		return nil, fmt.Errorf("publish %s: %w", m.Subject, nats.ErrTimeout)
	}
	return ack, err
}

// TestNATSConsumerDeadLetterLostAck: when the dead-letter stream stores a
// dead letter but its PubAck is lost, the message is nacked and dead-
// lettered again at its redelivery; the dead letter's Nats-Msg-Id, the
// same for both publishes, has JetStream drop the second, so OMEN_DLQ
// holds the dead letter once (it held it twice). The message is then
// terminated and counted as one dead letter after one failed publish.
func TestNATSConsumerDeadLetterLostAck(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, ns.start(t))
			reg := prometheus.NewRegistry()
			logs := &testenv.SyncBuffer{}
			c, err := NewNATSConsumer(nc, &MemAppender{}, testNATSOptions(), reg, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			lost := &lostAckJS{JetStream: c.js, subject: DefaultDLQSubject}
			lost.lose.Store(1)
			c.js = lost
			setupStreams(t, c)
			stop := runConsumer(t, c)
			seq := publish(t, js, "omen.metrics.influx", "", "this is not line protocol at all")
			waitFor(t, "the dead letter", func() bool {
				return counterValue(t, reg, "omen_nats_messages_total", "outcome", "dead_letter") == 1
			})
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if lost.lose.Load() >= 0 {
				t.Fatal("no dead-letter publish lost its ack")
			}
			if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", ReasonDeadLetterFailed); v != 1 {
				t.Fatalf("omen_ingest_errors_total{reason=dead_letter_failed} = %v, want 1 (the lost ack); logs:\n%s", v, logs.String())
			}
			st, err := js.Stream(context.Background(), DefaultDLQStream)
			if err != nil {
				t.Fatal(err)
			}
			if n := st.CachedInfo().State.Msgs; n != 1 {
				t.Fatalf("dead-letter stream holds %d messages, want 1 (the resend after the lost ack dropped as a duplicate)", n)
			}
			dl := fetchDLQ(t, js, 1)[0]
			want := c.Source() + "#" + fmt.Sprint(seq)
			if got := dl.Headers().Get(nats.MsgIdHdr); got != want {
				t.Fatalf("dead letter's %s %q, want %q", nats.MsgIdHdr, got, want)
			}
		})
	}
}

// TestDeadLetterID: the dead letter's id names the original message by
// the batch Source (stream, durable and the stream's creation time) and
// its stream sequence, so the same sequence of a stream created anew, or
// read by another durable, gets another id; without metadata or a
// Source there is none.
func TestDeadLetterID(t *testing.T) {
	old := sourceName("OMEN", "omen", time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	recreated := sourceName("OMEN", "omen", time.Date(2026, 11, 27, 10, 0, 0, 1, time.UTC))
	other := sourceName("OMEN", "omen-b", time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	meta := func(seq uint64) *jetstream.MsgMetadata {
		return &jetstream.MsgMetadata{Stream: "OMEN", Sequence: jetstream.SequencePair{Stream: seq, Consumer: 99}}
	}
	ids := map[string]string{}
	for _, tc := range []struct {
		name, source string
		meta         *jetstream.MsgMetadata
		want         string
	}{
		{"old stream seq 7", old, meta(7), "nats/OMEN/omen@2026-11-27T10:00:00.000000000Z#7"},
		{"old stream seq 8", old, meta(8), "nats/OMEN/omen@2026-11-27T10:00:00.000000000Z#8"},
		{"recreated stream seq 7", recreated, meta(7), "nats/OMEN/omen@2026-11-27T10:00:00.000000001Z#7"},
		{"other durable seq 7", other, meta(7), "nats/OMEN/omen-b@2026-11-27T10:00:00.000000000Z#7"},
		{"no metadata", old, nil, ""},
		{"no source", "", meta(7), ""},
	} {
		got := deadLetterID(tc.source, tc.meta)
		if got != tc.want {
			t.Errorf("%s: deadLetterID = %q, want %q", tc.name, got, tc.want)
		}
		if prev, ok := ids[got]; ok && got != "" {
			t.Errorf("%s: id %q the same as %s's", tc.name, got, prev)
		}
		ids[got] = tc.name
	}
}

// TestDLQDuplicates: the dead-letter stream's duplicate window covers
// the longest time between two publishes of one dead letter (a lost
// PubAck: the publish timeout plus the NAK delay's ceiling; a lost Term
// or Nak: the AckWait), twice over, and is at least JetStream's default
// 2 min, at most the stream's retention.
func TestDLQDuplicates(t *testing.T) {
	for _, tc := range []struct {
		ackWait, nakDelay, maxAge time.Duration
		want                      time.Duration
	}{
		{30 * time.Second, time.Second, DefaultDLQMaxAge, 2 * time.Minute}, // the defaults
		{5 * time.Minute, time.Second, DefaultDLQMaxAge, 10 * time.Minute},
		{30 * time.Second, 3 * time.Minute, DefaultDLQMaxAge, 6*time.Minute + 10*time.Second},
		{5 * time.Minute, time.Second, 7 * time.Minute, 7 * time.Minute},
		{30 * time.Second, time.Second, time.Minute, time.Minute},
	} {
		o := NATSOptions{AckWait: tc.ackWait, NakDelay: tc.nakDelay, DLQMaxAge: tc.maxAge}
		if got := dlqDuplicates(o); got != tc.want {
			t.Errorf("dlqDuplicates(AckWait %s, NakDelay %s, DLQMaxAge %s) = %s, want %s", tc.ackWait, tc.nakDelay, tc.maxAge, got, tc.want)
		}
	}
}

// TestNATSConsumerDLQStreamDuplicates: Setup creates the dead-letter
// stream with the duplicate window of dlqDuplicates; an existing one
// keeps its own window and its messages.
func TestNATSConsumerDLQStreamDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing time.Duration // the existing stream's window; 0: none
		want     time.Duration
	}{
		{"created", 0, 10 * time.Minute},
		{"kept", 2 * time.Minute, 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, natsServers[0].start(t))
			ctx := context.Background()
			if tc.existing > 0 {
				if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
					Name: DefaultDLQStream, Subjects: []string{DefaultDLQSubject}, Storage: jetstream.FileStorage,
					MaxAge: DefaultDLQMaxAge, MaxBytes: -1, Duplicates: tc.existing,
				}); err != nil {
					t.Fatal(err)
				}
				publish(t, js, DefaultDLQSubject, "", "an old dead letter")
			}
			opts := testNATSOptions()
			opts.AckWait = 5 * time.Minute
			setupStreams(t, newConsumer(t, nc, &MemAppender{}, opts, nil))
			st, err := js.Stream(ctx, DefaultDLQStream)
			if err != nil {
				t.Fatal(err)
			}
			info := st.CachedInfo()
			if got := info.Config.Duplicates; got != tc.want {
				t.Fatalf("dead-letter stream's duplicate window %s, want %s", got, tc.want)
			}
			if want := uint64(min(tc.existing, 1)); info.State.Msgs != want {
				t.Fatalf("dead-letter stream holds %d messages, want %d", info.State.Msgs, want)
			}
		})
	}
}

// TestNATSConsumerDeadLetterPublishExpectations: a poison message
// published with JetStream publish expectations (nats.go's
// jetstream.WithExpectStream and WithExpectLastSequence set
// Nats-Expected-Stream and Nats-Expected-Last-Sequence, which JetStream
// keeps on the stored message) is dead-lettered once, without them: its
// dead letter carried them, OMEN_DLQ refused it ("expected stream does
// not match"), and the message was nacked and redelivered for good.
func TestNATSConsumerDeadLetterPublishExpectations(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, ns.start(t))
			reg := prometheus.NewRegistry()
			c := newConsumer(t, nc, &MemAppender{}, testNATSOptions(), reg)
			setupStreams(t, c)
			stop := runConsumer(t, c)
			m := nats.NewMsg("omen.metrics.influx")
			m.Data = []byte("this is not line protocol at all")
			m.Header.Set("X-Origin", "kept")
			if _, err := js.PublishMsg(context.Background(), m, jetstream.WithExpectStream(DefaultNATSStream), jetstream.WithExpectLastSequence(0)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the dead letter", func() bool {
				return counterValue(t, reg, "omen_nats_messages_total", "outcome", "dead_letter") == 1
			})
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", ReasonDeadLetterFailed); v != 0 {
				t.Fatalf("omen_ingest_errors_total{reason=dead_letter_failed} = %v, want 0", v)
			}
			h := fetchDLQ(t, js, 1)[0].Headers()
			for k := range h {
				if strings.HasPrefix(k, "Nats-Expected-") {
					t.Errorf("dead letter carries the original's publish expectation %s: %q", k, h.Get(k))
				}
			}
			if h.Get("X-Origin") != "kept" {
				t.Errorf("dead letter's headers %v lack the original's X-Origin", h)
			}
		})
	}
}
