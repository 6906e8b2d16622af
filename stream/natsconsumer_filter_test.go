package stream

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestNATSConsumerFilterChange: a durable that exists with another filter
// (none, then another partition's) is given the configured one, and
// delivers that filter's messages. nats-server 2.9 accepts a filter
// changed in place but then delivers nothing (the reviewer's partitioned
// setup stalled until the durables were deleted by hand): there the
// durable is deleted and created anew, with a warning.
func TestNATSConsumerFilterChange(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, ns.start(t))
			ts := time.Now().UnixNano()
			app := &MemAppender{}
			opts := testNATSOptions()
			opts.Durable = "omen-p1"
			setupStreams(t, newConsumer(t, nc, app, opts, nil)) // no filter
			n := 0
			for _, p := range []string{"p0", "p1"} {
				publish(t, js, "omen.metrics.influx."+p, "", fmt.Sprintf("m,part=%s,i=%d v=1 %d", p, n, ts))
				n++
			}
			for i, filter := range []string{"omen.metrics.*.p1", "omen.metrics.*.p0"} {
				part := filter[len(filter)-2:]
				app := &MemAppender{}
				logs := &lockedBuffer{}
				opts.FilterSubjects = []string{filter}
				c, err := NewNATSConsumer(nc, app, opts, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(logs, nil)))
				if err != nil {
					t.Fatal(err)
				}
				stop := runConsumer(t, c)
				for _, p := range []string{"p0", "p1"} {
					publish(t, js, "omen.metrics.influx."+p, "", fmt.Sprintf("m,part=%s,i=%d v=1 %d", p, n, ts))
					n++
				}
				waitFor(t, fmt.Sprintf("a message of %s after the filter changed to %s; logs:\n%s", part, filter, logs.String()), func() bool {
					for _, s := range app.Samples() {
						if s.Labels.Get("part") == part && s.Labels.Get("i") == fmt.Sprint(n-2+map[string]int{"p0": 0, "p1": 1}[part]) {
							return true
						}
					}
					return false
				})
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				for _, s := range app.Samples() {
					if s.Labels.Get("part") != part {
						t.Fatalf("filter %s: stored %v", filter, s.Labels)
					}
				}
				cons, err := js.Consumer(context.Background(), DefaultNATSStream, opts.Durable)
				if err != nil {
					t.Fatal(err)
				}
				if got := filtersOf(cons.CachedInfo().Config); len(got) != 1 || got[0] != filter {
					t.Fatalf("change %d: consumer filters %q, want %q", i, got, filter)
				}
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
