package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"
)

// predictionRuleAlerts returns, by severity, the labels of the alert
// each prediction rule of docs/prometheus-rules.yml (a rule on
// omen_failure_probability) fires for the entity shop/pod: its alertname,
// its labels, and the labels of omen_failure_probability the rule keeps
// (max without (instance, job): the entity_labels, namespace and pod by
// default).
func predictionRuleAlerts(t *testing.T, pod string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || !selects(t, r.Expr, "omen_failure_probability") {
				continue
			}
			ls := map[string]string{"alertname": r.Alert, "namespace": "shop", "pod": pod}
			maps.Copy(ls, r.Labels)
			if _, dup := out[ls["severity"]]; dup {
				t.Fatalf("two prediction rules of severity %q", ls["severity"])
			}
			out[ls["severity"]] = ls
		}
	}
	for _, sev := range []string{SeverityWarning, SeverityCritical} {
		if out[sev] == nil {
			t.Fatalf("no prediction rule of severity %s in docs/prometheus-rules.yml", sev)
		}
	}
	return out
}

// TestPrometheusRulesAlertmanagerRouting: the alerts of the example
// prediction rules route and inhibit with the README's Alertmanager
// configuration as omen's own alerts do: the critical one goes to
// oncall-pager and, in a real Alertmanager, inhibits the same entity's
// warning (not another entity's). The critical rule was named
// ModuleLoadFailurePredictedCritical, which the README's matchers
// (alertname="ModuleLoadFailurePredicted") do not match: it went to the
// default receiver, and its warning was not inhibited.
func TestPrometheusRulesAlertmanagerRouting(t *testing.T) {
	const amtool = "/usr/bin/amtool"
	if _, err := os.Stat(amtool); err != nil {
		t.Fatalf("%s is required (%v); install it with: apt-get update && apt-get install -y prometheus-alertmanager", amtool, err)
	}
	checkout := predictionRuleAlerts(t, "checkout-1")
	cart := predictionRuleAlerts(t, "cart-1")
	cfg := readmeYAML(t)
	file := filepath.Join(t.TempDir(), "alertmanager.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for sev, want := range map[string]string{SeverityCritical: "oncall-pager", SeverityWarning: "shop-team-chat"} {
		args := []string{"config", "routes", "test", "--config.file=" + file}
		for k, v := range checkout[sev] {
			args = append(args, k+"="+v)
		}
		out, err := exec.Command(amtool, args...).Output()
		if err != nil {
			t.Fatalf("amtool %v: %v", args, err)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("the %s rule's alert %v routes to %q, want %q", sev, checkout[sev], got, want)
		}
	}

	// Inhibition, in a real Alertmanager (its API reports an alert's
	// inhibitedBy).
	am := testenv.AlertmanagerConfig(t, cfg)
	type amAlert struct {
		Labels   map[string]string `json:"labels"`
		StartsAt time.Time         `json:"startsAt"`
		EndsAt   time.Time         `json:"endsAt"`
	}
	now := time.Now()
	var post []amAlert
	for _, ls := range []map[string]string{checkout[SeverityCritical], checkout[SeverityWarning], cart[SeverityWarning]} {
		post = append(post, amAlert{Labels: ls, StartsAt: now, EndsAt: now.Add(time.Hour)})
	}
	body, err := json.Marshal(post)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(am+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST alerts: %s", resp.Status)
	}
	eventually(t, 10*time.Second, "checkout-1's warning inhibited, cart-1's not", func() error {
		resp, err := http.Get(am + "/api/v2/alerts")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var got []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				State       string   `json:"state"`
				InhibitedBy []string `json:"inhibitedBy"`
			} `json:"status"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			return err
		}
		state := map[string]string{}
		for _, a := range got {
			state[a.Labels["pod"]+" "+a.Labels["severity"]] = fmt.Sprintf("%s inhibited by %d", a.Status.State, len(a.Status.InhibitedBy))
		}
		want := map[string]string{
			"checkout-1 " + SeverityCritical: "active inhibited by 0",
			"checkout-1 " + SeverityWarning:  "suppressed inhibited by 1",
			"cart-1 " + SeverityWarning:      "active inhibited by 0",
		}
		if !maps.Equal(state, want) {
			return fmt.Errorf("alerts %v, want %v", state, want)
		}
		return nil
	})
}
