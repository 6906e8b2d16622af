package app

import (
	"cmp"
	"context"
	"errors"
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
)

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// nkeyUser makes a user NKey and returns its public key and seed.
func nkeyUser(t *testing.T) (pub, seed string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	p, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	return p, string(s)
}

// operatorServer is a nats-server in operator (JWT) mode: an operator, a
// system account and an account with JetStream, whose users' credentials
// files creds makes; revoke revokes one of them.
type operatorServer struct {
	url      string
	account  nkeys.KeyPair
	operator nkeys.KeyPair // signs the account's JWT
	system   nkeys.KeyPair // the system account, whose users push account JWTs
	// conf writes the server's configuration file with the account's
	// JWT accJWT ("": without revocations) and returns its path.
	conf func(accJWT string) string
}

func newOperatorServer(t *testing.T) *operatorServer {
	t.Helper()
	o := newOperator(t)
	o.url = testenv.NATSServer(t, "-c", o.conf(""))
	return o
}

// newOperator is newOperatorServer without the server (url empty): a
// test starts it with conf's file.
func newOperator(t *testing.T) *operatorServer {
	t.Helper()
	dir := t.TempDir()
	op := mustPair(t, nkeys.CreateOperator)
	opPub, _ := op.PublicKey()
	opJWT, err := jwt.NewOperatorClaims(opPub).Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	account := func(js bool) (string, string, nkeys.KeyPair) {
		kp := mustPair(t, nkeys.CreateAccount)
		pub, _ := kp.PublicKey()
		s, err := accountClaims(pub, js).Encode(op)
		if err != nil {
			t.Fatal(err)
		}
		return pub, s, kp
	}
	sysPub, sysJWT, sys := account(false)
	accPub, accJWT, acc := account(true)
	opFile := writeFile(t, dir, "operator.jwt", opJWT)
	confs := 0
	return &operatorServer{account: acc, operator: op, system: sys, conf: func(j string) string {
		confs++
		conf := fmt.Sprintf("operator: %q\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {\n  %s: %q\n  %s: %q\n}\n",
			opFile, sysPub, sysPub, sysJWT, accPub, cmp.Or(j, accJWT))
		return writeFile(t, dir, fmt.Sprintf("server-%d.conf", confs), conf)
	}}
}

// accountClaims returns the claims of the account pub, with JetStream if
// js.
func accountClaims(pub string, js bool) *jwt.AccountClaims {
	ac := jwt.NewAccountClaims(pub)
	if js {
		ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	}
	return ac
}

// revokedJWT returns the account's JWT revoking the user of the
// credentials file text userCreds (its JWTs issued until now), as `nsc
// revocations add-user` makes it.
func (o *operatorServer) revokedJWT(t *testing.T, userCreds string) string {
	t.Helper()
	u, err := jwt.ParseDecoratedJWT([]byte(userCreds))
	if err != nil {
		t.Fatal(err)
	}
	uc, err := jwt.DecodeUserClaims(u)
	if err != nil {
		t.Fatal(err)
	}
	accPub, _ := o.account.PublicKey()
	ac := accountClaims(accPub, true)
	ac.Revoke(uc.Subject)
	accJWT, err := ac.Encode(o.operator)
	if err != nil {
		t.Fatal(err)
	}
	return accJWT
}

// revoke revokes the user of the credentials file text userCreds, as
// `nsc revocations add-user` and `nsc push` do: the account's JWT with
// the revocation (revokedJWT), sent by a system account user to
// $SYS.REQ.ACCOUNT.<account>.CLAIMS.UPDATE, which the server applies to
// the connections it has.
func (o *operatorServer) revoke(t *testing.T, userCreds string) {
	t.Helper()
	accJWT := o.revokedJWT(t, userCreds)
	accPub, _ := o.account.PublicKey()
	nc, err := nats.Connect(o.url, nats.UserCredentials(writeFile(t, t.TempDir(), "sys.creds", creds(t, o.system))))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msg, err := nc.Request("$SYS.REQ.ACCOUNT."+accPub+".CLAIMS.UPDATE", []byte(accJWT), 10*time.Second)
	if err != nil {
		t.Fatalf("push the account's JWT: %v", err)
	}
	if !strings.Contains(string(msg.Data), "jwt updated") {
		t.Fatalf("push the account's JWT: the server answered %s", msg.Data)
	}
}

