package app

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/stream"
)

// TestExternalNATSRestartAtStart: Debian nats-server 2.9 restarted right
// after omen's start, before any message (while the consumer sets up its
// stream and durable): omen runs on and ingests what is published after
// the restart. Its set-up requests timed out and omen exited 1 before 8d8e162
// (3 of 3 runs).
func TestExternalNATSRestartAtStart(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	port, sd := testenv.StablePort(t), t.TempDir()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	srv := testenv.NATSServerOn(t, port, sd)
	logs := &testenv.SyncBuffer{}
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.NATSURL, o.NATSListenAddress = url, ""
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	srv.Stop(t)
	testenv.NATSServerOn(t, port, sd)
	// The durable exists again (omen set it up after the restart)
	// before the publish, which needs the stream.
	waitFor(t, "omen's durable after the restart", 30*time.Second, func() bool {
		select {
		case <-a.Done():
			t.Fatalf("omen stopped: %v\n%s", a.Err(), logs.String())
		default:
		}
		return durableExists(url)
	})
	start := time.Now().Add(-time.Minute).Truncate(5 * time.Second)
	publishWith(t, url, nil, "omen.metrics.influx", podLines(0, start, 2))
	waitFor(t, "the message published after the restart stored", 30*time.Second, func() bool {
		select {
		case <-a.Done():
			t.Fatalf("omen stopped: %v\n%s", a.Err(), logs.String())
		default:
		}
		n, _ := countBatches(t, a.Store())
		return n == 1
	})
}

// durableExists reports whether the server at url has omen's durable.
func durableExists(url string) bool {
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
	_, err = js.Consumer(ctx, stream.DefaultNATSStream, stream.DefaultDurable)
	return err == nil
}
