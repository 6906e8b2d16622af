package alert

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

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
	for range 2 { // For: 2
		now := time.Now()
		if err := m.Process(context.Background(), now, []Prediction{pred("cart-0", now, 0.9)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
