package alert

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"
)

// basicAuth adds basic-auth credentials to the requests of next.
type basicAuth struct {
	user, password string
	next           http.RoundTripper
}

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.password)
	return b.next.RoundTrip(r)
}

// TestAlertmanagerChecked: with no alert to send, a Manager checks each
// Alertmanager as its delivery loop starts, and after a reload that
// changes its client, with the client alerts are posted with (real
// Alertmanager 0.25 requiring TLS from a private CA, a client
// certificate and basic auth): a wrong password, a CA that does not
// sign its certificate and an address nothing listens at are each
// logged once at WARN naming the cause, and a client that reaches it
// logs no WARN. Before, a misconfigured Alertmanager showed nowhere until
// the first alert failed to be delivered, weeks later on a quiet fleet.
func TestAlertmanagerChecked(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	dir := t.TempDir()
	sw := testenv.NewSecuredWeb(t, dir, "ca", "127.0.0.1", "omen", "omen", "r1ght-pw")
	am := testenv.AlertmanagerWeb(t, sw.Web)
	otherCA := testenv.NewSecuredWeb(t, t.TempDir(), "other", "127.0.0.1", "omen", "omen", "r1ght-pw")
	closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	// A catch-all answering 200 with a page (a default backend).
	notAM := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<html><body>welcome</body></html>")
	}))
	t.Cleanup(notAM.Close)

	client := func(web testenv.Web, password string) *http.Client {
		tr := web.Client.Transport.(*http.Transport).Clone()
		return &http.Client{Timeout: 5 * time.Second, Transport: basicAuth{"omen", password, tr}}
	}
	right, wrongPW, untrusted := client(sw.Web, "r1ght-pw"), client(sw.Web, "wr0ng-pw"), client(otherCA.Web, "r1ght-pw")
	tests := []struct {
		name   string
		url    string
		client *http.Client
		want   string // in the WARN's attributes; "" for no WARN
	}{
		{"reached", am, right, ""},
		{"wrong password", am, wrongPW, "401 Unauthorized"},
		{"untrusted certificate", am, untrusted, "certificate signed by unknown authority"},
		{"nothing listening", closed, &http.Client{Transport: &http.Transport{}}, "connection refused"},
		{"not an Alertmanager", notAM.URL, &http.Client{Transport: &http.Transport{}}, "200 OK"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &recordLogs{}
			opts := testOptions(openStore(t, ""), tc.url)
			opts.Clients = map[string]*http.Client{tc.url: tc.client}
			opts.Logger = slog.New(logs)
			m, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
			startRun(t, m)
			checked := func(what string) {
				t.Helper()
				eventually(t, 20*time.Second, what, func() error {
					if len(logs.matching(slog.LevelWarn, "alertmanager check failed"))+len(logs.matching(slog.LevelDebug, "alertmanager answers")) == 0 {
						return errNotYet
					}
					return nil
				})
			}
			checked("the Alertmanager checked")
			warns := logs.matching(slog.LevelWarn, "alertmanager check failed")
			switch {
			case tc.want == "" && len(warns) != 0:
				t.Errorf("WARN for an Alertmanager omen reaches: %v", warns)
			case tc.want != "" && len(warns) != 1:
				t.Errorf("%d WARNs, want 1 naming %q: %v", len(warns), tc.want, warns)
			case tc.want != "" && !strings.Contains(fmt.Sprint(warns[0].msg, warns[0].attrs), tc.want):
				t.Errorf("WARN %v, want it to name %q", warns[0], tc.want)
			}
			if tc.url != am || tc.client == right {
				return
			}
			// A reload that gives it the right client checks it again.
			before := len(logs.matching(slog.LevelDebug, "alertmanager answers"))
			r := Reload{Alertmanagers: []string{am}, ResendDelay: opts.ResendDelay, EvalInterval: opts.EvalInterval,
				For: opts.For, ExternalURL: opts.ExternalURL, Clients: map[string]*http.Client{am: right}}
			if err := m.Reconfigure(r); err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, "the Alertmanager checked after the reload", func() error {
				if len(logs.matching(slog.LevelDebug, "alertmanager answers")) == before {
					return errNotYet
				}
				return nil
			})
			if n := len(logs.matching(slog.LevelWarn, "alertmanager check failed")); n != 1 {
				t.Errorf("%d WARNs after the reload, want the first one only", n)
			}
		})
	}
}
