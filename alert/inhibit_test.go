package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"
)

// webhook records the notifications of an Alertmanager's webhook
// receivers (<url>/<receiver>): "<receiver> <status> <severity> <pod or
// entity>" per alert notified.
type webhook struct {
	mu   sync.Mutex
	seen map[string]bool
	srv  *httptest.Server
}

func newWebhook(t *testing.T) *webhook {
	t.Helper()
	h := &webhook{seen: map[string]bool{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Alerts []struct {
				Status string            `json:"status"`
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, a := range msg.Alerts {
			who := a.Labels["pod"]
			if who == "" {
				who = a.Labels["entity"]
			}
			h.seen[strings.TrimPrefix(r.URL.Path, "/")+" "+a.Status+" "+a.Labels["severity"]+" "+who] = true
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// notified reports whether receiver was notified of the alert of who with
// severity in status (firing or resolved).
func (h *webhook) notified(receiver, status, severity, who string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[receiver+" "+status+" "+severity+" "+who]
}

// TestAlertmanagerInhibitEscalated runs the README's routing example,
// its inhibit rule included, in a real Alertmanager whose receivers are
// webhooks. An alert that escalated to critical and fired critical for
// longer than ResolvedRetention still has its warning notified resolved
// to the warnings' receiver once the critical alert resolves (omen
// stopped re-sending the warning's resolution ResolvedRetention after the
// escalation: Alertmanager muted it while the critical alert fired, and
// the warning stayed open in the chat for good). Entities without the
// namespace and pod labels (entity="<entity>") do not mute each other
// (the rule's equal had only namespace and pod, which two such alerts
// both lack: node-1's critical alert muted node-2's warning).
func TestAlertmanagerInhibitEscalated(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	hook := newWebhook(t)
	cfg := readmeYAML(t)
	cfg = strings.Replace(cfg, "route:\n", "route:\n  group_wait: 200ms\n  group_interval: 500ms\n  repeat_interval: 1h\n", 1)
	for _, r := range []string{"oncall-pager", "shop-team-chat", "sre-chat"} {
		cfg = strings.Replace(cfg, "  - name: "+r+"\n",
			"  - name: "+r+"\n    webhook_configs: [{url: '"+hook.srv.URL+"/"+r+"', send_resolved: true}]\n", 1)
	}
	am := testenv.AlertmanagerConfig(t, cfg)
	st := openStore(t, t.TempDir())
	o := testOptions(st, am)
	const retention = 1500 * time.Millisecond
	o.ResolvedRetention = retention
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	startRun(t, m)

	probs := map[string]float64{}
	step := func() {
		t.Helper()
		now := time.Now()
		var ps []Prediction
		for e, p := range probs {
			q := pred(e, now, p)
			if strings.HasPrefix(e, "node-") {
				q.Labels = nil // entity="<entity>"
			}
			ps = append(ps, q)
		}
		if err := m.Process(context.Background(), now, ps); err != nil {
			t.Fatalf("Process: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitFor := func(receiver, status, severity, who string) {
		t.Helper()
		eventually(t, 10*time.Second, fmt.Sprintf("%s notified of %s %s %s", receiver, who, severity, status), func() error {
			if !hook.notified(receiver, status, severity, who) {
				return fmt.Errorf("notified of %v", hook.seen)
			}
			return nil
		})
	}

	probs["checkout-1"], probs["node-1"] = 0.75, 0.75
	step()
	step() // fire warning (For 2)
	waitFor("shop-team-chat", "firing", SeverityWarning, "checkout-1")
	waitFor("sre-chat", "firing", SeverityWarning, "node-1")
	probs["checkout-1"], probs["node-1"] = 0.95, 0.95 // escalate
	step()
	waitFor("oncall-pager", "firing", SeverityCritical, "checkout-1")
	waitFor("oncall-pager", "firing", SeverityCritical, "node-1")
	probs["node-2"] = 0.75 // fires warning while node-1 is critical
	for end := time.Now().Add(2 * retention); time.Now().Before(end); {
		step()
	}
	waitFor("sre-chat", "firing", SeverityWarning, "node-2")
	for _, w := range []struct{ receiver, who string }{{"shop-team-chat", "checkout-1"}, {"sre-chat", "node-1"}} {
		if hook.notified(w.receiver, "resolved", SeverityWarning, w.who) {
			t.Errorf("%s notified of %s's warning resolved while its critical alert fires (the inhibit rule mutes it)", w.receiver, w.who)
		}
	}
	probs["checkout-1"], probs["node-1"] = 0.3, 0.3 // resolve
	step()
	waitFor("oncall-pager", "resolved", SeverityCritical, "checkout-1")
	waitFor("shop-team-chat", "resolved", SeverityWarning, "checkout-1")
	waitFor("sre-chat", "resolved", SeverityWarning, "node-1")
}
