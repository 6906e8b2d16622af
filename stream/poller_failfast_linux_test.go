//go:build linux

package stream

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fullBacklogAddr returns the address of a loopback listener that never
// accepts and whose accept queue is full (listen backlog 0, one
// connection queued): Linux drops the SYNs of further connections, so
// their dial lasts until its deadline, as against a host powered off.
func fullBacklogAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatalf("listen: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	filler, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("fill the accept queue: %v", err)
	}
	t.Cleanup(func() { _ = filler.Close() })
	if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
		_ = c.Close()
		t.Fatalf("%s accepted a connection with its accept queue full", addr)
	}
	return addr
}

// TestPollerNotConnectedFailsFast: a query whose request never got a
// connection before its deadline (SYNs dropped: a host powered off, a full
// listen backlog) says the server is unreachable: the poll's other queries
// are not sent. Every timeout counted as one slow query, each query was
// retried in turn: 5 queries x 4 attempts x 1.5 x Timeout (at the defaults,
// 24 queries, over an hour a poll).
func TestPollerNotConnectedFailsFast(t *testing.T) {
	addr := fullBacklogAddr(t)
	tr := newCountingTransport(t)
	reg := prometheus.NewRegistry()
	p, err := NewPoller(&MemAppender{}, PollerOptions{URL: "http://" + addr, Queries: fiveQueries, RoundTripper: tr,
		MaxRetries: 3, RetryBackoff: time.Millisecond, Timeout: 200 * time.Millisecond}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.Eval(context.Background(), time.Unix(1700000000, 0))
	took := time.Since(start)
	if n := tr.count("/api/v1/query"); n != 4 {
		t.Errorf("%d requests, want 4 (query a's attempts)", n)
	}
	if took > 3*time.Second {
		t.Errorf("poll took %v, want about 4 x 300ms", took)
	}
	if err == nil || !strings.Contains(err.Error(), `query "e" at 2023-11-14T22:13:20Z: not sent, the server failing (query "a" failed after its retries): `) ||
		!strings.Contains(err.Error(), "no connection to the server before the deadline") {
		t.Errorf("Eval error %v: want the queries after a not sent, a's error saying no connection was made", err)
	}
	if v := counterValue(t, reg, "omen_prometheus_queries_total", "outcome", "error"); v != 5 {
		t.Errorf("omen_prometheus_queries_total{outcome=\"error\"} = %v, want 5", v)
	}
}
