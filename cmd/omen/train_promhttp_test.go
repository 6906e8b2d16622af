package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omen-sre/omen/internal/testenv"
)

// securedProm is a Debian Prometheus secured with --web.config.file: TLS
// from a private CA, a client certificate required and verified, and
// basic auth; dir holds the CA, omen's client certificate and key
// (ca.pem, client.pem, client-key.pem) and its password file (password).
type securedProm struct {
	url, dir string
}

const securedPromPassword = "s3cret-Train-pw"

func newSecuredProm(t *testing.T) securedProm {
	t.Helper()
	dir := t.TempDir()
	sw := testenv.NewSecuredWeb(t, dir, "ca", "omen-test-prometheus", "omen-train", "omen", securedPromPassword)
	writeTestFile(t, filepath.Join(dir, "password"), securedPromPassword+"\n")
	return securedProm{url: testenv.PrometheusWeb(t, "", sw.Web), dir: dir}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// trainWaveConfig is a configuration whose one feature Prometheus
// evaluates at any time, without data: a sine of the time, for one
// entity (no failure labels: the model's failure head is disabled,
// with a warning).
const trainWaveConfig = `features:
  - name: wave
    expr: 'label_replace(label_replace(sin(vector(time()) / 120), "namespace", "shop", "", ""), "pod", "cart-0", "", "")'
`

// TestTrainPrometheusHTTPConfig: omen train --source prometheus reads its
// history from a Debian Prometheus 2.42 secured with --web.config.file
// (TLS from a private CA, client certificates required, basic auth) with
// --prometheus.http-config-file (tls_config with paths relative to the
// file, basic_auth with a password file), or, without it, with the
// tls_config and basic_auth of the --config.file prometheus entry of that
// URL. A wrong password is a 401 said to be the credentials refused,
// without the password; without settings the TLS handshake fails, with
// the server's certificate and what it was checked against, as the
// daemon's poller says; with a --config.file whose entries with settings
// are of other URLs (localhost for 127.0.0.1), a note says none applies.
func TestTrainPrometheusHTTPConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	p := newSecuredProm(t)
	httpFile := filepath.Join(p.dir, "http.yml")
	writeTestFile(t, httpFile, "tls_config:\n  ca_file: ca.pem\n  cert_file: client.pem\n  key_file: client-key.pem\nbasic_auth:\n  username: omen\n  password_file: password\n")
	wrongPW := filepath.Join(p.dir, "wrong-password")
	writeTestFile(t, wrongPW, "wr0ng-Train-pw\n")
	wrongFile := filepath.Join(p.dir, "wrong.yml")
	writeTestFile(t, wrongFile, "tls_config: {ca_file: ca.pem, cert_file: client.pem, key_file: client-key.pem}\nbasic_auth: {username: omen, password_file: wrong-password}\n")
	writeTestFile(t, "wave.yml", trainWaveConfig)
	daemonCfg := trainWaveConfig + fmt.Sprintf("prometheus:\n  - url: %s\n    tls_config: {ca_file: %s, cert_file: %s, key_file: %s}\n    basic_auth: {username: omen, password_file: %s}\n",
		p.url, filepath.Join(p.dir, "ca.pem"), filepath.Join(p.dir, "client.pem"), filepath.Join(p.dir, "client-key.pem"), filepath.Join(p.dir, "password"))
	writeTestFile(t, "daemon.yml", daemonCfg)
	// The daemon's entry by another name of the host: its settings do
	// not apply, with a note saying why.
	otherHost := strings.Replace(p.url, "127.0.0.1", "localhost", 1)
	writeTestFile(t, "localhost.yml", strings.Replace(daemonCfg, p.url, otherHost, 1))
	insecureFile := filepath.Join(p.dir, "insecure.yml")
	writeTestFile(t, insecureFile, "tls_config:\n  insecure_skip_verify: true\n  cert_file: client.pem\n  key_file: client-key.pem\nbasic_auth:\n  username: omen\n  password_file: password\n")
	for _, tc := range []struct {
		name string
		args []string
		rc   int
		want []string // in stderr
	}{
		{"http config file", []string{"--config.file", "wave.yml", "--prometheus.http-config-file", httpFile}, 0, nil},
		{"daemon's entry", []string{"--config.file", "daemon.yml"}, 0,
			[]string{"omen train: the client settings (tls_config, basic_auth, authorization) of prometheus[0] of daemon.yml, whose url is --prometheus.url, apply\n"}},
		{"wrong password", []string{"--config.file", "wave.yml", "--prometheus.http-config-file", wrongFile}, 1,
			[]string{"401", "credentials"}},
		{"the file over the daemon's entry", []string{"--config.file", "daemon.yml", "--prometheus.http-config-file", wrongFile}, 1,
			[]string{"the client settings of --prometheus.http-config-file " + wrongFile + " apply, not those of prometheus[0] of daemon.yml", "401"}},
		// As the daemon's poller's: what the certificate was checked against.
		{"no settings", []string{"--config.file", "wave.yml"}, 1,
			[]string{`certificate "CN=omen-test-prometheus", issued by "CN=ca", checked against the system's CAs`}},
		{"the daemon's entry of another host name", []string{"--config.file", "localhost.yml"}, 1,
			[]string{"omen train: note: the prometheus entries of localhost.yml with client settings (tls_config, basic_auth, authorization) are of " +
				otherHost + ": none is --prometheus.url " + p.url + ", so none of their settings apply\n", "checked against the system's CAs"}},
		// As omen run and omen check config warn of it: it was silent.
		{"insecure_skip_verify", []string{"--config.file", "wave.yml", "--prometheus.http-config-file", insecureFile}, 0,
			[]string{"omen train: warning: --prometheus.http-config-file " + insecureFile + ": tls_config.insecure_skip_verify is true: omen accepts any certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.Remove("m.omen")
			args := append([]string{"train", "--source", "prometheus", "--prometheus.url", p.url, "--history", "1h",
				"--window", "4", "--horizon", "2", "--hidden", "4", "--epochs", "1", "--out", "m.omen"}, tc.args...)
			rc, out, errs := omen(t, args...)
			if rc != tc.rc {
				t.Fatalf("train = %d, want %d\nstdout %s\nstderr %s", rc, tc.rc, out, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q, want %q", errs, w)
				}
			}
			if strings.Contains(out+errs, securedPromPassword) || strings.Contains(out+errs, "wr0ng-Train-pw") {
				t.Errorf("a password is shown:\n%s%s", out, errs)
			}
			_, err := os.Stat("m.omen")
			if written := err == nil; written != (tc.rc == 0) {
				t.Errorf("model written: %v, want %v", written, tc.rc == 0)
			}
			if tc.rc == 0 && !strings.Contains(out, "written to m.omen: 1 entities") {
				t.Errorf("stdout %q, want the model of one entity written", out)
			}
			t.Logf("stderr: %s", errs)
		})
	}
}

