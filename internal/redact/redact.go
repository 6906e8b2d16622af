package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// hidden replaces each secret URL shows.
const hidden = "xxxxx"

// URL returns s with its secrets replaced by "xxxxx": the secret of its
// user information, http://user:xxxxx@host, or http://xxxxx@host for a
// lone user name (which may be a token), and every value of its query
// string (?namespace=xxxxx&access_token=xxxxx; a parameter without "=",
// or whose name holds an "@", whole: it may be a token), as of a query
// string in its fragment (http://h/#/graph?g0.expr=xxxxx). Any value
// may be a secret (pwd, sid, ticket, a percent-encoded ?next= holding a
// token): none is shown. Two URLs differing only in a query value or a
// password show the same; a poller's name tells them apart.
//
// When s parses as a URL with a host, and either has user information
// or no "@" after its host, the display is built from the parse: scheme,
// user information (hidden as above), host, path (up to a last "@" in it
// hidden), query and fragment (hidden whole when it holds an "@"): an
// "@" in the query of a URL with user information is a value's
// (?user=ops@corp.com). Any other text is masked as text: everything
// from after the scheme to the last "@" counts as user information, so a
// token or password holding "/", "?", "#" or "@" is hidden whole (Go
// parses http://tok/en?x@prom:9090 as host tok: its display is
// http://xxxxx@prom:9090, not what the client contacts), and every query
// value is hidden. So http://prom-a/t@x/ and http://prom-b/t@x/ both
// show as http://xxxxx@x/: a poller's name tells such URLs apart. A text
// with neither "@" nor "?" is returned unchanged.
func URL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" && (u.User != nil || !atAfterHost(s)) {
		return parsed(s, u)
	}
	return textual(s)
}

// atAfterHost reports whether s has an "@" after its authority (the text
// after "//" up to the next "/", "?" or "#") followed by what reads as a
// host: a name or [IPv6 address], maybe a port, then the end or "/", "?"
// or "#" (http://tok/en?x@prom:9090/, a token holding "/" and "?"; not
// ?email=a@b&token=x, a value's "@").
func atAfterHost(s string) bool {
	_, rest, ok := strings.Cut(s, "//")
	if !ok {
		return strings.IndexByte(s, '@') >= 0
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		return false
	}
	at := strings.LastIndexByte(rest[end:], '@')
	if at < 0 {
		return false
	}
	host := rest[end+at+1:]
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	return hostLike.MatchString(host)
}

// hostLike matches a URL's host[:port].
var hostLike = regexp.MustCompile(`^(?:[A-Za-z0-9.%_~-]+|\[[0-9A-Fa-f:.%A-Za-z]+\])(?::[0-9]*)?$`)

// parsed returns the display of u, the parse of s.
func parsed(s string, u *url.URL) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	if u.Scheme != "" {
		b.WriteString(u.Scheme)
		b.WriteByte(':')
	}
	b.WriteString("//")
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			b.WriteString(url.User(u.User.Username()).String())
			b.WriteByte(':')
		}
		b.WriteString(hidden + "@")
	}
	// The host as a URL writes it (an IPv6 zone's "%" escaped, as
	// in the input), not u.Host's unescaped text.
	b.WriteString(strings.TrimPrefix((&url.URL{Host: u.Host}).String(), "//"))
	b.WriteString(beforeAt(u.EscapedPath()))
	if u.ForceQuery || u.RawQuery != "" {
		b.WriteByte('?')
		b.WriteString(hideValues(u.RawQuery))
	}
	if strings.IndexByte(s, '#') >= 0 {
		b.WriteByte('#')
		// A fragment with an "@" may hold a password that holds a "#"
		// (http://admin:12#34@h parses as host admin:12): hidden whole.
		frag := u.EscapedFragment()
		if strings.IndexByte(frag, '@') >= 0 {
			frag = hidden
		} else if q := strings.IndexByte(frag, '?'); q >= 0 {
			frag = frag[:q+1] + hideValues(frag[q+1:])
		}
		b.WriteString(frag)
	}
	return b.String()
}

// beforeAt returns p with everything up to its last "@" hidden: an "@"
// in a path is, more often than not, user information whose
// password or token holds a "/" (http://eyJhbGci/Oi9z@prom:9090
// parses as host eyJhbGci, path /Oi9z@prom:9090); the path's first "/"
// stays, so the host and what follows the "@" still tell URLs apart.
func beforeAt(p string) string {
	at := strings.LastIndexByte(p, '@')
	if at < 0 {
		return p
	}
	lead := ""
	if strings.HasPrefix(p, "/") {
		lead = "/"
	}
	return lead + hidden + p[at:]
}

