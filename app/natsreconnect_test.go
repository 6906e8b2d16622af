package app

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/stream"
)

// TestExternalNATSReconnectRefused: a server that restarts refusing
// omen's connection — credentials rotated on the server before omen's
// password file (a Kubernetes Secret updated seconds later), a
// certificate of a CA omen does not trust — leaves omen running and
// reconnecting: it logs why once at WARN (not at every attempt), and
// once the password file is updated (the server's certificate
// replaced), it reconnects, says so in one INFO with how long it was down
// and failed, and ingests again. nats.go closed the connection at the second refusal of
// the credentials, which stopped omen (exit 1, a crash loop until the
// Secret propagated), and a refused TLS handshake was retried without a
// word of its cause (only "NATS disconnected" err=EOF).
func TestExternalNATSReconnectRefused(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "ca")
	ca.Issue(t, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), "nats", true)
	otherCA := testenv.NewCA(t, dir, "other-ca")
	otherCA.Issue(t, filepath.Join(dir, "other.pem"), filepath.Join(dir, "other-key.pem"), "nats", true)
	pwFile := filepath.Join(dir, "password")
	authConf := func(pw string) []string {
		conf := filepath.Join(t.TempDir(), "nats.conf")
		if err := os.WriteFile(conf, []byte(`authorization { users = [ { user: omen, password: "`+pw+`" } ] }`), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{"-c", conf}
	}
	tlsArgs := func(cert, key string) []string { return []string{"--tls", "--tlscert", cert, "--tlskey", key} }
	rootCAs := []nats.Option{nats.RootCAs(ca.File)}
	for _, tc := range []struct {
		name     string
		client   NATSClient
		first    []string        // the server omen connects to
		pub      []nats.Option   // how the test publishes to it
		refusing func() []string // the server restarted refusing omen
		pubAfter []nats.Option   // how the test publishes once omen is let in again
		cause    string          // in the refusal's WARN
		mend     func() []string // what lets omen in again (the server's arguments then)
	}{
		{
			name:   "password rotated on the server first",
			client: NATSClient{User: "omen", PasswordFile: pwFile},
			first:  authConf("first-pw"), pub: []nats.Option{nats.UserInfo("omen", "first-pw")},
			refusing: func() []string { return authConf("second-pw") },
			pubAfter: []nats.Option{nats.UserInfo("omen", "second-pw")},
			cause:    "authorization violation",
			mend: func() []string {
				writeFile(t, dir, "password", "second-pw\n")
				return nil // the server stays
			},
		},
		{
			name:   "certificate of an untrusted CA",
			client: NATSClient{TLSCAFile: ca.File},
			first:  tlsArgs(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")), pub: rootCAs,
			refusing: func() []string { return tlsArgs(filepath.Join(dir, "other.pem"), filepath.Join(dir, "other-key.pem")) },
			pubAfter: rootCAs,
			cause:    "certificate signed by unknown authority",
			mend: func() []string {
				return tlsArgs(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, dir, "password", "first-pw\n")
			port, sd := testenv.StablePort(t), t.TempDir()
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			srv := testenv.NATSServerOn(t, port, sd, tc.first...)
			logs := &testenv.SyncBuffer{}
			a := startApp(t, t.TempDir(), func(o *Options) {
				o.NATSURL, o.NATSListenAddress, o.NATSClient = url, "", tc.client
				o.Logger = slog.New(slog.NewTextHandler(logs, nil))
			})
			start := time.Now().Add(-time.Minute).Truncate(5 * time.Second)
			publishWith(t, url, tc.pub, "omen.metrics.influx", podLines(0, start, 2))
			waitFor(t, "the first message stored", 20*time.Second, func() bool {
				n, _ := countBatches(t, a.Store())
				return n == 1
			})

			srv.Stop(t)
			// A restart that takes longer than omen's first retry (a
			// second): the dial is refused first, then the handshake.
			time.Sleep(1500 * time.Millisecond)
			srv = testenv.NATSServerOn(t, port, sd, tc.refusing()...)
			const refused = "reconnect to NATS (while it fails, logged again once a minute)"
			waitFor(t, "the refusal logged", 20*time.Second, func() bool {
				return strings.Contains(strings.ToLower(logs.String()), tc.cause)
			})
			// Three more attempts (one a second): omen runs on, and
			// has not logged them.
			select {
			case <-a.Done():
				t.Fatalf("omen stopped while the server refused it: %v\n%s", a.Err(), logs.String())
			case <-time.After(3 * time.Second):
			}
			out := logs.String()
			// The refusal's WARN: after the refused dial's, if the
			// restart outlasted the first retry.
			var line string
			for l := range strings.Lines(out) {
				if strings.Contains(l, refused) && strings.Contains(strings.ToLower(l), tc.cause) {
					line = strings.TrimSpace(l)
				}
			}
			if !strings.Contains(line, "level=WARN") {
				t.Errorf("refusal logged as %q, want a WARN with %q:\n%s", line, tc.cause, out)
			}
			if n := strings.Count(strings.ToLower(out), tc.cause); n != 1 || strings.Count(out, refused) > 2 ||
				strings.Contains(out, "still failing") {
				t.Errorf("refusal logged %d times, want once in the first minute (and no \"NATS error\" per attempt):\n%s", n, out)
			}

			if args := tc.mend(); args != nil {
				srv.Stop(t)
				testenv.NATSServerOn(t, port, sd, args...)
			}
			waitFor(t, "omen reconnected", 20*time.Second, func() bool { return strings.Contains(logs.String(), "NATS reconnected") })
			// One INFO says it: "reconnect to NATS works again" was a
			// second one, besides "NATS reconnected".
			out = logs.String()
			line = logLine(out, "NATS reconnected")
			for _, want := range []string{"level=INFO", "url=" + url, "down_for=", "failing_since=", "failed_for=", "failed_attempts="} {
				if !strings.Contains(line, want) {
					t.Errorf("reconnect logged as %q, want an INFO with %s", line, want)
				}
			}
			if strings.Contains(out, "works again") || strings.Count(out, "NATS reconnected") != 1 {
				t.Errorf("reconnect logged in more than one line:\n%s", out)
			}
			publishWith(t, url, tc.pubAfter, "omen.metrics.influx", podLines(1, start.Add(5*time.Second), 2))
			waitFor(t, "the message published after the reconnect stored", 20*time.Second, func() bool {
				n, _ := countBatches(t, a.Store())
				return n == 2
			})
		})
	}
}

// logLine returns the first line of out that contains s.
func logLine(out, s string) string {
	for l := range strings.Lines(out) {
		if strings.Contains(l, s) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// TestExternalNATSLateServerRefusesCredentials: a server down at omen's
// start that, once up, refuses omen's credentials stops omen with the
// authorization error, as a start with the server up fails (exit 1): the
// daemon's connection no longer gives up on refused credentials by
// itself (nats.IgnoreAuthErrorAbort, for credentials rotated on a server
// omen has connected to), and would otherwise wait for ever.
func TestExternalNATSLateServerRefusesCredentials(t *testing.T) {
	port := testenv.StablePort(t)
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.NATSURL, o.NATSListenAddress = fmt.Sprintf("nats://127.0.0.1:%d", port), ""
		o.NATSClient = NATSClient{User: "omen", PasswordFile: writeFile(t, t.TempDir(), "password", "wr0ng")}
	})
	select {
	case <-a.Done():
		t.Fatalf("omen stopped before the server started: %v", a.Err())
	case <-time.After(time.Second):
	}
	// nats-server takes the last -p: the port omen keeps trying.
	testenv.NATSServer(t, "--user", "omen", "--pass", "s3cret", "-p", strconv.Itoa(port))
	select {
	case <-a.Done():
		if err := a.Err(); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
			t.Errorf("omen stopped with %v, want the authorization error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("omen still runs 20s after the server refused its credentials")
	}
}

// expiringCreds writes a credentials file of a new user of account whose
// JWT expires at the Unix second expires, and returns its path.
func expiringCreds(t *testing.T, dir string, account nkeys.KeyPair, expires int64) string {
	t.Helper()
	pub, seed := nkeyUser(t)
	uc := jwt.NewUserClaims(pub)
	uc.Expires = expires
	u, err := uc.Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	b, err := jwt.FormatUserConfig(u, []byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, fmt.Sprintf("user-%d.creds", expires), string(b))
}

// TestNATSExpiredUserRefused: what Debian nats-server 2.9 in operator
// mode answers a connect with an expired user JWT is a refusal of the
// credentials for stream.AuthRefused and stream.ConnectRefused (omen
// run's start, a late server) and for the reconnect log's class
// ("auth"): "Authorization Violation" once the JWT has expired, and
// "User Authentication Expired" in the handshake of a connect in the
// second the JWT expires (the server lets the JWT in and its expiry timer
// fires at once). nats.go returns that -ERR as its own error, which is
// not nats.ErrAuthExpired ("nats: authentication expired"): the
// refusal counted as "other", and a start refused so as one the server
// did not refuse.
func TestNATSExpiredUserRefused(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	op := newOperatorServer(t)
	dir := t.TempDir()
	connect := func(creds string) error {
		nc, err := nats.Connect(op.url, nats.UserCredentials(creds), nats.NoReconnect())
		if err == nil {
			nc.Close()
		}
		return err
	}
	expired := connect(expiringCreds(t, dir, op.account, time.Now().Add(-time.Minute).Unix()))
	// Connects in the expiry second, until one is refused in its
	// handshake (one in a few: the server's timer races its PONG).
	var expiring error
	for deadline := time.Now().Add(30 * time.Second); expiring == nil && time.Now().Before(deadline); {
		sec := time.Now().Unix() + 1
		creds := expiringCreds(t, dir, op.account, sec)
		time.Sleep(time.Until(time.Unix(sec, 0)))
		for expiring == nil && time.Now().Before(time.Unix(sec, int64(800*time.Millisecond))) {
			if err := connect(creds); err != nil && strings.Contains(err.Error(), "Authentication Expired") {
				expiring = err
			}
		}
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"expired before the connect", expired, "nats: Authorization Violation"},
		{"expiring in the connect", expiring, "nats: User Authentication Expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil || tc.err.Error() != tc.want {
				t.Fatalf("connect error %v, want %q", tc.err, tc.want)
			}
			if !stream.AuthRefused(tc.err) || !stream.ConnectRefused(tc.err) {
				t.Errorf("AuthRefused(%q) = %v, ConnectRefused = %v, want true", tc.err, stream.AuthRefused(tc.err), stream.ConnectRefused(tc.err))
			}
			if c := natsFailureClass(tc.err); c != "auth" {
				t.Errorf("reconnect failure class of %q = %q, want auth", tc.err, c)
			}
		})
	}
}

