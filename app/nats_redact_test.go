package app

import (
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestNATSPasswordNotLogged: the password of --nats.url is not in omen's
// log at start ("omen started … nats=nats://omen:s3cret@…") nor in the
// WARN when NATS cannot be reached (r9 finding 1; that was a start error
// then, and omen now starts and waits for the server).
func TestNATSPasswordNotLogged(t *testing.T) {
	url := testenv.NATSServer(t, "--user", "omen", "--pass", "s3cret")
	withPass := strings.Replace(url, "nats://", "nats://omen:s3cret@", 1)
	logs := &testenv.SyncBuffer{}
	startApp(t, t.TempDir(), func(o *Options) {
		o.NATSURL, o.NATSListenAddress = withPass, ""
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	if out := logs.String(); strings.Contains(out, "s3cret") || !strings.Contains(out, "omen:xxxxx@") {
		t.Errorf("start log shows the password, or not the redacted URL:\n%s", out)
	}

	unreachable := &testenv.SyncBuffer{}
	startApp(t, t.TempDir(), func(o *Options) {
		o.NATSURL, o.NATSListenAddress = "nats://omen:s3cret@127.0.0.1:1,nats://tok3n@127.0.0.1:2", ""
		o.Logger = slog.New(slog.NewTextHandler(unreachable, nil))
	})
	out := unreachable.String()
	if strings.Contains(out, "s3cret") || strings.Contains(out, "tok3n") || !strings.Contains(out, "NATS server unreachable") ||
		!strings.Contains(out, "nats://omen:xxxxx@127.0.0.1:1,nats://xxxxx@127.0.0.1:2") {
		t.Errorf("log with NATS unreachable shows a secret, or not the WARN with the redacted URLs:\n%s", out)
	}
}

// TestLateFailureLabelsExported: omen_ingest_late_failure_labels_total
// has its three results at 0 from the start (it appeared only with the
// first late label; r9 finding 8).
func TestLateFailureLabelsExported(t *testing.T) {
	reg := prometheus.NewRegistry()
	newIngester(nil, nil, nil, reg, slog.New(slog.DiscardHandler))
	n, err := testutil.GatherAndCount(reg, "omen_ingest_late_failure_labels_total")
	if err != nil || n != 3 {
		t.Errorf("omen_ingest_late_failure_labels_total series at start: %d, %v; want 3", n, err)
	}
}

// TestRedactNATSURL: each URL of a NATS server list shows without its
// credentials, and a comma inside user information (a password or token
// holding one) does not split a URL there: the list was split at every
// comma first, so nats://omen:pa,ss@h showed as nats://omen:pa,xxxxx@h,
// the password's part before the comma in clear.
func TestRedactNATSURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		secrets  []string
	}{
		{in: "nats://omen:s3cret@127.0.0.1:1,nats://tok3n@127.0.0.1:2",
			want: "nats://omen:xxxxx@127.0.0.1:1,nats://xxxxx@127.0.0.1:2", secrets: []string{"s3cret", "tok3n"}},
		{in: "nats://127.0.0.1:1,nats://127.0.0.1:2", want: "nats://127.0.0.1:1,nats://127.0.0.1:2"},
		{in: "nats://127.0.0.1:1, nats://127.0.0.1:2", want: "nats://127.0.0.1:1, nats://127.0.0.1:2"},
		{in: "nats://omen:pa,ss@127.0.0.1:1", want: "nats://omen:xxxxx@127.0.0.1:1", secrets: []string{"pa", "ss"}},
		{in: "nats://omen:sec,r,et@127.0.0.1:1,nats://127.0.0.1:2",
			want: "nats://omen:xxxxx@127.0.0.1:1,nats://127.0.0.1:2", secrets: []string{"sec", ",r,", "et@"}},
		{in: "nats://127.0.0.1:1,nats://omen:sec,ret@127.0.0.1:2",
			want: "nats://127.0.0.1:1,nats://omen:xxxxx@127.0.0.1:2", secrets: []string{"sec", "ret"}},
		{in: "nats://127.0.0.1:1, nats://omen:sec,ret@127.0.0.1:2",
			want: "nats://127.0.0.1:1, nats://omen:xxxxx@127.0.0.1:2", secrets: []string{"sec", "ret"}},
		{in: "nats://to,k3n@127.0.0.1:1", want: "nats://xxxxx@127.0.0.1:1", secrets: []string{"to,", "k3n"}},
		{in: "nats://o,men:s3cret@127.0.0.1:1", want: "nats://o,men:xxxxx@127.0.0.1:1", secrets: []string{"s3cret"}},
		// The password's comma followed by what reads as a URL: the
		// text before it does not parse (port "sec"), so it is not one.
		{in: "nats://omen:sec,nats://ret@127.0.0.1:1", want: "nats://omen:xxxxx@127.0.0.1:1", secrets: []string{"sec", "ret"}},
		// A URL without a scheme but with user information after a
		// comma is ambiguous: taken as the rest of the user information
		// before it (more hidden, never less).
		{in: "nats://127.0.0.1:1,u:s3cret@127.0.0.1:2", want: "nats://127.0.0.1:xxxxx@127.0.0.1:2", secrets: []string{"s3cret"}},
		{in: "nats://omen:s3c@r,et@127.0.0.1:1", want: "nats://omen:xxxxx@127.0.0.1:1", secrets: []string{"s3c", "r,et"}},
	} {
		got := RedactNATSURL(tc.in)
		if got != tc.want {
			t.Errorf("RedactNATSURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for _, s := range tc.secrets {
			if strings.Contains(got, s) {
				t.Errorf("RedactNATSURL(%q) = %q shows %q", tc.in, got, s)
			}
		}
	}
}

// TestRedactNATSURLCommaPasswords: no letter of a password holding commas
// and colons (and the user information's other characters) shows, with
// the password's URL first, last or alone in the list, with its scheme or
// without (the NATS client adds nats://). The passwords are
// of upper-case letters, which the rest of the list has none of.
func TestRedactNATSURLCommaPasswords(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const chars = "QZJKWV,,,:"
	for range 2000 {
		pass := make([]byte, 1+rng.IntN(12))
		for i := range pass {
			pass[i] = chars[rng.IntN(len(chars))]
		}
		for _, u := range []string{"nats://omen:" + string(pass) + "@127.0.0.1:4222", "omen:" + string(pass) + "@127.0.0.1:4222"} {
			for _, in := range []string{u, u + ",nats://127.0.0.1:4223", "nats://127.0.0.1:4223," + u, "nats://127.0.0.1:4223, " + u + ", nats://127.0.0.1:4224"} {
				if got := RedactNATSURL(in); strings.ContainsAny(got, "QZJKWV") {
					t.Fatalf("RedactNATSURL(%q) = %q shows a part of the password", in, got)
				}
			}
		}
	}
}

// TestRedactNATSURLSchemeless: a URL without a scheme, which the NATS
// client reads with nats:// before it, hides all of its password, a
// colon in it too: omen:secret1:more@h1:4222 (user omen, password
// secret1:more) showed as omen:secret1:xxxxx@h1:4222, redact.URL taking
// omen: for its scheme.
func TestRedactNATSURLSchemeless(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{in: "omen:secret1:more@h1:4222", want: "omen:xxxxx@h1:4222"},
		{in: "omen:secret1@h1:4222", want: "omen:xxxxx@h1:4222"},
		{in: "secret1@h1:4222", want: "xxxxx@h1:4222"},
		{in: " omen:secret1:more@h1:4222 ", want: " omen:xxxxx@h1:4222 "},
		{in: "nats://h0:4222,omen:secret1:more@h1:4222", want: "nats://h0:xxxxx@h1:4222"},
		{in: "omen:secret1:more@h1:4222,nats://h2:4222", want: "omen:xxxxx@h1:4222,nats://h2:4222"},
		{in: "h1:4222", want: "h1:4222"},
	} {
		got := RedactNATSURL(tc.in)
		if got != tc.want || strings.Contains(got, "secret1") || strings.Contains(got, "more") {
			t.Errorf("RedactNATSURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
