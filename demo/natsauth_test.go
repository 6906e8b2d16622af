package demo

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/internal/testenv"
)

// TestRunExternalStreamHeldAuth: omen demo with --nats.url and
// --nats.token-file connects to a server that requires the token for
// its own connections too (the stream check, then the fleet's
// publisher): the held stream is found and refused, as on a server
// without authentication. The check connected without the token and
// failed with "Authorization Violation".
func TestRunExternalStreamHeldAuth(t *testing.T) {
	url := testenv.NATSServer(t, "--auth", "d3mo-t0ken")
	holdStream(t, url, nats.Token("d3mo-t0ken"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("d3mo-t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err := Run(ctx, Options{Seed: 1, History: time.Hour, Out: &out,
		App: app.Options{ListenAddress: "127.0.0.1:0", NATSURL: url, NATSClient: app.NATSClient{TokenFile: token},
			StoragePath: filepath.Join(t.TempDir(), "store"), Logger: quietLogger()}})
	if err == nil || !strings.Contains(err.Error(), "the stream OMEN on "+url+" holds 1 messages") {
		t.Errorf("Run = %v, want the held stream refused", err)
	}
	if err != nil && strings.Contains(err.Error(), "d3mo-t0ken") {
		t.Errorf("Run = %v shows the token", err)
	}
}

// TestRunExternalStreamHeldURLPassword: the refusal of a held stream on a
// server whose --nats.url carries a password names the server with the
// password hidden. It quoted the URL as given, password included.
func TestRunExternalStreamHeldURLPassword(t *testing.T) {
	plain := testenv.NATSServer(t, "--user", "omen", "--pass", "s3cr3t-pw")
	u, err := url.Parse(plain)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("omen", "s3cr3t-pw")
	holdStream(t, u.String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	err = Run(ctx, Options{Seed: 1, History: time.Hour, Out: &out,
		App: app.Options{ListenAddress: "127.0.0.1:0", NATSURL: u.String(), StoragePath: filepath.Join(t.TempDir(), "store"), Logger: quietLogger()}})
	u.User = url.UserPassword("omen", "xxxxx")
	if err == nil || !strings.Contains(err.Error(), "the stream OMEN on "+u.String()+" holds 1 messages") {
		t.Errorf("Run = %v, want the held stream refused, naming %s", err, u)
	}
	if err != nil && strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Errorf("Run = %v shows the password", err)
	}
}

// holdStream fills the stream OMEN of the NATS server at url (connected
// to with opts) as a previous demo would have: one message on
// omen.metrics, for omen demo to refuse.
func holdStream(t *testing.T, url string, opts ...nats.Option) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OMEN", Subjects: []string{"omen.metrics"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "omen.metrics", []byte("old run")); err != nil {
		t.Fatal(err)
	}
}
