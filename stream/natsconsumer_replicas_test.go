package stream

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestNATSConsumerStreamDeletedTwoReplicas: two replicas with their own
// durables on partitioned subjects (the layout stream's documentation
// recommends) both find the stream deleted and both create it anew: one
// creates it, the other finds it created, and both give their batches
// sources of the same new stream, recreate their own durables and ingest their own
// partitions of what is published to the new stream, each message once,
// while Run keeps running on both.
func TestNATSConsumerStreamDeletedTwoReplicas(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			url := ns.start(t)
			_, js := connectJS(t, url)
			ts := time.Now().UnixNano()
			type replica struct {
				c    *NATSConsumer
				app  *MemAppender
				reg  *prometheus.Registry
				stop func() error
			}
			var rs []*replica
			for _, p := range []string{"p0", "p1"} {
				opts := testNATSOptions()
				opts.Durable = "omen-" + p
				opts.FilterSubjects = []string{"omen.metrics.*." + p}
				r := &replica{app: &MemAppender{}, reg: prometheus.NewRegistry()}
				lg := &testenv.SyncBuffer{} // shown when the test fails
				var err error
				r.c, err = NewNATSConsumer(connect(t, url), r.app, opts, r.reg, slog.New(slog.NewTextHandler(lg, &slog.HandlerOptions{Level: slog.LevelDebug})))
				if err != nil {
					t.Fatal(err)
				}
				// nats-server 2.9 does not always tell a pull that its
				// consumer was deleted (1 in about 15 loaded runs): the
				// replica learns it from missing heartbeats, two of them
				// (30 s at the client's default); half a second here.
				r.c.heartbeat = 500 * time.Millisecond
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("replica %s logs:\n%s", p, lg.String())
					}
				})
				setupStreams(t, r.c)
				r.stop = runConsumer(t, r.c)
				rs = append(rs, r)
			}
			oldSource := rs[0].c.Source()
			for _, p := range []string{"p0", "p1"} {
				publish(t, js, "omen.metrics.influx."+p, "", fmt.Sprintf("m,part=%s,i=0 v=1 %d", p, ts))
			}
			waitFor(t, "each replica's first message", func() bool {
				return len(rs[0].app.Samples()) == 1 && len(rs[1].app.Samples()) == 1
			})
			if err := js.DeleteStream(context.Background(), DefaultNATSStream); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "both durables created anew", func() bool {
				for _, d := range []string{"omen-p0", "omen-p1"} {
					if _, err := js.Consumer(context.Background(), DefaultNATSStream, d); err != nil {
						return false
					}
				}
				return true
			})
			for i := 1; i <= 3; i++ {
				for _, p := range []string{"p0", "p1"} {
					publish(t, js, "omen.metrics.influx."+p, "", fmt.Sprintf("m,part=%s,i=%d v=1 %d", p, i, ts))
				}
			}
			waitFor(t, "the new stream's messages at both replicas", func() bool {
				return len(rs[0].app.Samples()) == 4 && len(rs[1].app.Samples()) == 4
			})
			time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
			for k, r := range rs {
				if err := r.stop(); err != nil {
					t.Fatalf("replica %d's Run: %v", k, err)
				}
			}
			// The Source names the durable and the stream's creation time:
			// the two replicas' name the same new stream.
			created := func(src string) string { _, at, _ := strings.Cut(src, "@"); return at }
			s0, s1 := rs[0].c.Source(), rs[1].c.Source()
			if created(s0) == created(oldSource) || created(s1) != created(s0) {
				t.Fatalf("sources %q and %q after the recreation (%q before); want both of one new stream", s0, s1, oldSource)
			}
			for k, r := range rs {
				p := fmt.Sprintf("p%d", k)
				if got, want := parts(r.app), []string{p + "/0", p + "/1", p + "/2", p + "/3"}; !slices.Equal(got, want) {
					t.Errorf("replica %d stored %q, want %q", k, got, want)
				}
				if n := counterValue(t, r.reg, "omen_nats_consumer_recreated_total", "consumer", "omen-"+p); n != 1 {
					t.Errorf("replica %d: omen_nats_consumer_recreated_total = %v, want 1", k, n)
				}
			}
		})
	}
}