func mustPair(t *testing.T, create func() (nkeys.KeyPair, error)) nkeys.KeyPair {
	t.Helper()
	kp, err := create()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// creds makes a user of account and returns its credentials file's text.
func creds(t *testing.T, account nkeys.KeyPair) string {
	t.Helper()
	pub, seed := nkeyUser(t)
	u, err := jwt.NewUserClaims(pub).Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	b, err := jwt.FormatUserConfig(u, []byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// natsAuthCase is an external nats-server that requires a way to
// authenticate, or TLS, with the NATSClient that passes and ones that do
// not.
type natsAuthCase struct {
	name string
	url  string
	// ok passes; pub is the test publisher's connection options.
	ok  NATSClient
	pub []nats.Option
	// secrets must not show in omen's log or errors.
	secrets []string
	// refused are NATSClients the server refuses, with the start error
	// each must have.
	refused []refusedCase
}

type refusedCase struct {
	name   string
	client NATSClient
	want   string
}

func natsAuthCases(t *testing.T) []natsAuthCase {
	t.Helper()
	dir := t.TempDir()
	var cases []natsAuthCase

	// (a) TLS from a private CA, client certificates required.
	ca := testenv.NewCA(t, dir, "ca")
	ca.Issue(t, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), "nats", true)
	ca.Issue(t, filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"), "omen", false)
	otherCA := testenv.NewCA(t, dir, "other-ca")
	otherCA.Issue(t, filepath.Join(dir, "other.pem"), filepath.Join(dir, "other-key.pem"), "stranger", false)
	tlsURL := testenv.NATSServer(t, "--tls", "--tlscert", filepath.Join(dir, "server.pem"), "--tlskey", filepath.Join(dir, "server-key.pem"),
		"--tlscacert", ca.File, "--tlsverify")
	mtls := NATSClient{TLSCAFile: ca.File, TLSCertFile: filepath.Join(dir, "client.pem"), TLSKeyFile: filepath.Join(dir, "client-key.pem")}
	untrusting := mtls
	untrusting.TLSCAFile = otherCA.File
	strangerCert := mtls
	strangerCert.TLSCertFile, strangerCert.TLSKeyFile = filepath.Join(dir, "other.pem"), filepath.Join(dir, "other-key.pem")
	cases = append(cases, natsAuthCase{
		name: "mutual TLS", url: tlsURL, ok: mtls,
		pub: []nats.Option{nats.RootCAs(mtls.TLSCAFile), nats.ClientCert(mtls.TLSCertFile, mtls.TLSKeyFile)},
		refused: []refusedCase{
			{"CA not trusting the server", untrusting, "tls: failed to verify certificate: x509: certificate signed by unknown authority"},
			// The server closes the connection after the handshake (the
			// client reads EOF or a reset: no unreachable server to
			// wait for) or says why.
			{"client certificate of another CA", strangerCert, "tls"},
			{"no client certificate", NATSClient{TLSCAFile: mtls.TLSCAFile}, "tls"},
		},
	})

	// (b) user and password.
	userURL := testenv.NATSServer(t, "--user", "omen", "--pass", "s3cret-pw")
	cases = append(cases, natsAuthCase{
		name: "user and password", url: userURL,
		ok:      NATSClient{User: "omen", PasswordFile: writeFile(t, dir, "password", "s3cret-pw\n")},
		pub:     []nats.Option{nats.UserInfo("omen", "s3cret-pw")},
		secrets: []string{"s3cret-pw", "wr0ng-pw"},
		refused: []refusedCase{
			{"wrong password", NATSClient{User: "omen", PasswordFile: writeFile(t, dir, "wrong-password", "wr0ng-pw")}, "Authorization Violation"},
		},
	})

	// (c) token.
	tokenURL := testenv.NATSServer(t, "--auth", "t0ken-s3cret")
	cases = append(cases, natsAuthCase{
		name: "token", url: tokenURL,
		ok:      NATSClient{TokenFile: writeFile(t, dir, "token", "t0ken-s3cret\n")},
		pub:     []nats.Option{nats.Token("t0ken-s3cret")},
		secrets: []string{"t0ken-s3cret", "wr0ng-t0ken"},
		refused: []refusedCase{
			{"wrong token", NATSClient{TokenFile: writeFile(t, dir, "wrong-token", "wr0ng-t0ken")}, "Authorization Violation"},
		},
	})

	// (d) an NKey user, and a JWT user's credentials file.
	pub, seed := nkeyUser(t)
	_, strangerSeed := nkeyUser(t)
	nkeyURL := testenv.NATSServer(t, "-c", writeFile(t, dir, "nkey.conf", fmt.Sprintf("authorization { users: [ { nkey: %s } ] }\n", pub)))
	seedFile := writeFile(t, dir, "seed", seed+"\n")
	pubSeed, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, natsAuthCase{
		name: "nkey", url: nkeyURL,
		ok: NATSClient{NkeySeedFile: seedFile}, pub: []nats.Option{pubSeed},
		secrets: []string{seed, strangerSeed},
		refused: []refusedCase{
			{"another user's seed", NATSClient{NkeySeedFile: writeFile(t, dir, "stranger-seed", strangerSeed)}, "Authorization Violation"},
		},
	})
	op := newOperatorServer(t)
	credsFile := writeFile(t, dir, "omen.creds", creds(t, op.account))
	stranger := mustPair(t, nkeys.CreateAccount)
	strangerCreds := creds(t, stranger)
	cases = append(cases, natsAuthCase{
		name: "creds", url: op.url,
		ok: NATSClient{CredsFile: credsFile}, pub: []nats.Option{nats.UserCredentials(credsFile)},
		secrets: []string{credSeed(t, credsFile), credSeed(t, writeFile(t, dir, "stranger.creds", strangerCreds))},
		refused: []refusedCase{
			{"user of an account the server does not know", NATSClient{CredsFile: filepath.Join(dir, "stranger.creds")}, "Authorization Violation"},
		},
	})
	return cases
}

// credSeed returns the user seed in the credentials file path.
func credSeed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	return string(s)
}

// TestExternalNATSAuth: omen connects to an external Debian nats-server
// 2.9 that requires mutual TLS from a private CA, a user and password, a
// token, an NKey or a JWT user's credentials file, each given in files
// (--nats.tls-ca-file and the client certificate, --nats.user and
// --nats.password-file, --nats.token-file, --nats.nkey-seed-file,
// --nats.creds-file), and ingests what is published; its log (at debug)
// shows no secret. Credentials the server refuses fail the start as
// refused URL credentials do ("Authorization Violation"), a CA that does
// not trust the server's certificate fails it naming TLS, neither with a
// secret in the error nor nats.ErrNoServers (omen run's hint would say
// the server is unreachable). Only the URL could carry credentials, and
// no TLS trust or client certificate could be given.
func TestExternalNATSAuth(t *testing.T) {
	for _, tc := range natsAuthCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			logs := &testenv.SyncBuffer{}
			a := startApp(t, t.TempDir(), func(o *Options) {
				o.NATSURL, o.NATSListenAddress, o.NATSClient = tc.url, "", tc.ok
				o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			start := time.Now().Add(-time.Minute).Truncate(5 * time.Second)
			publishWith(t, tc.url, tc.pub, "omen.metrics.influx", podLines(0, start, 2))
			waitFor(t, "the message published to the secured server", 20*time.Second, func() bool {
				n, _ := countBatches(t, a.Store())
				return n == 1
			})
			for _, s := range tc.secrets {
				if strings.Contains(logs.String(), s) {
					t.Errorf("omen's log shows the secret %q:\n%s", s, logs.String())
				}
			}
			for _, r := range tc.refused {
				t.Run(r.name, func(t *testing.T) {
					logs := &testenv.SyncBuffer{}
					a, err := New(Options{Config: testConfig(t), StoragePath: t.TempDir(), ListenAddress: "127.0.0.1:0",
						NATSURL: tc.url, NATSClient: r.client, ShutdownTimeout: 5 * time.Second,
						Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
					if err != nil {
						t.Fatal(err)
					}
					err = a.Start(context.Background())
					if err == nil {
						_ = a.Stop(context.Background())
						t.Fatal("start succeeded")
					}
					if !strings.Contains(err.Error(), r.want) {
						t.Errorf("start error %q, want one with %q", err, r.want)
					}
					if errors.Is(err, nats.ErrNoServers) {
						t.Errorf("start error %q wraps nats.ErrNoServers", err)
					}
					for _, s := range tc.secrets {
						if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
							t.Errorf("start error or log shows the secret %q: %v\n%s", s, err, logs.String())
						}
					}
				})
			}
		})
	}
}

// TestNATSClientFiles: a file of the NATS client's that does not exist,
// is empty or does not parse (a credentials file without a JWT or seed, a
// seed that is not one, a CA file without a certificate, a client
// certificate or key that is not PEM) fails New, before anything is
// opened, naming the flag and the file (once: a credentials file without
// a seed was named twice) and quoting none of its content.
func TestNATSClientFiles(t *testing.T) {
	dir := t.TempDir()
	_, seed := nkeyUser(t)
	testenv.WriteCert(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), "omen")
	missing := filepath.Join(dir, "missing")
	empty := writeFile(t, dir, "empty", "\n")
	garbage := writeFile(t, dir, "garbage", "g4rbage-content\n")
	seedOnly := writeFile(t, dir, "seed-only.creds", "-----BEGIN USER NKEY SEED-----\n"+seed+"\n------END USER NKEY SEED------\n")
	jwtText := creds(t, mustPair(t, nkeys.CreateAccount))
	jwtOnly := writeFile(t, dir, "jwt-only.creds", jwtText[:strings.Index(jwtText, "************************* IMPORTANT")])
	for _, tc := range []struct {
		name   string
		client NATSClient
		flag   string
		file   string
		want   string
	}{
		{"creds missing", NATSClient{CredsFile: missing}, "--nats.creds-file", missing, "no such file"},
		{"creds empty", NATSClient{CredsFile: empty}, "--nats.creds-file", empty, "empty file"},
		{"creds garbage", NATSClient{CredsFile: garbage}, "--nats.creds-file", garbage, "no user JWT"},
		{"creds without a JWT", NATSClient{CredsFile: seedOnly}, "--nats.creds-file", seedOnly, "no user JWT"},
		{"creds without a seed", NATSClient{CredsFile: jwtOnly}, "--nats.creds-file", jwtOnly, "no user seed in it"},
		{"seed missing", NATSClient{NkeySeedFile: missing}, "--nats.nkey-seed-file", missing, "no such file"},
		{"seed empty", NATSClient{NkeySeedFile: empty}, "--nats.nkey-seed-file", empty, "empty file"},
		{"seed garbage", NATSClient{NkeySeedFile: garbage}, "--nats.nkey-seed-file", garbage, "seed"},
		{"password missing", NATSClient{User: "omen", PasswordFile: missing}, "--nats.password-file", missing, "no such file"},
		{"password empty", NATSClient{User: "omen", PasswordFile: empty}, "--nats.password-file", empty, "empty file"},
		{"token missing", NATSClient{TokenFile: missing}, "--nats.token-file", missing, "no such file"},
		{"token empty", NATSClient{TokenFile: empty}, "--nats.token-file", empty, "empty file"},
		{"CA missing", NATSClient{TLSCAFile: missing}, "--nats.tls-ca-file", missing, "no such file"},
		{"CA empty", NATSClient{TLSCAFile: empty}, "--nats.tls-ca-file", empty, "no PEM certificate"},
		{"CA garbage", NATSClient{TLSCAFile: garbage}, "--nats.tls-ca-file", garbage, "no PEM certificate"},
		{"cert missing", NATSClient{TLSCertFile: missing, TLSKeyFile: filepath.Join(dir, "key.pem")}, "--nats.tls-cert-file", missing, "no such file"},
		{"key garbage", NATSClient{TLSCertFile: filepath.Join(dir, "cert.pem"), TLSKeyFile: garbage}, "--nats.tls-key-file", garbage, "PEM"},
		{"key of another certificate", NATSClient{TLSCertFile: filepath.Join(dir, "cert.pem"), TLSKeyFile: filepath.Join(dir, "cert.pem")}, "--nats.tls-key-file", filepath.Join(dir, "cert.pem"), "tls:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storage := filepath.Join(t.TempDir(), "data")
			_, err := New(Options{Config: testConfig(t), StoragePath: storage, ListenAddress: "127.0.0.1:0",
				NATSURL: "nats://127.0.0.1:4222", NATSClient: tc.client, Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				t.Fatal("New succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.flag) || !strings.Contains(msg, tc.file) || !strings.Contains(msg, tc.want) {
				t.Errorf("New: %q, want the flag %s, the file %s and %q", msg, tc.flag, tc.file, tc.want)
			}
			// The client certificate's error names both files, the
			// one an open failed for again.
			if n := strings.Count(msg, tc.file); n != 1 && tc.client.TLSCertFile == "" {
				t.Errorf("New: %q names the file %d times, want once", msg, n)
			}
			if strings.Contains(msg, "g4rbage") || strings.Contains(msg, seed) {
				t.Errorf("New: %q quotes the file's content", msg)
			}
			if _, err := os.Stat(storage); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("storage path after New failed: %v, want it not made", err)
			}
		})
	}
}

