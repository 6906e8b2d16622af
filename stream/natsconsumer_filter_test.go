package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// parts returns "part/i" of the samples app stored.
func parts(app *MemAppender) []string {
	var got []string
	for _, s := range app.Samples() {
		got = append(got, s.Labels.Get("part")+"/"+s.Labels.Get("i"))
	}
	return got
}

// TestNATSConsumerFilterChange: a durable that exists with other filter
// subjects than configured (none, another partition's, one more) is never
// deleted. nats-server 2.9 accepts a filter changed in place but then
// delivers nothing, so there Setup refuses with a *FilterConflictError
// naming the durable, both filters and the ways out, and leaves the
// durable as it was. 2.10 and later update it in place; the consumer
// continues from its position, so the new filter's messages published
// before the change are not read, and those after it are.
func TestNATSConsumerFilterChange(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			for i, tc := range []struct{ existing, configured []string }{
				{nil, []string{"omen.metrics.*.p1"}},
				{[]string{"omen.metrics.*.p0"}, []string{"omen.metrics.*.p1"}},
				{[]string{"omen.metrics.*.p0"}, nil},
			} {
				nc, js := connectJS(t, ns.start(t)) // a new stream for each case
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				opts := testNATSOptions()
				opts.Durable = fmt.Sprintf("omen-%d", i)
				opts.FilterSubjects = tc.existing
				first := &MemAppender{}
				c := newConsumer(t, nc, first, opts, nil)
				setupStreams(t, c)
				ts := time.Now().UnixNano()
				// p1 first: it lies before the consumer's position (the
				// last message delivered, p0/before) also when p1 is not
				// the first consumer's filter.
				for _, p := range []string{"p1", "p0"} {
					publish(t, js, "omen.metrics.influx."+p, "", fmt.Sprintf("m,part=%s,i=before v=1 %d", p, ts))
				}
				stop := runConsumer(t, c)
				waitFor(t, "the first consumer's messages", func() bool { return len(first.Samples()) == 2-len(tc.existing) })
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				before, err := js.Consumer(ctx, DefaultNATSStream, opts.Durable)
				if err != nil {
					t.Fatal(err)
				}

				opts.FilterSubjects = tc.configured
				app := &MemAppender{}
				logs := &testenv.SyncBuffer{}
				c2, err := NewNATSConsumer(nc, app, opts, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(logs, nil)))
				if err != nil {
					t.Fatal(err)
				}
				_, err = c2.Setup(ctx)
				after, lerr := js.Consumer(ctx, DefaultNATSStream, opts.Durable)
				if lerr != nil {
					t.Fatalf("%v → %v: the durable is gone after Setup (%v): %v", tc.existing, tc.configured, err, lerr)
				}
				if !after.CachedInfo().Created.Equal(before.CachedInfo().Created) {
					t.Fatalf("%v → %v: the durable was deleted and created anew", tc.existing, tc.configured)
				}
				if !serverAtLeast(nc.ConnectedServerVersion(), 2, 10) {
					var fc *FilterConflictError
					if !errors.As(err, &fc) {
						t.Fatalf("%v → %v on %s: Setup: %v, want a FilterConflictError", tc.existing, tc.configured, nc.ConnectedServerVersion(), err)
					}
					for _, want := range []string{
						fmt.Sprintf("consumer %q", opts.Durable), describeFilters(tc.existing), describeFilters(tc.configured),
						"nats consumer rm OMEN " + opts.Durable, "another nats.durable", "ingest log's retention",
					} {
						if !strings.Contains(err.Error(), want) {
							t.Errorf("error %q does not say %q", err, want)
						}
					}
					if got := filtersOf(after.CachedInfo().Config); !sameFilters(got, tc.existing) {
						t.Fatalf("%v → %v: the durable's filter is now %q", tc.existing, tc.configured, got)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%v → %v: Setup: %v", tc.existing, tc.configured, err)
				}
				if got := filtersOf(after.CachedInfo().Config); !sameFilters(got, tc.configured) {
					t.Fatalf("%v → %v: the durable's filter is %q", tc.existing, tc.configured, got)
				}
				if !strings.Contains(logs.String(), "messages of the new filter before it are not read") {
					t.Errorf("no WARN of the in-place update; logs:\n%s", logs)
				}
				stop = runConsumer(t, c2)
				for _, p := range []string{"p0", "p1"} {
					publish(t, js, "omen.metrics.influx."+p, "", fmt.Sprintf("m,part=%s,i=after v=1 %d", p, ts))
				}
				want := []string{"p0/after", "p1/after"}
				if len(tc.configured) > 0 {
					want = []string{"p1/after"}
				}
				waitFor(t, fmt.Sprintf("%q after the filter changed to %q", want, tc.configured), func() bool { return len(app.Samples()) >= len(want) })
				time.Sleep(200 * time.Millisecond) // anything more would have come with it
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				if got := parts(app); !slices.Equal(got, want) {
					t.Fatalf("%v → %v: stored %q, want %q (the new filter's messages from before the change are not read)", tc.existing, tc.configured, got, want)
				}
			}
		})
	}
}

