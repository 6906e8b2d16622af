package ui

import (
	"strings"
	"testing"
)

// TestAlertmanagerAlertsURL: the link to Alertmanager's alert list keeps
// the Alertmanager's path prefix, leaves out its user info, query and
// fragment, and is refused, without showing the URL, for what is not an
// absolute http(s) URL.
func TestAlertmanagerAlertsURL(t *testing.T) {
	l := map[string]string{"alertname": "A"}
	const list = "/#/alerts?silenced=true&inhibited=true&filter=%7Balertname%3D%22A%22%7D"
	for _, tc := range []struct{ base, want string }{
		{"http://127.0.0.1:9093", "http://127.0.0.1:9093" + list},
		{"http://127.0.0.1:9093/", "http://127.0.0.1:9093" + list},
		{"https://u:secret@am.example/prefix/?token=secret#secret", "https://am.example/prefix" + list},
		{"http://am.example/a%2Fb/", "http://am.example/a%2Fb" + list},
		{"ftp://u:secret@am.example", ""},
		{"am.example:9093", ""},
		{"/alertmanager", ""},
		{"http://", ""},
		{"http://u:secret@am.example/%zz", ""},
	} {
		got, err := alertmanagerAlertsURL(tc.base, l)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("%q: %q (%v), want %q", tc.base, got, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: the error %q shows the URL's password", tc.base, err)
		}
	}
}