// TestNATSClientCheck: the combinations that cannot work are refused
// before any file is read (omen run's usage errors): a setting without an
// external server, two ways to authenticate, a user without a password
// file or the reverse, a client certificate without its key or the
// reverse, and credentials both in the URL and in a flag. TLS settings go
// with any way to authenticate, and with credentials in the URL.
func TestNATSClientCheck(t *testing.T) {
	const url = "nats://nats:4222"
	for _, tc := range []struct {
		name   string
		url    string
		client NATSClient
		want   string // "" accepted
	}{
		{"nothing, embedded", "", NATSClient{}, ""},
		{"nothing, external", url, NATSClient{}, ""},
		{"creds", url, NATSClient{CredsFile: "c"}, ""},
		{"user and TLS", url, NATSClient{User: "u", PasswordFile: "p", TLSCAFile: "ca", TLSCertFile: "c", TLSKeyFile: "k", TLSServerName: "n"}, ""},
		{"URL credentials and a CA", "nats://u:p@nats:4222", NATSClient{TLSCAFile: "ca"}, ""},
		{"creds, embedded", "", NATSClient{CredsFile: "c"}, "--nats.creds-file applies only with --nats.url"},
		{"server name, embedded", "", NATSClient{TLSServerName: "n"}, "--nats.tls-server-name applies only with --nats.url"},
		{"creds and password", url, NATSClient{CredsFile: "c", User: "u", PasswordFile: "p"}, "--nats.creds-file and --nats.user conflict"},
		{"token and user", url, NATSClient{TokenFile: "t", User: "u"}, "--nats.user and --nats.token-file conflict"},
		{"nkey and creds", url, NATSClient{NkeySeedFile: "s", CredsFile: "c"}, "--nats.creds-file and --nats.nkey-seed-file conflict"},
		{"user without password", url, NATSClient{User: "u"}, "--nats.user and --nats.password-file go together"},
		{"password without user", url, NATSClient{PasswordFile: "p"}, "--nats.user and --nats.password-file go together"},
		{"cert without key", url, NATSClient{TLSCertFile: "c"}, "--nats.tls-cert-file and --nats.tls-key-file go together"},
		{"key without cert", url, NATSClient{TLSKeyFile: "k"}, "--nats.tls-cert-file and --nats.tls-key-file go together"},
		{"URL password and token file", "nats://u:s3cret@nats:4222", NATSClient{TokenFile: "t"}, "--nats.url has credentials in it"},
		{"URL token and creds", "nats://h:1,tok3n@nats:4222", NATSClient{CredsFile: "c"}, "--nats.url has credentials in it"},
		{"schemeless URL user", "u:p@nats:4222", NATSClient{User: "u", PasswordFile: "p"}, "--nats.url has credentials in it"},
		{"at sign in a path only", "ws://nats:8080/a@b", NATSClient{TokenFile: "t"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckNATSClient(tc.url, tc.client)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckNATSClient: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckNATSClient: %v, want %q", err, tc.want)
			case err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "tok3n")):
				t.Errorf("CheckNATSClient: %v shows the URL's secret", err)
			}
		})
	}
}

