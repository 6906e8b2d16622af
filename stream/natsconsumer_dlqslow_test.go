package stream

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// silentDLQJS is a JetStream whose publishes to subject, while down is
// set, get no answer: each waits slow (or its context) and fails with a
// timeout, as when the dead-letter stream has lost its leader. It counts
// those publishes.
type silentDLQJS struct {
	jetstream.JetStream
	subject string
	slow    time.Duration
	down    atomic.Bool
	tries   atomic.Int32
}

func (j *silentDLQJS) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if m.Subject != j.subject || !j.down.Load() {
		return j.JetStream.PublishMsg(ctx, m, opts...)
	}
	j.tries.Add(1)
	select {
	case <-ctx.Done():
	case <-time.After(j.slow):
	}
	return nil, fmt.Errorf("publish %s: %w", m.Subject, nats.ErrTimeout)
}

// TestNATSConsumerSilentDLQProbesOnce: while the dead-letter stream does
// not answer, a batch of poison messages costs one publish's wait, not
// one per message: after the first failed publish, the batch's other
// poison messages are nacked with its delay without a publish of their
// own, and the good message behind them is stored without waiting for
// them. Once the dead-letter stream answers again, the redelivered poison
// messages are all dead-lettered: none is lost. Each publish waited its
// timeout in the decoding loop (5 poison messages: 5 publishes, 5 waits
// before the good message was stored).
func TestNATSConsumerSilentDLQProbesOnce(t *testing.T) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	reg := prometheus.NewRegistry()
	logs := &testenv.SyncBuffer{}
	opts := testNATSOptions()
	opts.NakDelay = 3 * time.Second // outlasts the batch's decoding on a loaded machine
	app := &MemAppender{}
	c, err := NewNATSConsumer(nc, app, opts, reg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	silent := &silentDLQJS{JetStream: c.js, subject: DefaultDLQSubject, slow: 2 * time.Second}
	silent.down.Store(true)
	c.js = silent
	setupStreams(t, c)
	const poison = 5
	for i := range poison {
		publish(t, js, "omen.metrics.influx", "", fmt.Sprintf("poison %d is not line protocol at all", i))
	}
	publish(t, js, "omen.metrics.influx", "", fmt.Sprintf("a,i=0 v=1 %d", time.Now().UnixNano()))
	stop := runConsumer(t, c)
	waitFor(t, "the good message", func() bool {
		s, _, _ := app.Counts()
		return s == 1
	})
	if n := silent.tries.Load(); n != 1 {
		t.Fatalf("%d dead-letter publishes before the good message was stored, want 1 (the others nacked without one); logs:\n%s", n, logs.String())
	}
	silent.down.Store(false)
	waitFor(t, "the dead letters", func() bool {
		return counterValue(t, reg, "omen_nats_messages_total", "outcome", "dead_letter") == poison
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", ReasonDeadLetterFailed); v != poison {
		t.Fatalf("omen_ingest_errors_total{reason=dead_letter_failed} = %v, want %d (each poison message once not dead-lettered); logs:\n%s", v, poison, logs.String())
	}
	if n := len(fetchDLQ(t, js, poison)); n != poison {
		t.Fatalf("dead-letter stream holds %d messages, want %d", n, poison)
	}
}
