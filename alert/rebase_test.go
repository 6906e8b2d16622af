package alert

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestReloadRebasesLinks: after a reload changing the external URL, the
// next resend of an alert already firing carries omen's own links
// (generatorURL, explanation_url and a built-in or relative runbook_url)
// under the new URL, to Alertmanager and in Alerts; a configured absolute
// runbook URL stays as it is. Also for a state persisted with an absolute
// built-in runbook URL (before runbooks were kept relative) and loaded by
// a restart, with the same external URL or a changed one.
func TestReloadRebasesLinks(t *testing.T) {
	const oldURL, newURL = "http://omen.example:9090", "http://omen2.example"
	noURL := ExplainerFunc(func(ctx context.Context, p Prediction) (Explanation, error) {
		e, err := fakeExplainer{}.Explain(ctx, p)
		e.URL = "" // explanation_url: omen's own
		return e, err
	})
	tests := []struct {
		name    string
		rems    []Remediation
		restart bool
		// restartURL is the external URL of the restart ("": unchanged).
		restartURL string
		want       string
	}{
		{"built-in runbook", nil, false, "", newURL + "/docs/runbooks/memory"},
		{"built-in runbook, persisted absolute", nil, true, "", newURL + "/docs/runbooks/memory"},
		{"built-in runbook, persisted absolute, restarted with a changed URL", nil, true, newURL, newURL + "/docs/runbooks/memory"},
		{"configured relative runbook", []Remediation{{Cause: "*memory*", Action: "Page the memory team.", RunbookURL: "team-memory"}},
			false, "", newURL + "/docs/runbooks/team-memory"},
		{"configured absolute runbook", []Remediation{{Cause: "*memory*", Action: "Page the memory team.", RunbookURL: "https://wiki.example/memory"}},
			false, "", "https://wiki.example/memory"},
		{"configured absolute runbook, persisted, restarted with a changed URL",
			[]Remediation{{Cause: "*memory*", Action: "Page the memory team.", RunbookURL: "https://wiki.example/memory"}},
			true, newURL, "https://wiki.example/memory"},
		// A wiki page whose path ends like a built-in runbook's is the
		// user's, not omen's (reviewer's finding: it became omen's).
		{"configured wiki runbook named like a built-in one, restarted with a changed URL",
			[]Remediation{{Cause: "*memory*", Action: "Page the memory team.", RunbookURL: "https://wiki.example/docs/runbooks/memory"}},
			true, newURL, "https://wiki.example/docs/runbooks/memory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, t.TempDir())
			o := testOptions(st, fakeAM)
			o.For, o.Explainer, o.Remediations = 1, noURL, tc.rems
			t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			var clk stepClock
			clk.use(&o, t0)
			m, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
			ctx := context.Background()
			if err := m.Process(ctx, t0, []Prediction{pred("checkout-7f9c", t0, 0.93)}); err != nil {
				t.Fatal(err)
			}
			if tc.restart {
				// A state as an older omen persisted it: the runbook
				// absolute under the base URL of the time.
				m.mu.Lock()
				for _, s := range m.states {
					s.Runbook = m.remedy.url(s.Runbook)
					if err := errFirst(m.persist([]*entityState{s})); err != nil {
						t.Fatal(err)
					}
				}
				m.mu.Unlock()
				m.Close()
				o.Registerer = prometheus.NewRegistry()
				if tc.restartURL != "" {
					o.ExternalURL = tc.restartURL
				}
				if m, err = New(o); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(m.Close)
			}
			if err := m.Reconfigure(Reload{Alertmanagers: []string{fakeAM}, For: 1, ResendDelay: time.Minute,
				EvalInterval: time.Hour, ExternalURL: newURL, Remediations: tc.rems}); err != nil {
				t.Fatal(err)
			}
			t1 := t0.Add(2 * time.Minute) // past the resend delay
			clk.set(t1)
			if err := m.Process(ctx, t1, []Prediction{pred("checkout-7f9c", t1, 0.93)}); err != nil {
				t.Fatal(err)
			}
			items := pending(t, st, fakeAM)
			last := items[len(items)-1]
			if len(last) != 1 {
				t.Fatalf("last outbox item %+v, want the resent alert", last)
			}
			as := m.Alerts()
			if len(as) != 1 {
				t.Fatalf("alerts %+v, want one", as)
			}
			for where, a := range map[string]struct {
				gen string
				ann map[string]string
			}{"sent": {last[0].GeneratorURL, last[0].Annotations}, "Alerts": {as[0].GeneratorURL, as[0].Annotations}} {
				if !strings.HasPrefix(a.gen, newURL+"/") {
					t.Errorf("%s: generatorURL %q, want under %s", where, a.gen, newURL)
				}
				if u := a.ann["explanation_url"]; !strings.HasPrefix(u, newURL+"/") {
					t.Errorf("%s: explanation_url %q, want under %s", where, u, newURL)
				}
				if u := a.ann["runbook_url"]; u != tc.want {
					t.Errorf("%s: runbook_url %q, want %q", where, u, tc.want)
				}
			}
		})
	}
}

func errFirst(errs []error) error {
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}
