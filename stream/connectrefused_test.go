package stream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestConnectRefusedTLS: a server that sent its INFO and then failed the
// TLS handshake, or closed the connection right after it (it refused the
// client certificate, or its absence: nats.ErrTLS wrapping EOF or a
// reset), or sent a TLS alert after it, refused the connection: a late
// server doing so stops omen as at a start. They were waited for, for
// ever. A connection closed before the server spoke is not a refusal.
func TestConnectRefusedTLS(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"closed after the handshake", fmt.Errorf("%w: connection closed by remote after TLS handshake: %w", nats.ErrTLS, io.EOF), true},
		{"reset after the handshake", fmt.Errorf("%w: connection closed by remote after TLS handshake: %w", nats.ErrTLS, syscall.ECONNRESET), true},
		{"handshake failed", fmt.Errorf("%w: %w", nats.ErrTLS, errors.New("tls: handshake failure")), true},
		// crypto/tls's alert type is unexported: an error of its text.
		{"alert after the handshake", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}, true},
		{"closed before the server spoke", io.EOF, false},
		{"reset before the server spoke", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, false},
		{"nothing", nil, false},
	} {
		if got := connectRefused(tc.err); got != tc.want {
			t.Errorf("%s: connectRefused(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
