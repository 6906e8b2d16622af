package stream

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/stream/natsembed"
)

// restartableNATS is a NATS server with JetStream on a fixed loopback
// port and store directory, which a test stops and starts again.
type restartableNATS struct {
	url   string
	store string // the -sd directory; JetStream keeps its files under store/jetstream
	start func(t *testing.T)
	stop  func(t *testing.T)
}

// restartableServers are the two servers of natsServers, restartable.
var restartableServers = []struct {
	name string
	new  func(t *testing.T) *restartableNATS
}{
	{"embedded", func(t *testing.T) *restartableNATS {
		port := testenv.StablePort(t)
		r := &restartableNATS{url: fmt.Sprintf("nats://127.0.0.1:%d", port), store: t.TempDir()}
		var srv *natsembed.Server
		r.start = func(t *testing.T) {
			t.Helper()
			var err error
			srv, err = natsembed.Start(natsembed.Options{ListenAddress: fmt.Sprintf("127.0.0.1:%d", port), StoreDir: r.store})
			if err != nil {
				t.Fatal(err)
			}
		}
		r.stop = func(*testing.T) {
			if srv != nil {
				srv.Shutdown()
				srv = nil
			}
		}
		t.Cleanup(func() { r.stop(t) })
		return r
	}},
	{"debian", func(t *testing.T) *restartableNATS {
		port := testenv.StablePort(t)
		r := &restartableNATS{url: fmt.Sprintf("nats://127.0.0.1:%d", port), store: t.TempDir()}
		var srv *testenv.Process
		r.start = func(t *testing.T) {
			t.Helper()
			srv = testenv.Start(t, "nats-server", testenv.NATSServerBin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", r.store)
			deadline := time.Now().Add(20 * time.Second)
			for {
				if jetStreamUp(r.url) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("nats-server not ready after 20s; output:\n%s", srv.Output())
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		r.stop = func(t *testing.T) {
			if srv != nil {
				srv.Stop(t)
				srv = nil
			}
		}
		t.Cleanup(func() { r.stop(t) })
		return r
	}},
}

// jetStreamUp reports whether JetStream answers at url.
func jetStreamUp(url string) bool {
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		return false
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err == nil
}

// reconnecting connects to url, reconnecting for good, and returns a
// JetStream context on the connection.
func reconnecting(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// publishRetry publishes body to subject, retrying while the server is
// coming back.
func publishRetry(t *testing.T, js jetstream.JetStream, subject, body string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.Publish(ctx, subject, []byte(body))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %s: %v", subject, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNATSConsumerLostAcrossServerRestart: a NATS server restarted
// without the durable consumer (its directory removed from the store)
// leaves the running consumer's pull unanswered: only heartbeats go
// missing. Run finds the consumer gone, recreates it and ingests what is
// published after the restart (it kept pulling from nothing, for good).
// A server restarted without the stream (JetStream's store wiped) has
// Run create the stream anew with the consumer, in the same way.
func TestNATSConsumerLostAcrossServerRestart(t *testing.T) {
	for _, ns := range restartableServers {
		for _, lose := range []string{"consumer", "stream"} {
			t.Run(ns.name+"/"+lose, func(t *testing.T) {
				verifyNoLeaks(t)
				srv := ns.new(t)
				srv.start(t)
				nc, js := reconnecting(t, srv.url)
				app := &MemAppender{}
				reg := prometheus.NewRegistry()
				logs := &testenv.SyncBuffer{}
				c, err := NewNATSConsumer(nc, app, testNATSOptions(), reg, slog.New(slog.NewTextHandler(logs, nil)))
				if err != nil {
					t.Fatal(err)
				}
				c.heartbeat = 500 * time.Millisecond
				setupStreams(t, c)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- c.Run(ctx) }()
				defer func() {
					cancel()
					<-done
				}()
				ts := time.Now().UnixNano()
				publishRetry(t, js, "omen.metrics", fmt.Sprintf("a,i=0 v=1 %d", ts))
				waitFor(t, "the first message", func() bool { s, _, _ := app.Counts(); return s >= 1 })

				srv.stop(t)
				dir := filepath.Join(srv.store, "jetstream", "$G", "streams", DefaultNATSStream, "obs", DefaultDurable)
				if lose == "stream" {
					dir = filepath.Join(srv.store, "jetstream")
				}
				if _, err := os.Stat(dir); err != nil {
					t.Fatalf("store layout: %v", err)
				}
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				srv.start(t)

				for i := 1; i <= 5; i++ {
					publishRetry(t, js, "omen.metrics", fmt.Sprintf("a,i=%d v=1 %d", i, ts))
				}
				waitFor(t, "the messages published after the restart", func() bool { s, _, _ := app.Counts(); return s >= 6 })
				if n := counterValue(t, reg, "omen_nats_consumer_recreated_total", "consumer", DefaultDurable); n != 1 {
					t.Fatalf("omen_nats_consumer_recreated_total = %v, want 1", n)
				}
				if _, err := js.Consumer(context.Background(), DefaultNATSStream, DefaultDurable); err != nil {
					t.Fatalf("consumer after the restart: %v", err)
				}
			})
		}
	}
}