// hideValues returns the query string q with every value hidden:
// name=xxxxx, and a parameter without "=" or whose name holds an "@"
// whole. "&" and ";" separate the parameters; empty ones stay empty.
func hideValues(q string) string {
	var b strings.Builder
	b.Grow(len(q))
	start := 0
	for i := 0; i <= len(q); i++ {
		if i < len(q) && q[i] != '&' && q[i] != ';' {
			continue
		}
		if p := q[start:i]; p != "" {
			name, _, ok := strings.Cut(p, "=")
			if ok && !strings.Contains(name, "@") {
				b.WriteString(name)
				b.WriteByte('=')
			}
			b.WriteString(hidden)
		}
		if i < len(q) {
			b.WriteByte(q[i])
		}
		start = i + 1
	}
	return b.String()
}

// textual returns s, text that does not parse as a URL with a host, with
// its user information's secret (everything from after the scheme to the
// last "@", past a user name and ":") and every query value hidden: of
// the query strings starting at the first "?" and at the first "?" after
// each "#" and after the last "@" (one starting before the last "@" keeps
// its parameters without "=": they may be the host).
func textual(s string) string {
	at := strings.LastIndexByte(s, '@')
	first := strings.IndexByte(s, '?')
	if at < 0 && first < 0 {
		return s
	}
	mask := make([]bool, len(s))
	insert := -1 // where an empty user information gets its "xxxxx"
	if at >= 0 {
		start, end := userInfo(s, at)
		if start == end {
			insert = start
		}
		for i := start; i < end; i++ {
			mask[i] = true
		}
	}
	// Each "#" may start a fragment holding a query: the first "?" of
	// the text and the first after each "#" start one. Before the last
	// "@", it may be the user information's and the host's.
	for from := 0; from < len(s); {
		seg := len(s)
		if f := strings.IndexByte(s[from+1:], '#'); f >= 0 {
			seg = from + 1 + f
		}
		if q := strings.IndexByte(s[from:seg], '?'); q >= 0 {
			orMask(mask[from+q:], queryMask(s[from+q:], from+q > at))
		}
		if at >= from && at < seg {
			if q := strings.IndexByte(s[at+1:seg], '?'); q >= 0 {
				orMask(mask[at+1+q:], queryMask(s[at+1+q:], true))
			}
		}
		from = seg
	}
	return maskRuns(s, mask, insert)
}

// orMask marks in dst what src marks.
func orMask(dst, src []bool) {
	for i, m := range src {
		dst[i] = dst[i] || m
	}
}

// userInfo returns the span of s to hide as the secret of the user
// information ending at at, the last "@": from after the scheme (and its
// slashes), past the user name when a ":" follows it.
func userInfo(s string, at int) (start, end int) {
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		start = i + 3
	} else if i := strings.IndexByte(s, ':'); i >= 0 && i < at {
		start = i + 1
		for start < at && s[start] == '/' {
			start++
		}
	}
	if user, _, ok := strings.Cut(s[start:at], ":"); ok {
		start += len(user) + 1
	}
	return start, at
}

// queryMask marks the bytes of q, "?" and a query string up to a
// fragment's "#", to hide: each parameter's value and, with query (q is
// a query string, not maybe user information and host), each parameter
// without "=" or whose name holds an "@" whole. "&" and ";" separate the
// parameters.
func queryMask(q string, query bool) []bool {
	end := len(q)
	if f := strings.IndexByte(q[1:], '#'); f >= 0 {
		end = 1 + f
	}
	mask := make([]bool, len(q))
	param := func(from, to int) {
		name, _, ok := strings.Cut(q[from:to], "=")
		switch {
		case !ok && !query:
			return
		case !ok || query && strings.Contains(name, "@"):
			// whole
		default:
			from += len(name) + 1
		}
		for i := from; i < to; i++ {
			mask[i] = true
		}
	}
	start := 1
	for i := 1; i <= end; i++ {
		if i == end || q[i] == '&' || q[i] == ';' {
			param(start, i)
			start = i + 1
		}
	}
	return mask
}

// maskRuns returns s with each run of bytes mask marks replaced by
// "xxxxx", and "xxxxx" inserted at insert (-1: nowhere).
func maskRuns(s string, mask []bool, insert int) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i <= len(s); {
		if i == insert && (i == len(s) || !mask[i]) {
			b.WriteString(hidden)
		}
		if i == len(s) {
			break
		}
		if !mask[i] {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteString(hidden)
		for i < len(s) && mask[i] {
			i++
		}
	}
	return b.String()
}
