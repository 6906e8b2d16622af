package redact

import (
	"net/url"
	"strings"
)

// URL returns s with the secret of its user information replaced by
// "xxxxx": http://user:xxxxx@host, or http://xxxxx@host for a lone user
// name (which may be a token). It also covers text that does not parse as
// a URL, or that parses with the credentials outside the user information
// (a forgotten scheme, "user:pass@host", or "http:user:pass@host"): then
// everything from after the scheme to the last "@" counts as user
// information, so a password holding "@", "/", "?" or "#" is hidden too.
// A URL with no "@" is returned unchanged.
func URL(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	// One "@", in the user information of a URL that parses: the URL's
	// own redaction. Otherwise the text up to the last "@".
	if u, err := url.Parse(s); err == nil && u.User != nil && u.Host != "" && strings.Count(s, "@") == 1 {
		if _, ok := u.User.Password(); !ok {
			u.User = url.User("xxxxx") // a lone user name may be a token
			return u.String()
		}
		return u.Redacted()
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		start = i + 3
	} else if i := strings.IndexByte(s, ':'); i >= 0 && i < at {
		start = i + 1
		for start < at && s[start] == '/' {
			start++
		}
	}
	info := s[start:at]
	masked := "xxxxx"
	if user, _, ok := strings.Cut(info, ":"); ok {
		masked = user + ":xxxxx"
	}
	return s[:start] + masked + s[at:]
}
