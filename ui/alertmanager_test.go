package ui_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/ui"
)

// amLink is the alert page's link to Alertmanager, its href.
var amLink = regexp.MustCompile(`<a id="alertmanager-link" href="([^"]*)">`)

// amMatcher is one matcher of Alertmanager's UI filter: a label name, =, a
// quoted value.
var amMatcher = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)=("(?:[^"\\]|\\.)*")`)

// TestAlertmanagerLink: a firing alert's page links to the alert in the
// configured Alertmanager's UI, its alert list filtered to exactly the
// alert's labels (there was no link back to Alertmanager, to silence the
// alert or see its routing). Label values with quotes, backslashes,
// commas, braces, spaces, & and # survive the filter's quoting and
// the URL's escaping; omen's credentials in the Alertmanager URL are not
// shown. No link without an Alertmanager, nor for an alert Alertmanager
// does not list (pending: not sent; resolved) nor a prediction's page.
func TestAlertmanagerLink(t *testing.T) {
	b := apitest.Backend()
	labels := map[string]string{
		"alertname": "ModuleLoadFailurePredicted", "severity": "critical", "namespace": "shop",
		"pod": `cart "blue", {x}=\y & #z é`,
	}
	for i := range b.AlertList {
		if b.AlertList[i].Fingerprint == apitest.FiringFingerprint {
			b.AlertList[i].Labels = labels
		}
	}
	var am atomic.Value
	am.Store("http://omen:s3cret@127.0.0.1:9093/am/?token=t0k#x")
	srv := newServerOpts(t, b, ui.Options{Alertmanager: func() string { return am.Load().(string) }})
	firing := srv.URL + api.AlertUIPath(apitest.FiringFingerprint)

	_, body, _ := fetch(t, firing)
	m := amLink.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the firing alert's page has no link to Alertmanager:\n%s", body)
	}
	href := html.UnescapeString(m[1])
	const want = "http://127.0.0.1:9093/am/#/alerts?silenced=true&inhibited=true&filter=" +
		"%7Balertname%3D%22ModuleLoadFailurePredicted%22%2Cnamespace%3D%22shop%22%2C" +
		"pod%3D%22cart%20%5C%22blue%5C%22%2C%20%7Bx%7D%3D%5C%5Cy%20%26%20%23z%20%C3%A9%22%2Cseverity%3D%22critical%22%7D"
	if href != want {
		t.Errorf("link to Alertmanager\n%s\nwant\n%s", href, want)
	}
	if strings.Contains(href, "s3cret") || strings.Contains(href, "t0k") || strings.Contains(href, "+") {
		t.Errorf("link to Alertmanager %s shows the URL's credentials, or a + (Alertmanager's UI reads no + as a space)", href)
	}
	// The filter Alertmanager's UI reads: equality matchers whose quoted
	// values are exactly the alert's labels, all of them.
	base, frag, ok := strings.Cut(href, "#/alerts?")
	if !ok || base != "http://127.0.0.1:9093/am/" {
		t.Fatalf("link %s is not of Alertmanager's alert list at http://127.0.0.1:9093/am/", href)
	}
	q, err := url.ParseQuery(frag)
	if err != nil {
		t.Fatal(err)
	}
	f := q.Get("filter")
	if !strings.HasPrefix(f, "{") || !strings.HasSuffix(f, "}") {
		t.Fatalf("filter %q is not {…}", f)
	}
	got := map[string]string{}
	for rest := f[1 : len(f)-1]; rest != ""; {
		mm := amMatcher.FindStringSubmatch(rest)
		if mm == nil {
			t.Fatalf("filter %q: no matcher at %q", f, rest)
		}
		got[mm[1]] = amUnquote(t, mm[2])
		rest = strings.TrimPrefix(rest[len(mm[0]):], ",")
	}
	if len(got) != len(labels) {
		t.Errorf("filter %q matches labels %q, want %q", f, got, labels)
	}
	for k, v := range labels {
		if got[k] != v {
			t.Errorf("filter %q: %s=%q, want %q", f, k, got[k], v)
		}
	}

	// The Alertmanager of the configuration as it is now (a reload).
	am.Store("https://am.example:9093")
	if _, body, _ := fetch(t, firing); !strings.Contains(body, `id="alertmanager-link" href="https://am.example:9093/#/alerts?`) {
		t.Errorf("after a change of Alertmanager the link is %q", amLink.FindString(body))
	}

	for _, c := range []struct {
		name, path string
		am         func() string
	}{
		{"no Alertmanager", api.AlertUIPath(apitest.FiringFingerprint), nil},
		{"Alertmanager none now", api.AlertUIPath(apitest.FiringFingerprint), func() string { return "" }},
		{"resolved alert", api.AlertUIPath(apitest.ResolvedFingerprint), func() string { return "http://127.0.0.1:9093" }},
		{"pending alert", api.AlertUIPath(apitest.PendingFingerprint), func() string { return "http://127.0.0.1:9093" }},
		{"prediction", api.AlertUIPath(apitest.CartEntity + "@1764000000000"), func() string { return "http://127.0.0.1:9093" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newServerOpts(t, b, ui.Options{Alertmanager: c.am})
			code, body, _ := fetch(t, srv.URL+c.path)
			if code != http.StatusOK || !strings.Contains(body, `id="graph"`) {
				t.Fatalf("%s: status %d:\n%s", c.path, code, body)
			}
			if strings.Contains(body, "alertmanager-link") {
				t.Errorf("%s links to Alertmanager: %s", c.path, amLink.FindString(body))
			}
		})
	}
}

// amUnquote is the value of a quoted matcher value as Alertmanager 0.25's
// matcher parser reads it: \\, \" and \n are a backslash, a quote and a
// line feed; any other character is itself.
func amUnquote(t *testing.T, q string) string {
	t.Helper()
	var b strings.Builder
	in := q[1 : len(q)-1]
	for i := 0; i < len(in); i++ {
		if in[i] != '\\' {
			b.WriteByte(in[i])
			continue
		}
		if i++; i == len(in) {
			t.Fatalf("quoted value %s ends in a backslash", q)
		}
		switch in[i] {
		case '\\', '"':
			b.WriteByte(in[i])
		case 'n':
			b.WriteByte('\n')
		default:
			t.Fatalf("quoted value %s: escape \\%c, which Alertmanager 0.25 does not read", q, in[i])
		}
	}
	return b.String()
}
