package stream

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestNATSConsumerRecreatedAfterDeletion: when the durable consumer is
// deleted under a running consumer, Run recreates it (one WARN, one count
// in omen_nats_consumer_recreated_total) and ingests what was published
// meanwhile; messages acknowledged before are redelivered by the new
// consumer and skipped as duplicates by (Source, Seq), so nothing is
// stored twice.
func TestNATSConsumerRecreatedAfterDeletion(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, ns.start(t))
			app := &MemAppender{}
			reg := prometheus.NewRegistry()
			logs := &testenv.SyncBuffer{}
			c, err := NewNATSConsumer(nc, app, testNATSOptions(), reg, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			setupStreams(t, c)
			stop := runConsumer(t, c)
			ts := time.Now().UnixNano()
			publish(t, js, "omen.metrics", "", fmt.Sprintf("a,i=0 v=1 %d", ts))
			waitFor(t, "the first message", func() bool { s, _, _ := app.Counts(); return s >= 1 })

			if err := js.DeleteConsumer(context.Background(), DefaultNATSStream, DefaultDurable); err != nil {
				t.Fatal(err)
			}
			// Published while the consumer is missing or being recreated.
			for i := 1; i <= 10; i++ {
				publish(t, js, "omen.metrics", "", fmt.Sprintf("a,i=%d v=1 %d", i, ts))
			}
			waitFor(t, "the messages published after the deletion", func() bool { s, _, _ := app.Counts(); return s >= 11 })
			if _, err := js.Consumer(context.Background(), DefaultNATSStream, DefaultDurable); err != nil {
				t.Fatalf("consumer after recreation: %v", err)
			}
			// A later message still flows through the recreated consumer.
			publish(t, js, "omen.metrics", "", fmt.Sprintf("a,i=11 v=1 %d", ts))
			waitFor(t, "a message after the recreation", func() bool { s, _, _ := app.Counts(); return s >= 12 })
			waitFor(t, "every message acknowledged", func() bool {
				cons, err := js.Consumer(context.Background(), DefaultNATSStream, DefaultDurable)
				if err != nil {
					return false
				}
				ci := cons.CachedInfo()
				return ci.AckFloor.Stream == 12 && ci.NumAckPending == 0 && ci.NumRedelivered == 0
			})
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			s, _, dups := app.Counts()
			if s != 12 {
				t.Fatalf("%d samples stored, want 12 (each message once)", s)
			}
			// Message 1 was acknowledged before the deletion: the new
			// consumer (DeliverAll) delivers it again, as a duplicate.
			if dups < 1 {
				t.Fatalf("%d duplicates, want the pre-deletion message redelivered and skipped", dups)
			}
			if n := counterValue(t, reg, "omen_nats_consumer_recreated_total", "consumer", DefaultDurable); n != 1 {
				t.Fatalf("omen_nats_consumer_recreated_total = %v, want 1", n)
			}
			out := logs.String()
			if n := strings.Count(out, "jetstream consumer is gone; recreating it"); n != 1 {
				t.Fatalf("%d recreation warnings, want 1; logs:\n%s", n, out)
			}
			if !strings.Contains(out, "level=WARN msg=\"jetstream consumer is gone; recreating it\"") {
				t.Fatalf("recreation not logged at WARN; logs:\n%s", out)
			}
		})
	}
}

// TestNATSConsumerStreamDeleted: a stream deleted under a running
// consumer is created anew with its durable, streamRecreateDelay later:
// Run keeps running (it stopped with an error, and omen exited 1), and
// messages published to the new stream are ingested under a new Source,
// though their sequence numbers repeat the old stream's. Created at once,
// the new stream lost its files to the old one's deletion now and then
// under load, and acknowledged no publish.
func TestNATSConsumerStreamDeleted(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, ns.start(t))
			app := &MemAppender{}
			reg := prometheus.NewRegistry()
			logs := &testenv.SyncBuffer{}
			c, err := NewNATSConsumer(nc, app, testNATSOptions(), reg, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			setupStreams(t, c)
			oldSource := c.Source()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			ts := time.Now().UnixNano()
			publish(t, js, "omen.metrics", "", fmt.Sprintf("a,i=0 v=1 %d", ts))
			waitFor(t, "the first message", func() bool { s, _, _ := app.Counts(); return s >= 1 })
			deleting := time.Now()
			if err := js.DeleteStream(context.Background(), DefaultNATSStream); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the stream created anew", func() bool {
				select {
				case err := <-done:
					t.Fatalf("Run returned %v after its stream was deleted; logs:\n%s", err, logs.String())
				default:
				}
				_, err := js.Consumer(context.Background(), DefaultNATSStream, DefaultDurable)
				return err == nil
			})
			// Not at once: a stream created while the old one's deletion
			// is still under way loses its files to it (see
			// streamRecreateDelay).
			st, err := js.Stream(context.Background(), DefaultNATSStream)
			if err != nil {
				t.Fatal(err)
			}
			if after := st.CachedInfo().Created.Sub(deleting); after < streamRecreateDelay {
				t.Fatalf("the stream was created anew %v after its deletion began, want at least %v", after, streamRecreateDelay)
			}
			// Sequence 1 again, in the new stream.
			if seq := publish(t, js, "omen.metrics", "", fmt.Sprintf("a,i=1 v=1 %d", ts)); seq != 1 {
				t.Fatalf("the new stream's first message has sequence %d, want 1", seq)
			}
			waitFor(t, "the new stream's message", func() bool { s, _, _ := app.Counts(); return s >= 2 })
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			if s, _, dups := app.Counts(); s != 2 || dups != 0 {
				t.Fatalf("%d samples stored, %d duplicates; want 2, 0", s, dups)
			}
			bs := app.Batches()
			if bs[0].Source != oldSource || bs[1].Source == oldSource || bs[1].Seq != 1 {
				t.Fatalf("batches %s/%d and %s/%d; want the new stream's under a new source", bs[0].Source, bs[0].Seq, bs[1].Source, bs[1].Seq)
			}
			if !strings.Contains(logs.String(), `level=WARN msg="jetstream stream was deleted under the running consumer; creating it anew`) {
				t.Fatalf("the stream's recreation is not logged at WARN; logs:\n%s", logs.String())
			}
		})
	}
}
