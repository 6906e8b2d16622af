package stream

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/stream/natsembed"
	"github.com/omen-sre/omen/telemetry"
)

// openStore opens an in-memory store closed at the end of t, and an
// Appender storing into it the way the daemon does (AppendBatches, which
// deduplicates by (Source, Seq)).
func openStore(t *testing.T) (*store.Store, Appender) {
	t.Helper()
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	app := AppenderFunc(func(_ context.Context, bs []telemetry.Batch) error {
		_, err := st.AppendBatches(bs)
		return err
	})
	return st, app
}

// storedSeries returns how many times each series value of label i was
// stored, and how many batches the store holds.
func storedSeries(t *testing.T, st *store.Store) (byI map[string]int, batches int) {
	t.Helper()
	byI = make(map[string]int)
	err := st.ReplayBatches(0, func(b telemetry.Batch) error {
		batches++
		for _, s := range b.Samples {
			byI[s.Labels.Get("i")]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return byI, batches
}

// publishRange publishes one message with one sample (series i=<prefix><k>)
// per k in [from, to).
func publishRange(t *testing.T, js jetstream.JetStream, prefix string, from, to int) {
	t.Helper()
	ts := time.Now().UnixNano()
	for k := from; k < to; k++ {
		publish(t, js, "omen.metrics", "", fmt.Sprintf("a,i=%s%d v=1 %d", prefix, k, ts))
	}
}

// waitAcked waits until the durable consumer has acknowledged every
// message up to stream sequence last.
func waitAcked(t *testing.T, js jetstream.JetStream, durable string, last uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("consumer %s to acknowledge up to sequence %d", durable, last), func() bool {
		cons, err := js.Consumer(context.Background(), DefaultNATSStream, durable)
		if err != nil {
			return false
		}
		ci := cons.CachedInfo()
		return ci.AckFloor.Stream >= last && ci.NumAckPending == 0
	})
}

func streamLastSeq(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), DefaultNATSStream)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().State.LastSeq
}

// TestNATSConsumerNewStreamAfterDeletion: when the stream is deleted while
// omen is stopped, the restarted consumer's Setup creates a new stream
// whose sequence numbers start at 1 again. Its messages must all be
// stored, not skipped as duplicates of the old stream's messages with the
// same sequence numbers (which the store holds under (Source, Seq)).
func TestNATSConsumerNewStreamAfterDeletion(t *testing.T) {
	const n, m = 20, 10 // m ≤ n: every new sequence number was used before
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, ns.start(t))
			st, app := openStore(t)

			c1 := newConsumer(t, nc, app, testNATSOptions(), nil)
			setupStreams(t, c1)
			old := c1.Source()
			stop := runConsumer(t, c1)
			publishRange(t, js, "old", 0, n)
			waitAcked(t, js, DefaultDurable, n)
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if _, b := storedSeries(t, st); b != n {
				t.Fatalf("%d batches stored from the first stream, want %d", b, n)
			}

			// An operator deletes the stream while omen is stopped.
			if err := js.DeleteStream(context.Background(), DefaultNATSStream); err != nil {
				t.Fatal(err)
			}
			// omen restarts: Setup creates a new stream.
			c2 := newConsumer(t, nc, app, testNATSOptions(), nil)
			setupStreams(t, c2)
			if c2.Source() == old {
				t.Errorf("the new stream's batches use the old stream's Source %q", old)
			}
			stop = runConsumer(t, c2)
			publishRange(t, js, "new", 0, m)
			if last := streamLastSeq(t, js); last != m {
				t.Fatalf("new stream's last sequence %d, want %d (numbering restarted)", last, m)
			}
			waitAcked(t, js, DefaultDurable, m)
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			byI, b := storedSeries(t, st)
			got := 0
			for k := range m {
				got += byI[fmt.Sprintf("new%d", k)]
			}
			if got != m || b != n+m {
				t.Fatalf("%d of the new stream's %d messages stored (%d batches in all, want %d): the rest were skipped as duplicates of the old stream's",
					got, m, b, n+m)
			}
		})
	}
}