// TestNATSClientRereads: the password, token and credentials files
// are read again at each connect (a rotated Kubernetes Secret is used at
// the next reconnect); a password or token file that cannot be read then
// leaves the value read before in use, with a WARN that names the file
// and not the secret.
func TestNATSClientRereads(t *testing.T) {
	dir := t.TempDir()
	pw := writeFile(t, dir, "password", "first-pw\n")
	tok := writeFile(t, dir, "token", "first-tok\r\n")
	logs := &testenv.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	apply := func(c NATSClient) *nats.Options {
		t.Helper()
		opts, err := c.connectOptions(logger)
		if err != nil {
			t.Fatal(err)
		}
		var o nats.Options
		for _, opt := range opts {
			if err := opt(&o); err != nil {
				t.Fatal(err)
			}
		}
		return &o
	}
	user := apply(NATSClient{User: "omen", PasswordFile: pw})
	token := apply(NATSClient{TokenFile: tok})
	if u, p := user.UserInfo(); u != "omen" || p != "first-pw" {
		t.Errorf("user info %q %q, want omen first-pw", u, p)
	}
	if got := token.TokenHandler(); got != "first-tok" {
		t.Errorf("token %q, want first-tok", got)
	}
	writeFile(t, dir, "password", "second-pw")
	writeFile(t, dir, "token", "second-tok\n")
	if _, p := user.UserInfo(); p != "second-pw" {
		t.Errorf("password after the file changed %q, want second-pw", p)
	}
	if got := token.TokenHandler(); got != "second-tok" {
		t.Errorf("token after the file changed %q, want second-tok", got)
	}
	for _, f := range []string{pw, tok} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, p := user.UserInfo(); p != "second-pw" {
		t.Errorf("password with the file gone %q, want the one read before", p)
	}
	if got := token.TokenHandler(); got != "second-tok" {
		t.Errorf("token with the file gone %q, want the one read before", got)
	}
	out := logs.String()
	if strings.Count(out, "NATS secret file unreadable") != 2 || !strings.Contains(out, pw) || !strings.Contains(out, tok) ||
		strings.Contains(out, "second-") || strings.Contains(out, "first-") {
		t.Errorf("log with the files gone: want a WARN for each naming the file and no secret:\n%s", out)
	}

	// The credentials file: another user's JWT once it is replaced.
	acc := mustPair(t, nkeys.CreateAccount)
	credsFile := writeFile(t, dir, "omen.creds", creds(t, acc))
	o := apply(NATSClient{CredsFile: credsFile})
	first, err := o.UserJWT()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "omen.creds", creds(t, acc))
	if second, err := o.UserJWT(); err != nil || second == first {
		t.Errorf("JWT after the credentials file changed: the same one, or %v", err)
	}
}

