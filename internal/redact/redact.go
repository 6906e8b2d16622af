package redact

import (
	"net/url"
	"strings"
)

// URL returns s with its secrets replaced by "xxxxx": the secret of its
// user information, http://user:xxxxx@host, or http://xxxxx@host for a
// lone user name (which may be a token), and the values of its query
// string, ?access_token=xxxxx&tenant=xxxxx (a parameter without a value
// is hidden whole: it may be a token). The fragment is left as it is.
//
// It also covers text that does not parse as a URL, or that parses with
// the credentials outside the user information (a forgotten scheme,
// "user:pass@host", or "http:user:pass@host"): then everything from after
// the scheme to the last "@" counts as user information, so a password
// holding "@", "/", "?" or "#" is hidden too, and the query starts at the
// first "?" after it; as a "?" before the last "@" may start the query
// too, the values of the parameters that follow it are hidden as well. A
// URL that parses with its "@" only in its query string (?email=a@b) has
// no user information. A URL with neither "@" nor "?" is returned
// unchanged.
func URL(s string) string {
	if q, ok := queryOnlyAt(s); ok {
		return s[:q] + maskRuns(s[q:], queryMask(s[q:], true), -1)
	}
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
	// The query after the user information, whole; one a "?" before the
	// last "@" may start, its values.
	if q := strings.IndexByte(s[at+1:], '?'); q >= 0 {
		for i, m := range queryMask(s[at+1+q:], true) {
			mask[at+1+q+i] = mask[at+1+q+i] || m
		}
	}
	if first >= 0 && first < at {
		for i, m := range queryMask(s[first:], false) {
			mask[first+i] = mask[first+i] || m
		}
	}
	return maskRuns(s, mask, insert)
}

// queryOnlyAt returns the index of the "?" starting the query string of
// s when s parses as a URL with a host, no user information, and every
// "@" of s within that query string.
func queryOnlyAt(s string) (int, bool) {
	first, last := strings.IndexByte(s, '@'), strings.LastIndexByte(s, '@')
	q := strings.IndexByte(s, '?')
	if first < 0 || q < 0 || q > first || strings.IndexByte(s[:q], '#') >= 0 {
		return 0, false
	}
	if f := strings.IndexByte(s[q:], '#'); f >= 0 && q+f < last {
		return 0, false
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return 0, false
	}
	return q, true
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
// fragment's "#", to hide: each parameter's value and, with bare, each
// parameter without "=" or whose name holds an "@", whole. "&" and ";"
// separate the parameters.
func queryMask(q string, bare bool) []bool {
	end := len(q)
	if f := strings.IndexByte(q, '#'); f >= 0 {
		end = f
	}
	mask := make([]bool, len(q))
	param := func(from, to int) {
		name, _, ok := strings.Cut(q[from:to], "=")
		if ok && (!bare || !strings.Contains(name, "@")) {
			from += len(name) + 1
		} else if !bare {
			return
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
			b.WriteString("xxxxx")
		}
		if i == len(s) {
			break
		}
		if !mask[i] {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteString("xxxxx")
		for i < len(s) && mask[i] {
			i++
		}
	}
	return b.String()
}