// TestNATSUserExpiredLogged: a user JWT that expires while omen is
// connected (Debian nats-server 2.9 in operator mode ends the connection
// with "User Authentication Expired") is logged with its cause, at WARN,
// before the reconnects the server refuses ("Authorization Violation");
// a credentials file replaced then (a Secret renewed) lets omen in again
// at the next attempt. The cause, an asynchronous error that came while
// the connection was already reconnecting, was dropped as one of the
// refusals of each attempt: the log said only "NATS disconnected"
// err=EOF and "Authorization Violation".
func TestNATSUserExpiredLogged(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	op := newOperatorServer(t)
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "omen.creds")
	// The JWT must outlive omen's start, which connects, to expire while
	// omen is connected: 15 s, as a start (store, model, connect) on a
	// loaded two-core machine took more than the 6 s it had.
	const lifetime = 15 * time.Second
	expires := time.Now().Add(lifetime).Truncate(time.Second)
	if err := os.Rename(expiringCreds(t, dir, op.account, expires.Unix()), credsFile); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.NATSURL, o.NATSListenAddress, o.NATSClient = op.url, "", NATSClient{CredsFile: credsFile}
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	if left := time.Until(expires); left <= 0 {
		t.Fatalf("omen's start took longer than the JWT's %v lifetime (%v over): it did not connect before the expiry this test is about", lifetime, -left)
	} else {
		t.Logf("omen connected %v before the JWT expires", left.Round(100*time.Millisecond))
	}
	waitFor(t, "the refused reconnect logged", lifetime+30*time.Second, func() bool {
		return strings.Contains(logs.String(), "reconnect to NATS (while it fails")
	})
	if line := logLine(logs.String(), "authentication expired"); !strings.Contains(line, "level=WARN") {
		t.Errorf("expiry logged as %q, want a WARN naming it:\n%s", line, logs.String())
	}
	writeFile(t, dir, "omen.creds", creds(t, op.account))
	waitFor(t, "omen reconnected", 20*time.Second, func() bool { return strings.Contains(logs.String(), "NATS reconnected") })
	select {
	case <-a.Done():
		t.Fatalf("omen stopped: %v", a.Err())
	default:
	}
}