// TestExternalNATSLateTLSRefused: a server that is down at omen's start
// and, once up, refuses omen's TLS — a client certificate of another CA,
// none, or a server certificate the CA does not trust — stops omen with
// the TLS error, as a start with the server up fails. A refused client
// certificate (the server closes the connection after the handshake) was
// retried for ever, as a server that does not answer.
func TestExternalNATSLateTLSRefused(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "ca")
	ca.Issue(t, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), "nats", true)
	otherCA := testenv.NewCA(t, dir, "other-ca")
	otherCA.Issue(t, filepath.Join(dir, "other.pem"), filepath.Join(dir, "other-key.pem"), "stranger", false)
	for _, tc := range []struct {
		name   string
		client NATSClient
		want   string
	}{
		{"client certificate of another CA", NATSClient{TLSCAFile: ca.File, TLSCertFile: filepath.Join(dir, "other.pem"), TLSKeyFile: filepath.Join(dir, "other-key.pem")}, "tls"},
		{"no client certificate", NATSClient{TLSCAFile: ca.File}, "tls"},
		{"CA not trusting the server", NATSClient{TLSCAFile: otherCA.File}, "tls: failed to verify certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := testenv.StablePort(t)
			a := startApp(t, t.TempDir(), func(o *Options) {
				o.NATSURL, o.NATSListenAddress, o.NATSClient = fmt.Sprintf("nats://127.0.0.1:%d", port), "", tc.client
			})
			select {
			case <-a.Done():
				t.Fatalf("omen stopped before the server started: %v", a.Err())
			case <-time.After(time.Second):
			}
			// nats-server takes the last -p: the port omen keeps trying.
			testenv.NATSServer(t, "--tls", "--tlscert", filepath.Join(dir, "server.pem"), "--tlskey", filepath.Join(dir, "server-key.pem"),
				"--tlscacert", ca.File, "--tlsverify", "-p", strconv.Itoa(port))
			select {
			case <-a.Done():
				if err := a.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("omen stopped with %v, want the TLS error (%q)", err, tc.want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("omen still runs 20s after the server refused its TLS")
			}
		})
	}
}