// TestTrainPrometheusHTTPConfigErrors: a --prometheus.http-config-file
// that does not read, does not parse or names files that do not are exit
// 1 (as a --config.file's), naming the flag, the file (and the key, at
// its line) and no secret, before any query; the flag with another source
// is a usage error (exit 2), as are two entries of --config.file of the
// --prometheus.url with different settings.
func TestTrainPrometheusHTTPConfigErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "ca")
	ca.Issue(t, filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"), "omen-train", false)
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		writeTestFile(t, p, content)
		return p
	}
	notPEM := file("not.pem", "s3cret-content\n")
	missing := filepath.Join(dir, "missing.yml")
	// Nothing listens there: a query would fail otherwise.
	url := fmt.Sprintf("https://127.0.0.1:%d", testenv.FreePort(t))
	writeTestFile(t, "two.yml", fmt.Sprintf("prometheus:\n  - {url: %s, name: a, basic_auth: {username: a, password: s3cret-inline}}\n  - {url: %s/, name: b, basic_auth: {username: b, password: s3cret-inline}}\n", url, url))
	writeTestFile(t, "badentry.yml", fmt.Sprintf("prometheus:\n  - {url: %s, tls_config: {ca_file: %s}}\n", url, notPEM))
	for _, tc := range []struct {
		name string
		args []string
		rc   int
		want string
	}{
		{"missing", []string{"--prometheus.http-config-file", missing}, 1,
			fmt.Sprintf("omen train: --prometheus.http-config-file: read %q: no such file or directory\n", missing)},
		{"empty", []string{"--prometheus.http-config-file", file("empty.yml", "# nothing\n")}, 1,
			"empty.yml: no tls_config, basic_auth or authorization in it"},
		{"unknown key", []string{"--prometheus.http-config-file", file("typo.yml", "tls_config:\n  ca_fil: ca.pem\n")}, 1,
			`typo.yml:2:3: unknown key "ca_fil" in tls_config (did you mean "ca_file"?)`},
		{"Prometheus key omen does not take", []string{"--prometheus.http-config-file", file("oauth.yml", "oauth2:\n  client_id: x\n")}, 1,
			"oauth.yml:1:1: oauth2 is a key of Prometheus's HTTP client configuration that omen does not take: it takes tls_config, basic_auth and authorization"},
		{"cert without key", []string{"--prometheus.http-config-file", file("nokey.yml", "basic_auth: {username: omen, password: s3cret-inline}\ntls_config:\n  cert_file: client.pem\n")}, 1,
			"nokey.yml:3:14: tls_config.cert_file is set without tls_config.key_file"},
		{"password twice", []string{"--prometheus.http-config-file", file("twice.yml", "basic_auth: {username: omen, password: s3cret-inline, password_file: pw}\n")}, 1,
			"twice.yml:1:40: basic_auth has both password and password_file"},
		{"ca_file not PEM", []string{"--prometheus.http-config-file", file("ca.yml", "tls_config: {ca_file: not.pem}\n")}, 1,
			fmt.Sprintf("ca.yml: tls_config.ca_file %q holds no PEM certificate", notPEM)},
		{"password file missing", []string{"--prometheus.http-config-file", file("pw.yml", "basic_auth: {username: omen, password_file: pw}\n")}, 1,
			fmt.Sprintf("pw.yml: basic_auth.password_file %q: no such file or directory", filepath.Join(dir, "pw"))},
		{"key of another certificate", []string{"--prometheus.http-config-file", file("pair.yml", "tls_config: {cert_file: client.pem, key_file: ca.pem}\n")}, 1,
			"are no certificate and key pair"},
		{"the daemon's entry's file", []string{"--config.file", "badentry.yml"}, 1,
			fmt.Sprintf("omen train: badentry.yml: prometheus[0].tls_config.ca_file %q holds no PEM certificate", notPEM)},
		{"two entries of the URL", []string{"--config.file", "two.yml"}, 2,
			"omen train: --prometheus.url is the url of prometheus[0] and prometheus[1] of two.yml, whose tls_config, basic_auth or authorization differ: give the settings to use with --prometheus.http-config-file\n"},
		{"another source", []string{"--source", "store", "--prometheus.http-config-file", missing}, 2,
			"omen train: --prometheus.http-config-file applies only with --source prometheus (not store)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"train", "--source", "prometheus", "--prometheus.url", url, "--history", "1h", "--out", "m.omen"}, tc.args...)
			rc, out, errs := omen(t, args...)
			if rc != tc.rc || !strings.Contains(errs, tc.want) {
				t.Errorf("train = %d, stderr %q; want %d and %q", rc, errs, tc.rc, tc.want)
			}
			if strings.Contains(out+errs, "s3cret") {
				t.Errorf("a secret is shown: %s%s", out, errs)
			}
			if strings.Contains(errs, "query_range") || strings.Contains(errs, "connection refused") {
				t.Errorf("stderr %q: Prometheus was queried", errs)
			}
		})
	}
}
