package stream

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/omen-sre/omen/internal/testenv"
)

// stalledTLSError is nats.go's error connecting, as omen does (the
// default 2s timeout), to a server that sends an INFO with tls_required
// and never answers the ClientHello: "nats: tls error: read tcp …: i/o
// timeout".
func stalledTLSError(t *testing.T) error {
	t.Helper()
	url := testenv.NATSStalledTLS(t)
	nc, err := nats.Connect(url, nats.MaxReconnects(0))
	if err == nil {
		nc.Close()
		t.Fatal("connect to a server that never answers the TLS handshake: no error")
	}
	if !errors.Is(err, nats.ErrTLS) {
		t.Fatalf("connect to a server that never answers the TLS handshake: %v, want a nats.ErrTLS", err)
	}
	return err
}

// TestConnectRefusedTLS: a server that sent its INFO and then failed the
// TLS handshake (a certificate not trusted, a TLS alert), or closed the
// connection right after it (it refused the client certificate, or its
// absence: nats.ErrTLS wrapping EOF or a reset), or sent a TLS alert
// after it, refused the connection: a late server doing so stops omen as
// at a start. They were waited for, for ever. A connection closed before
// the server spoke is not a refusal, nor a handshake that timed out (a
// loaded server: nats.go wraps the timeout in nats.ErrTLS too), which
// stopped omen.
func TestConnectRefusedTLS(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"closed after the handshake", fmt.Errorf("%w: connection closed by remote after TLS handshake: %w", nats.ErrTLS, io.EOF), true},
		{"reset after the handshake", fmt.Errorf("%w: connection closed by remote after TLS handshake: %w", nats.ErrTLS, syscall.ECONNRESET), true},
		{"handshake failed", fmt.Errorf("%w: %w", nats.ErrTLS, errors.New("tls: handshake failure")), true},
		{"certificate not trusted", fmt.Errorf("%w: %w", nats.ErrTLS, x509.UnknownAuthorityError{}), true},
		// crypto/tls's alert type is unexported: an error of its text.
		{"alert after the handshake", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}, true},
		{"alert in the handshake", fmt.Errorf("%w: %w", nats.ErrTLS, &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}), true},
		{"handshake timed out", fmt.Errorf("%w: %w", nats.ErrTLS, &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}), false},
		{"handshake never answered", stalledTLSError(t), false},
		{"closed before the server spoke", io.EOF, false},
		{"reset before the server spoke", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, false},
		{"credentials refused", nats.ErrAuthorization, true},
		{"credentials expired", nats.ErrAuthExpired, true},
		{"nothing", nil, false},
	} {
		if got := ConnectRefused(tc.err); got != tc.want {
			t.Errorf("%s: ConnectRefused(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
