package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestNATSConsumerDLQStreamRecreated: when the dead-letter stream is
// deleted under a running consumer, the next poison message's publish
// finds no stream: the consumer creates the dead-letter stream again,
// streamRecreateDelay after the deletion began at the earliest, and
// publishes the message there, counted once in
// omen_ingest_errors_total{reason="dead_letter"}. It was nacked and
// retried every NAK delay for good, each retry counted as a dead letter;
// then it was created at once, and could lose its files to the old
// stream's deletion (see streamRecreateDelay).
func TestNATSConsumerDLQStreamRecreated(t *testing.T) {
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
			setupStreams(t, c)
			stop := runConsumer(t, c)
			waitFor(t, "the pull", c.pulling.Load) // Run's Setup done
			deleting := time.Now()
			if err := js.DeleteStream(context.Background(), DefaultDLQStream); err != nil {
				t.Fatal(err)
			}
			publish(t, js, "omen.metrics.influx", "", "this is not line protocol at all")
			var created time.Time
			waitFor(t, "the dead letter", func() bool {
				st, err := js.Stream(context.Background(), DefaultDLQStream)
				if err != nil {
					return false
				}
				created = st.CachedInfo().Created
				return st.CachedInfo().State.Msgs == 1
			})
			if after := created.Sub(deleting); after < streamRecreateDelay {
				t.Fatalf("the dead-letter stream was created anew %v after its deletion began, want at least %v", after, streamRecreateDelay)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", ReasonDeadLetter); v != 1 {
				t.Fatalf("omen_ingest_errors_total{reason=dead_letter} = %v, want 1; logs:\n%s", v, logs.String())
			}
			if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", ReasonDeadLetterFailed); v != 0 {
				t.Fatalf("omen_ingest_errors_total{reason=dead_letter_failed} = %v, want 0", v)
			}
			if v := counterValue(t, reg, "omen_nats_messages_total", "outcome", "nacked"); v != 0 {
				t.Fatalf("%v messages nacked, want 0", v)
			}
			if !strings.Contains(logs.String(), "dead-letter stream is missing") {
				t.Fatalf("the recreation is not logged; logs:\n%s", logs.String())
			}
			dl := fetchDLQ(t, js, 1)
			if got := dl[0].Headers().Get(HeaderDLQReason); got != "malformed" {
				t.Fatalf("dead letter's reason %q, want malformed", got)
			}
		})
	}
}

// TestDLQFailedBacksOff: failed dead-letter publishes in a row delay the
// message's redelivery twice as long each time, up to maxStorePause, and
// warn at the first failure only (then once a minute); a success ends the
// run.
func TestDLQFailedBacksOff(t *testing.T) {
	verifyNoLeaks(t)
	nc, _ := connectJS(t, natsServers[0].start(t))
	logs := &testenv.SyncBuffer{}
	opts := testNATSOptions()
	opts.NakDelay = time.Second
	c, err := NewNATSConsumer(nc, &MemAppender{}, opts, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Duration
	for range 7 {
		got = append(got, c.dlqFailed(errors.New("no response from stream"), "omen.metrics.influx", 1, "malformed"))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("redelivery delays %v, want %v", got, want)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want 1; logs:\n%s", n, logs.String())
	}
	c.dlqRecovered()
	if d := c.dlqFailed(errors.New("again"), "omen.metrics.influx", 1, "malformed"); d != time.Second {
		t.Fatalf("delay after a success %s, want 1s", d)
	}
}