// TestNATSUserRevokedLogged: a user JWT the account revokes (`nsc
// revocations add-user`) with Debian nats-server 2.9 in operator mode:
// pushed while omen is connected, the server ends the connections of that
// user with "User Authentication Revoked", which omen logs with its cause
// at WARN; applied while omen is disconnected (the server restarting with
// the account's new JWT), there is no such word. Either way the server
// refuses the reconnects after with "Authorization Violation", which
// stream.AuthRefused recognises (the reconnect log's class "auth"),
// logged at WARN once; omen runs on, retrying every second, and a
// credentials file of another user (a Secret renewed) lets it in again
// at the next attempt, where it ingests.
func TestNATSUserRevokedLogged(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	for _, tc := range []struct {
		name    string
		restart bool // the server restarts with the revocation, else it is pushed to it
	}{
		{"revoked while connected", false},
		{"revoked at the reconnect", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := newOperator(t)
			port, sd := testenv.StablePort(t), t.TempDir()
			op.url = fmt.Sprintf("nats://127.0.0.1:%d", port)
			srv := testenv.NATSServerOn(t, port, sd, "-c", op.conf(""))
			dir := t.TempDir()
			first := creds(t, op.account)
			credsFile := writeFile(t, dir, "omen.creds", first)
			pub := []nats.Option{nats.UserCredentials(writeFile(t, dir, "pub.creds", creds(t, op.account)))}
			logs := &testenv.SyncBuffer{}
			a := startApp(t, t.TempDir(), func(o *Options) {
				o.NATSURL, o.NATSListenAddress, o.NATSClient = op.url, "", NATSClient{CredsFile: credsFile}
				o.Logger = slog.New(slog.NewTextHandler(logs, nil))
			})
			// Ingesting first, as TestExternalNATSReconnectRefused: the
			// revocation comes to an omen that consumes (a server
			// restarting during omen's set-up is
			// TestNATSConsumerSetupConnectionLost's).
			start := time.Now().Add(-time.Minute).Truncate(5 * time.Second)
			publishWith(t, op.url, pub, "omen.metrics.influx", podLines(0, start, 2))
			waitFor(t, "the first message stored", 20*time.Second, func() bool {
				n, _ := countBatches(t, a.Store())
				return n == 1
			})
			if tc.restart {
				srv.Stop(t)
				testenv.NATSServerOn(t, port, sd, "-c", op.conf(op.revokedJWT(t, first)))
			} else {
				op.revoke(t, first)
			}
			const refused = "reconnect to NATS (while it fails, logged again once a minute)"
			waitFor(t, "the refused reconnect logged", 30*time.Second, func() bool {
				return strings.Contains(logLine(logs.String(), "Authorization Violation"), refused)
			})
			// Three more attempts (one a second): omen runs on, and has
			// not logged them.
			select {
			case <-a.Done():
				t.Fatalf("omen stopped while the server refused its revoked user: %v\n%s", a.Err(), logs.String())
			case <-time.After(3 * time.Second):
			}
			out := logs.String()
			revoked := logLine(out, "authentication revoked")
			if tc.restart && revoked != "" || !tc.restart && !strings.Contains(revoked, "level=WARN") {
				t.Errorf("revocation logged as %q, want a WARN naming it when the server ended the connection for it:\n%s", revoked, out)
			}
			if line := logLine(out, "Authorization Violation"); !strings.Contains(line, "level=WARN") {
				t.Errorf("refused reconnect logged as %q, want a WARN with the server's Authorization Violation:\n%s", line, out)
			}
			if n := strings.Count(out, "Authorization Violation"); n != 1 || strings.Contains(out, "still failing") {
				t.Errorf("refusal logged %d times, want once in the first minute:\n%s", n, out)
			}
			// The refusal, as a connect of the revoked user gets it.
			err := func() error {
				nc, err := nats.Connect(op.url, nats.UserCredentials(credsFile), nats.NoReconnect())
				if err == nil {
					nc.Close()
				}
				return err
			}()
			if err == nil || err.Error() != "nats: Authorization Violation" {
				t.Errorf("connect of the revoked user: %v, want \"nats: Authorization Violation\"", err)
			}
			if !stream.AuthRefused(err) || natsFailureClass(err) != "auth" {
				t.Errorf("AuthRefused(%v) = %v, reconnect failure class %q, want true and auth", err, stream.AuthRefused(err), natsFailureClass(err))
			}

			writeFile(t, dir, "omen.creds", creds(t, op.account))
			waitFor(t, "omen reconnected", 20*time.Second, func() bool { return strings.Contains(logs.String(), "NATS reconnected") })
			if line := logLine(logs.String(), "NATS reconnected"); !strings.Contains(line, "failed_attempts=") {
				t.Errorf("reconnect logged as %q, want the failed attempts", line)
			}
			publishWith(t, op.url, pub, "omen.metrics.influx", podLines(1, start.Add(5*time.Second), 2))
			waitFor(t, "the message published after the reconnect stored", 20*time.Second, func() bool {
				n, _ := countBatches(t, a.Store())
				return n == 2
			})
			select {
			case <-a.Done():
				t.Fatalf("omen stopped: %v", a.Err())
			default:
			}
		})
	}
}
