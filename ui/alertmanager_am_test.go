package ui

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestAlertmanagerLinkFindsAlert: the link's filter, passed matcher by
// matcher to Debian Alertmanager 0.25's API as its UI passes them (the
// text between the braces split at the commas outside quotes, each
// matcher sent as it is), finds exactly the alert it names, for label
// values that need escaping: a quote, a backslash, a line feed, a tab, a
// control character, U+2028, a comma and braces. JSON's escapes (\t,
// \u0001, \u2028) are not what 0.25's matcher parser unescapes: such a
// filter found no alert.
func TestAlertmanagerLinkFindsAlert(t *testing.T) {
	am := testenv.Alertmanager(t)
	pods := []string{`a"b\c`, "line\nfeed", "tab\tbed", "ctl\x01x", "sep\u2028x", "comma,{brace}=", `end\`, " spaced "}
	var alerts []map[string]any
	for _, pod := range pods {
		alerts = append(alerts, map[string]any{
			"labels":   map[string]string{"alertname": "OmenModuleLoadFailurePredicted", "pod": pod},
			"startsAt": time.Now().Add(-time.Minute).Format(time.RFC3339),
			"endsAt":   time.Now().Add(time.Hour).Format(time.RFC3339),
		})
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(am+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("post alerts: %s", resp.Status)
	}
	for _, pod := range pods {
		labels := map[string]string{"alertname": "OmenModuleLoadFailurePredicted", "pod": pod}
		link, err := alertmanagerAlertsURL(am, labels)
		if err != nil {
			t.Fatal(err)
		}
		_, frag, _ := strings.Cut(link, "#/alerts?")
		q, err := url.ParseQuery(frag)
		if err != nil {
			t.Fatal(err)
		}
		api := url.Values{"silenced": {"true"}, "inhibited": {"true"}}
		for _, m := range splitMatchers(t, q.Get("filter")) {
			api.Add("filter", m)
		}
		var found []struct {
			Labels map[string]string `json:"labels"`
		}
		// Alertmanager takes a moment to list a posted alert.
		deadline := time.Now().Add(10 * time.Second)
		for {
			found = found[:0]
			resp, err := http.Get(am + "/api/v2/alerts?" + api.Encode())
			if err != nil {
				t.Fatal(err)
			}
			err = json.NewDecoder(resp.Body).Decode(&found)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("pod %q: %s: %v", pod, resp.Status, err)
			}
			if len(found) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(found) != 1 || found[0].Labels["pod"] != pod {
			t.Errorf("pod %q: the link's filter %q finds %d alerts in Alertmanager, want exactly this one: %v", pod, q.Get("filter"), len(found), found)
		}
	}
}

// splitMatchers splits Alertmanager's UI filter {m1,m2,…} into its
// matchers, at the commas outside double quotes (a backslash escapes the
// next character inside them), as that UI does before it asks the API.
func splitMatchers(t *testing.T, f string) []string {
	t.Helper()
	if !strings.HasPrefix(f, "{") || !strings.HasSuffix(f, "}") {
		t.Fatalf("filter %q is not {…}", f)
	}
	var out []string
	var cur strings.Builder
	inQuote, esc := false, false
	for _, r := range f[1 : len(f)-1] {
		switch {
		case esc:
			esc = false
		case inQuote && r == '\\':
			esc = true
		case r == '"':
			inQuote = !inQuote
		case !inQuote && r == ',':
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	return append(out, cur.String())
}
