package app

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestNATSClientNkeyRotated: --nats.nkey-seed-file rotated in place
// (another user's seed, both authorised by the server) leaves omen
// connecting with the key read at the start, at a reconnect too, with one
// WARN naming the new public key and saying a restart applies it. The
// client presented the old public key and signed with the new seed: the
// server refused the reconnect (Authorization Violation).
func TestNATSClientNkeyRotated(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	dir := t.TempDir()
	pub1, seed1 := nkeyUser(t)
	pub2, seed2 := nkeyUser(t)
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		Nkeys: []*server.NkeyUser{{Nkey: pub1}, {Nkey: pub2}}})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS server not ready")
	}

	seedFile := filepath.Join(dir, "seed")
	writeFile(t, dir, "seed", seed1+"\n")
	logs := &testenv.SyncBuffer{}
	opts, err := NATSClient{NkeySeedFile: seedFile}.connectOptions(slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	reconnected := make(chan struct{}, 1)
	failed := make(chan error, 1)
	report := func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	nc, err := nats.Connect(srv.ClientURL(), append(opts,
		nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { report(err) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { report(err) }))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	user := func() string {
		t.Helper()
		// The newest connection (the one closed by the reconnect may
		// still be listed).
		cz, err := srv.Connz(&server.ConnzOptions{Username: true, Sort: server.ByCid})
		if err != nil || len(cz.Conns) == 0 {
			t.Fatalf("connz: %v, %d connections", err, len(cz.Conns))
		}
		return cz.Conns[len(cz.Conns)-1].AuthorizedUser
	}
	if got := user(); got != pub1 {
		t.Fatalf("connected as %s, want %s", got, pub1)
	}

	writeFile(t, dir, "seed", seed2+"\n")
	if err := nc.ForceReconnect(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reconnected:
	case err := <-failed:
		t.Fatalf("reconnect after the seed file was rotated: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no reconnect 30s after the seed file was rotated")
	}
	if got := user(); got != pub1 {
		t.Errorf("reconnected as %s, want the key read at the start, %s", got, pub1)
	}
	out := logs.String()
	if n := strings.Count(out, "NATS nkey seed file holds another key"); n != 1 || !strings.Contains(out, pub2) || !strings.Contains(out, "restart") {
		t.Errorf("log: want one WARN naming the new public key %s and a restart, got %d:\n%s", pub2, n, out)
	}
	if strings.Contains(out, seed1) || strings.Contains(out, seed2) {
		t.Errorf("log shows a seed:\n%s", out)
	}
}
