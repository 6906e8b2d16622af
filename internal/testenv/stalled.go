package testenv

import (
	"net"
	"testing"
)

// DialStalling connects to addr (TCP, a loopback address) as a client
// that is going to stop reading: its receive buffer is made small (a few
// KiB, SO_RCVBUF), so that a server writing a long answer to it blocks
// after little more than its own send buffer, not after megabytes of
// loopback autotuning. The connection is closed in t.Cleanup.
func DialStalling(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	tc := conn.(*net.TCPConn)
	if err := tc.SetReadBuffer(4 << 10); err != nil {
		t.Fatal(err)
	}
	return tc
}
