package testenv

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
)

// NATSStalledTLS starts a fake NATS server on a random loopback port
// that sends each client an INFO with tls_required and then never
// answers its TLS ClientHello (a loaded server whose handshake is slow),
// and returns its URL (nats://127.0.0.1:PORT). A client's handshake
// times out (nats.go: "nats: tls error: read tcp …: i/o timeout"). The
// server stops, closing its connections, at the test's cleanup.
func NATSStalledTLS(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				port := l.Addr().(*net.TCPAddr).Port
				_, _ = fmt.Fprintf(c, "INFO {\"server_id\":\"stalled\",\"version\":\"2.10.0\",\"proto\":1,\"host\":\"127.0.0.1\",\"port\":%d,\"max_payload\":1048576,\"tls_required\":true}\r\n", port)
				_, _ = io.Copy(io.Discard, c)
			})
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "nats://" + l.Addr().String()
}
