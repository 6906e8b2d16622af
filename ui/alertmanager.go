package ui

import (
	"errors"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// matcherEscaper escapes a label value inside the double quotes of an
// Alertmanager 0.25 matcher as its parser unescapes it: a backslash, a
// double quote and a line feed; every other character stays as it is
// (that UI passes the filter's text to the API unchanged, and its parser
// reads JSON's \t or \u0001 as a backslash and letters, which then
// match nothing).
var matcherEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// alertmanagerAlertsURL is the alert list of the Alertmanager UI at base
// (an Alertmanager's URL as omen posts alerts to it, http://host:9093 or
// with the path prefix it is served under) filtered to the alert of
// labels: one equality matcher per label, in the filter syntax of
// Alertmanager's UI (0.25: {name="value", …}, each value escaped as its
// matcher parser reads it, matcherEscaper), the whole filter percent-encoded as its
// URLs are (a space as %20, not +). Silenced and inhibited alerts are shown
// too: the alert is there whether or not it is silenced. Base's user info,
// query and fragment (omen's credentials for posting) are left out. An
// error, which does not show base, when it is not an absolute http(s)
// URL.
func alertmanagerAlertsURL(base string, labels map[string]string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", errors.New("the Alertmanager URL is not an absolute http(s) URL")
	}
	u.User = nil
	u.RawQuery, u.ForceQuery = "", false
	u.Fragment, u.RawFragment = "", ""
	u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), strings.TrimRight(u.RawPath, "/")
	keys := slices.Sorted(maps.Keys(labels))
	var f strings.Builder
	f.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			f.WriteByte(',')
		}
		f.WriteString(k)
		f.WriteString(`="`)
		f.WriteString(matcherEscaper.Replace(labels[k]))
		f.WriteByte('"')
	}
	f.WriteByte('}')
	return u.String() + "/#/alerts?silenced=true&inhibited=true&filter=" + strings.ReplaceAll(url.QueryEscape(f.String()), "+", "%20"), nil
}
