package stream

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/telemetry"
)

// TestNATSConsumerHealthGauges: omen_nats_consumer_pending_messages shows
// the messages the consumer holds unacknowledged and drops to 0 once they
// are stored; omen_nats_consumer_last_contact_timestamp_seconds advances
// while the pull works, idle too, stops while the NATS server is down
// (Run keeps running, /-/ready would stay ready: this is what shows the
// stall), and advances again once the server is back. Before, no metric
// showed either.
func TestNATSConsumerHealthGauges(t *testing.T) {
	const (
		pendingName = "omen_nats_consumer_pending_messages"
		contactName = "omen_nats_consumer_last_contact_timestamp_seconds"
	)
	for _, ns := range restartableServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			srv := ns.new(t)
			srv.start(t)
			nc, js := reconnecting(t, srv.url)
			open := make(chan struct{})
			mem := &MemAppender{}
			app := AppenderFunc(func(ctx context.Context, b []telemetry.Batch) error {
				select {
				case <-open:
				case <-ctx.Done():
					return ctx.Err()
				}
				return mem.Append(ctx, b)
			})
			reg := prometheus.NewRegistry()
			logs := &testenv.SyncBuffer{}
			c, err := NewNATSConsumer(nc, app, testNATSOptions(), reg, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			c.heartbeat = 500 * time.Millisecond
			c.pollEvery = 100 * time.Millisecond
			contact := func() float64 {
				v, ok := gaugeValue(t, reg, contactName, "consumer", DefaultDurable)
				if !ok {
					t.Fatalf("%s is not registered", contactName)
				}
				return v
			}
			pending := func() float64 {
				v, ok := gaugeValue(t, reg, pendingName, "consumer", DefaultDurable)
				if !ok {
					t.Fatalf("%s is not registered", pendingName)
				}
				return v
			}
			setupStreams(t, c)
			ts := time.Now().UnixNano()
			for i := range 5 {
				publish(t, js, "omen.metrics", "", fmt.Sprintf("a,i=%d v=1 %d", i, ts))
			}
			start := float64(time.Now().UnixNano()) / 1e9
			stop := runConsumer(t, c)

			// The five messages are delivered and wait for the store.
			waitFor(t, "5 pending messages", func() bool { return pending() == 5 })
			close(open)
			waitFor(t, "the messages stored", func() bool { s, _, _ := mem.Counts(); return s == 5 })
			waitFor(t, "0 pending messages", func() bool { return pending() == 0 })
			if v := contact(); v < start {
				t.Fatalf("%s = %v, before Run started (%v)", contactName, v, start)
			}
			// Idle, the polls show the pull working.
			c1 := contact()
			waitFor(t, "contact to advance while idle", func() bool { return contact() > c1+0.3 })

			srv.stop(t)
			time.Sleep(500 * time.Millisecond) // a poll in flight may still land
			c2 := contact()
			time.Sleep(2 * time.Second)
			if v := contact(); v != c2 {
				t.Fatalf("%s advanced from %v to %v with the NATS server down; logs:\n%s", contactName, c2, v, logs.String())
			}

			srv.start(t)
			waitFor(t, "contact to advance after the server came back", func() bool { return contact() > c2+1 })
			publishRetry(t, js, "omen.metrics", fmt.Sprintf("a,i=5 v=1 %d", ts))
			waitFor(t, "the message published after the restart", func() bool { s, _, _ := mem.Counts(); return s == 6 })
			waitFor(t, "0 pending messages after the restart", func() bool { return pending() == 0 })
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

// TestNATSConsumerContactStopsWithoutHeartbeats: a pull whose heartbeats
// go missing while its consumer still exists (the server answers the
// consumer's info, but not the pull) does not count as contact. The
// missed heartbeats are simulated; contact resumes once they stop.
func TestNATSConsumerContactStopsWithoutHeartbeats(t *testing.T) {
	verifyNoLeaks(t)
	nc, _ := connectJS(t, natsServers[0].start(t))
	reg := prometheus.NewRegistry()
	logs := &testenv.SyncBuffer{}
	c, err := NewNATSConsumer(nc, &MemAppender{}, testNATSOptions(), reg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	c.heartbeat = 500 * time.Millisecond
	c.pollEvery = 50 * time.Millisecond
	setupStreams(t, c)
	stop := runConsumer(t, c)
	contact := func() float64 {
		v, _ := gaugeValue(t, reg, "omen_nats_consumer_last_contact_timestamp_seconds", "consumer", DefaultDurable)
		return v
	}
	c1 := contact()
	deadline := time.Now().Add(5 * time.Second)
	for contact() <= c1+0.2 {
		if time.Now().After(deadline) {
			t.Fatalf("contact did not advance; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Missed heartbeats reported for 1.5s, every 100ms.
	until := time.Now().Add(1500 * time.Millisecond)
	c.missedHeartbeat.Store(time.Now().UnixNano())
	time.Sleep(200 * time.Millisecond) // a poll in flight may still land
	c2 := contact()
	for time.Now().Before(until) {
		c.missedHeartbeat.Store(time.Now().UnixNano())
		time.Sleep(100 * time.Millisecond)
	}
	if v := contact(); v != c2 {
		t.Fatalf("contact advanced from %v to %v while heartbeats were missing", c2, v)
	}
	waitFor(t, "contact to advance once heartbeats are back", func() bool { return contact() > c2+1 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
