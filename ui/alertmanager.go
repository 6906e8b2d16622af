package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strings"
)

// alertmanagerAlertsURL is the alert list of the Alertmanager UI at base
// (an Alertmanager's URL as omen posts alerts to it, http://host:9093 or
// with the path prefix it is served under) filtered to the alert of
// labels: one equality matcher per label, in the filter syntax of
// Alertmanager's UI (0.25: {name="value", …}, each value a JSON string, as
// that UI writes and reads it), the whole filter percent-encoded as its
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
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var f bytes.Buffer
	enc := json.NewEncoder(&f)
	enc.SetEscapeHTML(false)
	f.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			f.WriteByte(',')
		}
		f.WriteString(k)
		f.WriteByte('=')
		// A string always encodes; Encode ends it with a newline.
		_ = enc.Encode(labels[k])
		f.Truncate(f.Len() - 1)
	}
	f.WriteByte('}')
	return u.String() + "/#/alerts?silenced=true&inhibited=true&filter=" + strings.ReplaceAll(url.QueryEscape(f.String()), "+", "%20"), nil
}