// TestNATSConsumerRestartSameStreamNoReingest: a restarted consumer on the
// same stream keeps its Source, so messages the store already holds are
// skipped even when they are all delivered again (the durable consumer was
// deleted while omen was stopped, so the new one starts from the first
// message). A second replica (its own connection) agrees on the Source.
func TestNATSConsumerRestartSameStreamNoReingest(t *testing.T) {
	const n, m = 20, 10
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			url := ns.start(t)
			nc, js := connectJS(t, url)
			st, app := openStore(t)

			c1 := newConsumer(t, nc, app, testNATSOptions(), nil)
			setupStreams(t, c1)
			src := c1.Source()
			if !strings.HasPrefix(src, "nats/OMEN/omen@") {
				t.Fatalf("Source %q, want nats/OMEN/omen@<stream created>", src)
			}
			stop := runConsumer(t, c1)
			publishRange(t, js, "a", 0, n)
			waitAcked(t, js, DefaultDurable, n)
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}

			// Lose the durable's ack state: everything is delivered again.
			if err := js.DeleteConsumer(context.Background(), DefaultNATSStream, DefaultDurable); err != nil {
				t.Fatal(err)
			}
			c2 := newConsumer(t, connect(t, url), app, testNATSOptions(), nil)
			setupStreams(t, c2)
			if c2.Source() != src {
				t.Fatalf("restarted consumer's Source %q, want %q (same stream)", c2.Source(), src)
			}
			// Source is read (as by a status page) while Run sets it up
			// again and consumes: -race checks that this is safe.
			readerDone := make(chan struct{})
			quit := make(chan struct{})
			go func() {
				defer close(readerDone)
				for {
					select {
					case <-quit:
						return
					default:
					}
					if s := c2.Source(); s != src {
						t.Errorf("Source %q while running, want %q", s, src)
						return
					}
					time.Sleep(time.Millisecond)
				}
			}()
			stop = runConsumer(t, c2)
			publishRange(t, js, "b", 0, m)
			waitAcked(t, js, DefaultDurable, n+m)
			err := stop()
			close(quit)
			<-readerDone
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			byI, b := storedSeries(t, st)
			if b != n+m {
				t.Fatalf("%d batches stored, want %d (each message once)", b, n+m)
			}
			for i, c := range byI {
				if c != 1 {
					t.Fatalf("series i=%s stored %d times", i, c)
				}
			}
		})
	}
}

// TestNATSConsumerSourceSurvivesServerRestart: the stream's creation time,
// and so the Source, survives a restart of the NATS server (file storage).
func TestNATSConsumerSourceSurvivesServerRestart(t *testing.T) {
	verifyNoLeaks(t)
	dir := t.TempDir()
	sources := make([]string, 2)
	for i := range sources {
		srv, err := natsembed.Start(natsembed.Options{ListenAddress: "127.0.0.1:0", StoreDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		nc := connect(t, srv.ClientURL())
		c := newConsumer(t, nc, &MemAppender{}, testNATSOptions(), nil)
		setupStreams(t, c)
		sources[i] = c.Source()
		nc.Close()
		srv.Shutdown()
	}
	if sources[0] != sources[1] {
		t.Fatalf("Source changed across a server restart: %q, then %q", sources[0], sources[1])
	}
}

// TestNATSConsumerUpgradeNoReingest: a store written by a version that
// named the batches "nats/<stream>/<durable>" is not filled with duplicates
// after the upgrade when the stream is unchanged: the durable consumer's
// ack state means nothing acknowledged is delivered again.
func TestNATSConsumerUpgradeNoReingest(t *testing.T) {
	const n, m = 20, 10
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	st, app := openStore(t)
	// The old version's Source name.
	legacy := AppenderFunc(func(ctx context.Context, bs []telemetry.Batch) error {
		for i := range bs {
			bs[i].Source = "nats/OMEN/omen"
		}
		return app.Append(ctx, bs)
	})
	c1 := newConsumer(t, nc, legacy, testNATSOptions(), nil)
	setupStreams(t, c1)
	stop := runConsumer(t, c1)
	publishRange(t, js, "a", 0, n)
	waitAcked(t, js, DefaultDurable, n)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	c2 := newConsumer(t, nc, app, testNATSOptions(), nil)
	stop = runConsumer(t, c2)
	publishRange(t, js, "b", 0, m)
	waitAcked(t, js, DefaultDurable, n+m)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	byI, b := storedSeries(t, st)
	if b != n+m {
		t.Fatalf("%d batches stored, want %d (each message once)", b, n+m)
	}
	for i, c := range byI {
		if c != 1 {
			t.Fatalf("series i=%s stored %d times", i, c)
		}
	}
}
