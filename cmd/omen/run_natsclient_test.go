package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestRunNATSClientUsage: the NATS client's flags without --nats.url (the
// embedded server has no authentication) and the combinations that
// cannot work are usage errors (exit 2) of omen run and omen demo, which
// say why, before anything is created; the flags with --nats.url pass the
// usage checks. The flags did not exist: the only credentials were the
// URL's, on the command line.
func TestRunNATSClientUsage(t *testing.T) {
	const url = "--nats.url=nats://127.0.0.1:4222"
	for _, tc := range []struct {
		name string
		args []string
		want string // "" passes the usage checks
	}{
		{"creds without URL", []string{"--nats.creds-file=c"}, "--nats.creds-file applies only with --nats.url: the embedded NATS server has no authentication"},
		{"token without URL", []string{"--nats.token-file=t"}, "--nats.token-file applies only with --nats.url"},
		{"CA without URL", []string{"--nats.tls-ca-file=ca"}, "--nats.tls-ca-file applies only with --nats.url"},
		{"creds and user", []string{url, "--nats.creds-file=c", "--nats.user=u", "--nats.password-file=p"}, "--nats.creds-file and --nats.user conflict: give one way to authenticate to NATS"},
		{"token and user", []string{url, "--nats.token-file=t", "--nats.user=u", "--nats.password-file=p"}, "--nats.user and --nats.token-file conflict"},
		{"nkey and token", []string{url, "--nats.nkey-seed-file=s", "--nats.token-file=t"}, "--nats.nkey-seed-file and --nats.token-file conflict"},
		{"user without password", []string{url, "--nats.user=u"}, "--nats.user and --nats.password-file go together"},
		{"cert without key", []string{url, "--nats.tls-cert-file=c"}, "--nats.tls-cert-file and --nats.tls-key-file go together"},
		{"URL and flag credentials", []string{"--nats.url=nats://omen:s3cret@127.0.0.1:4222", "--nats.token-file=t"}, "--nats.url has credentials in it (user:password@ or token@) and --nats.token-file gives others"},
		{"all TLS and a user", []string{url, "--nats.user=u", "--nats.password-file=p", "--nats.tls-ca-file=ca", "--nats.tls-cert-file=c", "--nats.tls-key-file=k", "--nats.tls-server-name=nats"}, ""},
		{"creds", []string{url, "--nats.creds-file=c"}, ""},
	} {
		for _, demo := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/demo=%v", tc.name, demo), func(t *testing.T) {
				err := parseDaemonFlags(t, demo, tc.args...)
				switch {
				case tc.want == "" && err != nil:
					t.Errorf("%q: %v, want no usage error", tc.args, err)
				case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
					t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
				case err != nil && strings.Contains(err.Error(), "s3cret"):
					t.Errorf("%q: %v shows the URL's password", tc.args, err)
				}
			})
		}
	}
	// Through omen run: exit 2, the message on stderr, nothing created.
	storage := filepath.Join(t.TempDir(), "data")
	var stdout, stderr bytes.Buffer
	rc := runCmd([]string{"--storage.path", storage, "--nats.creds-file", "c"}, &stdout, &stderr)
	if rc != 2 || !strings.Contains(stderr.String(), "--nats.creds-file applies only with --nats.url") {
		t.Errorf("omen run --nats.creds-file without --nats.url: exit %d, stderr %q; want 2 and the reason", rc, stderr.String())
	}
	if _, err := os.Stat(storage); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("storage path after the usage error: %v, want it not made", err)
	}
}

// TestRunNATSClientFileStartError: a NATS client file that does not
// exist, or does not parse, is a start error (exit 1) naming the flag and
// the file, before the storage directory is made.
func TestRunNATSClientFileStartError(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ flag, file, want string }{
		{"--nats.tls-ca-file", garbage, "no PEM certificate"},
		{"--nats.creds-file", filepath.Join(dir, "missing.creds"), "no such file"},
	} {
		storage := filepath.Join(t.TempDir(), "data")
		var stdout, stderr bytes.Buffer
		// A URL that fails the start at once (a bad port) should the
		// files be read only later: no daemon to wait for.
		rc := runCmd([]string{"--storage.path", storage, "--web.listen-address", "127.0.0.1:0",
			"--nats.url", "nats://127.0.0.1:99999", tc.flag, tc.file}, &stdout, &stderr)
		if out := stderr.String(); rc != 1 || !strings.Contains(out, tc.flag) || !strings.Contains(out, tc.file) || !strings.Contains(out, tc.want) {
			t.Errorf("omen run %s %s: exit %d, stderr %q; want 1 naming the flag, the file and %q", tc.flag, tc.file, rc, out, tc.want)
		}
		if _, err := os.Stat(storage); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("storage path after the start error: %v, want it not made", err)
		}
	}
}

// TestStartHintUntrustedNATS: a NATS server whose certificate the CA does
// not trust gets the remedy: --nats.tls-ca-file, --nats.tls-server-name.
func TestStartHintUntrustedNATS(t *testing.T) {
	f := daemonFlags{natsURL: "nats://nats:4222"}
	err := fmt.Errorf("connect to NATS nats://nats:4222: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}})
	if got := f.startHint(err).Error(); !strings.Contains(got, "--nats.tls-ca-file") || !strings.Contains(got, "--nats.tls-server-name") {
		t.Errorf("startHint: %q, want the remedy", got)
	}
}

// TestStartHintNATSClientCert: omen run against a NATS server that
// requires a client certificate (Debian nats-server 2.9 with
// --tlsverify) fails the start (exit 1); without --nats.tls-cert-file the
// error says to give one (it said only "remote error: tls: bad
// certificate"), with one the server refuses it does not.
func TestStartHintNATSClientCert(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "ca")
	ca.Issue(t, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), "nats", true)
	otherCA := testenv.NewCA(t, dir, "other-ca")
	otherCA.Issue(t, filepath.Join(dir, "other.pem"), filepath.Join(dir, "other-key.pem"), "stranger", false)
	url := testenv.NATSServer(t, "--tls", "--tlscert", filepath.Join(dir, "server.pem"), "--tlskey", filepath.Join(dir, "server-key.pem"),
		"--tlscacert", ca.File, "--tlsverify")
	const hint = "give a client certificate with --nats.tls-cert-file and --nats.tls-key-file"
	for _, tc := range []struct {
		name     string
		args     []string
		wantHint bool
	}{
		{"no client certificate", nil, true},
		{"client certificate of another CA", []string{"--nats.tls-cert-file", filepath.Join(dir, "other.pem"), "--nats.tls-key-file", filepath.Join(dir, "other-key.pem")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			rc := runCmd(append([]string{"--storage.path", filepath.Join(t.TempDir(), "data"), "--web.listen-address", "127.0.0.1:0",
				"--nats.url", url, "--nats.tls-ca-file", ca.File}, tc.args...), &stdout, &stderr)
			if out := stderr.String(); rc != 1 || !strings.Contains(out, "tls") || strings.Contains(out, hint) != tc.wantHint {
				t.Errorf("omen run: exit %d, stderr %q; want 1, the TLS error and the hint %v", rc, out, tc.wantHint)
			}
		})
	}
}