// TestNATSConsumerFilterChangeTwoReplicas: a rolling deploy starts a
// replica whose filter differs from that of a running replica on the
// same durable. On nats-server 2.9 the new one is refused (Run returns the
// *FilterConflictError) and the running one keeps consuming its
// partition: before, they deleted each other's durable in turn, each
// recreation redelivered the whole stream, and the end state was
// arbitrary. On 2.10 and later the filter is updated in place, nothing
// is deleted or recreated, and both replicas consume the new filter.
func TestNATSConsumerFilterChangeTwoReplicas(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			url := ns.start(t)
			nc, js := connectJS(t, url)
			modern := serverAtLeast(nc.ConnectedServerVersion(), 2, 10)
			ts := time.Now().UnixNano()
			optsA := testNATSOptions()
			optsA.FilterSubjects = []string{"omen.metrics.*.p0"}
			regA := prometheus.NewRegistry()
			appA := &MemAppender{}
			a := newConsumer(t, nc, appA, optsA, regA)
			stopA := runConsumer(t, a)
			waitFor(t, "replica A's durable", func() bool { return a.Source() != "" })
			publish(t, js, "omen.metrics.influx.p1", "", fmt.Sprintf("m,part=p1,i=0 v=1 %d", ts))
			publish(t, js, "omen.metrics.influx.p0", "", fmt.Sprintf("m,part=p0,i=0 v=1 %d", ts))
			waitFor(t, "p0/0 at replica A", func() bool { return len(appA.Samples()) == 1 })

			optsB := testNATSOptions()
			optsB.FilterSubjects = []string{"omen.metrics.*.p1"}
			appB := &MemAppender{}
			b := newConsumer(t, connect(t, url), appB, optsB, nil)
			if modern {
				// Updated in place (see TestNATSConsumerFilterChange):
				// nothing is deleted, and both replicas share the new
				// filter from then on.
				stopB := runConsumer(t, b)
				waitFor(t, "replica B's durable", func() bool { return b.Source() != "" })
				publish(t, js, "omen.metrics.influx.p0", "", fmt.Sprintf("m,part=p0,i=1 v=1 %d", ts))
				publish(t, js, "omen.metrics.influx.p1", "", fmt.Sprintf("m,part=p1,i=1 v=1 %d", ts))
				waitFor(t, "p1/1 at either replica", func() bool { return len(appA.Samples())+len(appB.Samples()) == 2 })
				time.Sleep(200 * time.Millisecond)
				for _, stop := range []func() error{stopA, stopB} {
					if err := stop(); err != nil {
						t.Fatal(err)
					}
				}
				if got, want := append(parts(appA), parts(appB)...), []string{"p0/0", "p1/1"}; !slices.Equal(got, want) {
					t.Fatalf("replicas stored %q, want %q", got, want)
				}
				if n := counterValue(t, regA, "omen_nats_consumer_recreated_total", "consumer", DefaultDurable); n != 0 {
					t.Fatalf("replica A recreated its durable %v times", n)
				}
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := b.Run(ctx)
			var fc *FilterConflictError
			if !errors.As(err, &fc) {
				t.Fatalf("replica B's Run: %v, want a FilterConflictError", err)
			}
			for i := 1; i <= 3; i++ {
				publish(t, js, "omen.metrics.influx.p0", "", fmt.Sprintf("m,part=p0,i=%d v=1 %d", i, ts))
				publish(t, js, "omen.metrics.influx.p1", "", fmt.Sprintf("m,part=p1,i=%d v=1 %d", i, ts))
			}
			waitFor(t, "p0/3 at replica A", func() bool { return len(appA.Samples()) == 4 })
			time.Sleep(200 * time.Millisecond)
			if err := stopA(); err != nil {
				t.Fatal(err)
			}
			if got, want := parts(appA), []string{"p0/0", "p0/1", "p0/2", "p0/3"}; !slices.Equal(got, want) {
				t.Fatalf("replica A stored %q, want %q", got, want)
			}
			if n := len(appB.Samples()); n != 0 {
				t.Fatalf("replica B stored %d samples", n)
			}
			if n := counterValue(t, regA, "omen_nats_consumer_recreated_total", "consumer", DefaultDurable); n != 0 {
				t.Fatalf("replica A recreated its durable %v times", n)
			}
		})
	}
}

