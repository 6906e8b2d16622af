package stream

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// dropProxy forwards connections from a random port of 127.0.0.1 to the
// NATS server at addr, and cuts the first one that sends a request with
// marker in it (the request is not forwarded): a server restarting at
// that moment. It returns its nats:// URL and the count of cuts.
func dropProxy(t *testing.T, addr string, marker []byte) (string, *atomic.Int64) {
	t.Helper()
	var cuts atomic.Int64
	proxy := tcpProxy(t, func(int) string { return addr }, func(s, c net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 && bytes.Contains(buf[:n], marker) && cuts.CompareAndSwap(0, 1) {
				return
			}
			if n > 0 {
				if _, werr := s.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	return "nats://" + proxy, &cuts
}

// TestNATSConsumerSetupConnectionLost: the connection lost while Run sets
// up the stream and consumer (a server restarting as omen starts: the
// stream lookup's request is lost, and times out once the connection is
// back) is waited for and the set-up retried; Run then consumes. The
// lookup's timeout ended Run ("look up stream "OMEN": context deadline
// exceeded"), which stopped omen (exit 1), though it had just started
// and the server was back a moment later.
func TestNATSConsumerSetupConnectionLost(t *testing.T) {
	verifyNoLeaks(t)
	url := testenv.NATSServer(t)
	proxy, cuts := dropProxy(t, url[len("nats://"):], []byte("$JS.API.STREAM.INFO."))
	nc, err := nats.Connect(proxy, nats.ReconnectWait(100*time.Millisecond), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	app := &MemAppender{}
	c := newConsumer(t, nc, app, testNATSOptions(), prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	done := make(chan struct{})
	go func() { runErr = c.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return within 30s of cancel")
		}
	})
	_, js := connectJS(t, url)
	waitFor(t, "the connection cut at the stream lookup", func() bool { return cuts.Load() == 1 })
	// The lookup's request times out (the JetStream API's 5 s): Run must
	// still be running after it, and consume.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("Run returned %v after the connection was lost during its set-up", runErr)
		default:
		}
		if _, err := js.Stream(t.Context(), "OMEN"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	publish(t, js, "omen.metrics.influx", "", fmt.Sprintf("m,host=a v=1 %d", time.Now().UnixNano()))
	waitFor(t, "the message consumed", func() bool {
		select {
		case <-done:
			t.Fatalf("Run returned %v after the connection was lost during its set-up", runErr)
		default:
		}
		return len(app.Batches()) == 1
	})
}
