package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/omen-sre/omen/internal/testenv"
)

var errNotYet = errors.New("not yet")

// TestAlertmanagerClients: each Alertmanager posts with its client of
// Options.Clients (two TLS servers, each trusted by its own client only;
// the default client trusts neither), and Reconfigure giving a kept
// Alertmanager a client applies it from its next POST: one that failed
// with the default client is delivered.
func TestAlertmanagerClients(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	var posts [3]atomic.Int64
	servers := make([]*httptest.Server, 3)
	for i := range servers {
		servers[i] = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				posts[i].Add(1)
			}
		}))
		servers[i].Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError) // the refused handshakes
		servers[i].StartTLS()
		t.Cleanup(servers[i].Close)
	}
	a, b, c := servers[0], servers[1], servers[2]
	opts := testOptions(openStore(t, ""), a.URL, b.URL, c.URL+"/")
	opts.Clients = map[string]*http.Client{a.URL: a.Client(), b.URL + "/": b.Client()}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	startRun(t, m)
	fireOne(t, m, time.Now())
	eventually(t, 10*time.Second, "POSTs to the Alertmanagers with a client", func() error {
		if posts[0].Load() == 0 || posts[1].Load() == 0 {
			return errNotYet
		}
		return nil
	})
	if n := posts[2].Load(); n != 0 {
		t.Fatalf("%d POSTs reached the Alertmanager the default client does not trust", n)
	}
	r := Reload{Alertmanagers: []string{a.URL, b.URL, c.URL}, ResendDelay: opts.ResendDelay, EvalInterval: opts.EvalInterval,
		For: opts.For, ExternalURL: opts.ExternalURL,
		Clients: map[string]*http.Client{a.URL: a.Client(), b.URL: b.Client(), c.URL: c.Client()}}
	if err := m.Reconfigure(r); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the alert delivered with the client the reload gave", func() error {
		if posts[2].Load() == 0 {
			return errNotYet
		}
		return nil
	})
}

// passwordTransport sets basic auth with the password it holds now.
type passwordTransport struct {
	user     string
	password *atomic.Value
	rt       *http.Transport
}

func (p passwordTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(p.user, p.password.Load().(string))
	return p.rt.RoundTrip(r)
}

// CloseIdleConnections lets the Manager's Close close them (goleak).
func (p passwordTransport) CloseIdleConnections() { p.rt.CloseIdleConnections() }

// TestAlertmanagerRefusesCredentials: an Alertmanager (Debian 0.25 with
// basic_auth_users) answering 401 to omen's wrong password does not make
// omen drop the alert, as a 4xx rejecting the alert does: the POST is
// retried, counted as failed, and once the password is right the alert
// is delivered. It was dropped ("alertmanager rejected an alert"), and
// reached Alertmanager only if resent (every resend_delay).
func TestAlertmanagerRefusesCredentials(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("right-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	am := testenv.AlertmanagerWeb(t, testenv.Web{Config: "basic_auth_users:\n  omen: " + string(hash) + "\n",
		Client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, Username: "omen", Password: "right-pw"})
	var pw atomic.Value
	pw.Store("wrong-pw")
	opts := testOptions(openStore(t, ""), am)
	opts.ResendDelay = time.Hour // no resend delivers what a drop lost
	opts.Clients = map[string]*http.Client{am: {Transport: passwordTransport{"omen", &pw, &http.Transport{}}}}
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	startRun(t, m)
	fireOne(t, m, time.Now())
	eventually(t, 10*time.Second, "POSTs refused with 401", func() error {
		if v := testutil.ToFloat64(m.tm.failed.WithLabelValues(am)); v < 1 {
			return fmt.Errorf("omen_notifications_failed_total %g", v)
		}
		return nil
	})
	pw.Store("right-pw") // the password mended
	eventually(t, 10*time.Second, "the alert in Alertmanager", func() error {
		req, err := http.NewRequest(http.MethodGet, am+"/api/v2/alerts", nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth("omen", "right-pw")
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var as []amAlert
		if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
			return err
		}
		if len(as) != 1 {
			return fmt.Errorf("%d alerts", len(as))
		}
		return nil
	})
}