// TestNATSConsumerMultipleFiltersOnOldServer: several filter subjects on
// nats-server 2.9 are refused with an error naming the version needed,
// and leave no consumer behind (2.9 created one of the whole stream,
// which a later start with one filter reused). On a recent server they
// work.
func TestNATSConsumerMultipleFiltersOnOldServer(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, ns.start(t))
			opts := testNATSOptions()
			opts.Durable = "omen-p0"
			opts.FilterSubjects = []string{"omen.metrics.*.p0", "omen.events.*.p0"}
			c := newConsumer(t, nc, &MemAppender{}, opts, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.Setup(ctx)
			_, lerr := js.Consumer(ctx, DefaultNATSStream, opts.Durable)
			if serverAtLeast(nc.ConnectedServerVersion(), 2, 10) {
				if err != nil || lerr != nil {
					t.Fatalf("Setup: %v; consumer: %v", err, lerr)
				}
				return
			}
			if lerr == nil {
				t.Fatalf("a consumer was left behind by the failed Setup (%v)", err)
			}
			if err == nil || !strings.Contains(err.Error(), "need nats-server 2.10 or later") {
				t.Fatalf("Setup on %s: %v, want an error naming the version needed", nc.ConnectedServerVersion(), err)
			}
		})
	}
}

func TestServerAtLeast(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"2.9.10", false}, {"2.10.0", true}, {"2.15.2", true}, {"3.0.0", true}, {"1.4.1", false},
		{"2.10.0-beta.1", true}, {"", true}, {"x.y", true},
	} {
		if got := serverAtLeast(tc.v, 2, 10); got != tc.want {
			t.Errorf("serverAtLeast(%q, 2, 10) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// TestNATSConsumerRecreateFilterConflict: when a durable that went
// missing was recreated meanwhile with another filter (by a replica
// configured otherwise) on nats-server 2.9, recreate returns the
// *FilterConflictError, which stops Run, instead of retrying for good. On
// 2.10 and later it updates the filter in place.
func TestNATSConsumerRecreateFilterConflict(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, ns.start(t))
			opts := testNATSOptions()
			opts.FilterSubjects = []string{"omen.metrics.*.p0"}
			c := newConsumer(t, nc, &MemAppender{}, opts, nil)
			setupStreams(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := js.DeleteConsumer(ctx, DefaultNATSStream, DefaultDurable); err != nil {
				t.Fatal(err)
			}
			if _, err := js.CreateConsumer(ctx, DefaultNATSStream, jetstream.ConsumerConfig{
				Durable: DefaultDurable, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "omen.metrics.*.p1",
			}); err != nil {
				t.Fatal(err)
			}
			cons, err := c.recreate(ctx)
			if serverAtLeast(nc.ConnectedServerVersion(), 2, 10) {
				if err != nil || cons == nil {
					t.Fatalf("recreate: %v, %v", cons, err)
				}
				return
			}
			var fc *FilterConflictError
			if !errors.As(err, &fc) || ctx.Err() != nil {
				t.Fatalf("recreate: %v (context: %v), want a FilterConflictError at once", err, ctx.Err())
			}
		})
	}
}
