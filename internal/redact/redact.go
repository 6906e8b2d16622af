package redact

import (
	"net/url"
	"strings"
)

// URL returns s with its secrets replaced by "xxxxx": the secret of its
// user information, http://user:xxxxx@host, or http://xxxxx@host for a
// lone user name (which may be a token), and in its query string the
// values of the parameters whose names look secret (see secretWords:
// ?access_token=xxxxx&namespace=team-a), a parameter without "=" or
// whose name holds an "@" whole (it may be a token), and a value holding
// a secret-named parameter of its own (?next=?token=…) or an "@" after a
// ":" (user:password@host). The other values stay: two URLs
// differing only there (a proxy's tenant: ?namespace=team-a and
// ?namespace=team-b) read differently. The fragment is left as it is, but
// for a query string in it (http://h/#/x?token=xxxxx).
//
// When s parses as a URL with a host and its "@" are all in the user
// information or the query string, the user information is the parse's
// (?user=ops@corp.com does not end it). It also covers text that does not
// parse as a URL, or that parses with the credentials outside the user
// information (a forgotten scheme, "user:pass@host", "http:user:pass@host",
// or an "@" in the path or the fragment): then everything from after the
// scheme to the last "@" counts as user information, so a password holding
// "@", "/", "?" or "#" is hidden too, and the query starts at the first
// "?" after it; as a "?" before the last "@" may start the query too, the
// value of every parameter that follows it is hidden as well. A URL with
// neither "@" nor "?" is returned unchanged.
func URL(s string) string {
	if mask, insert, ok := parsedMask(s); ok {
		return maskRuns(s, mask, insert)
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
	// The query after the user information, as a query; one a "?" before
	// the last "@" may start, every value.
	if q := strings.IndexByte(s[at+1:], '?'); q >= 0 {
		orMask(mask[at+1+q:], queryMask(s[at+1+q:], true))
	}
	if first >= 0 && first < at {
		orMask(mask[first:], queryMask(s[first:], false))
	}
	return maskRuns(s, mask, insert)
}

// secretWords are the parts of a query parameter's name, compared without
// case, as written or percent-decoded, that make its value a secret.
var secretWords = [...]string{
	"token", "secret", "password", "passwd", "pass", "key", "auth", "sig", "signature",
	"credential", "session", "jwt", "bearer", "code",
}

// secretName reports whether a query parameter named name (as written)
// holds a secret: its name is empty or contains one of secretWords.
func secretName(name string) bool {
	if name == "" {
		return true
	}
	names := []string{strings.ToLower(name)}
	if d, err := url.QueryUnescape(name); err == nil {
		names = append(names, strings.ToLower(d))
	}
	for _, n := range names {
		for _, w := range secretWords {
			if strings.Contains(n, w) {
				return true
			}
		}
	}
	return false
}

// parsedMask returns the bytes of s to hide and where to insert "xxxxx"
// (see maskRuns) when s parses as a URL with a host, its authority after
// "scheme://", and every "@" after the authority within the query string:
// the user information is then the parse's. ok is false otherwise.
func parsedMask(s string) (mask []bool, insert int, ok bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || !strings.HasPrefix(s[len(u.Scheme):], "://") {
		return nil, -1, false
	}
	// As url.Parse splits s: the fragment at the first "#", the query at
	// the first "?" before it, the authority up to the first "/" before.
	frag := len(s)
	if f := strings.IndexByte(s, '#'); f >= 0 {
		frag = f
	}
	query := frag
	if q := strings.IndexByte(s[:frag], '?'); q >= 0 {
		query = q
	}
	authStart := len(u.Scheme) + 3
	authEnd := query
	if i := strings.IndexByte(s[authStart:query], '/'); i >= 0 {
		authEnd = authStart + i
	}
	if strings.IndexByte(s[authEnd:query], '@') >= 0 || strings.IndexByte(s[frag:], '@') >= 0 {
		return nil, -1, false // user information in the path or fragment, maybe
	}
	mask, insert = make([]bool, len(s)), -1
	if at := strings.LastIndexByte(s[authStart:authEnd], '@'); at >= 0 {
		start, end := authStart, authStart+at
		if user, _, found := strings.Cut(s[start:end], ":"); found {
			start += len(user) + 1
		}
		if start == end {
			insert = start
		}
		for i := start; i < end; i++ {
			mask[i] = true
		}
	}
	if query < frag {
		orMask(mask[query:], queryMask(s[query:], true))
	}
	if q := strings.IndexByte(s[frag:], '?'); q >= 0 {
		orMask(mask[frag+q:], queryMask(s[frag+q:], true))
	}
	return mask, insert, true
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
// fragment's "#", to hide. With query (q is a URL's query string): each
// parameter without "=" or whose name holds an "@", whole, and the value
// of each parameter whose name looks secret (secretName) or whose value
// holds one (nestedSecret) or an "@" after a ":" (user:password@host);
// without (q may be user
// information), each parameter's value. "&" and ";" separate the
// parameters.
func queryMask(q string, query bool) []bool {
	end := len(q)
	if f := strings.IndexByte(q, '#'); f >= 0 {
		end = f
	}
	mask := make([]bool, len(q))
	param := func(from, to int) {
		name, value, ok := strings.Cut(q[from:to], "=")
		switch {
		case !ok && !query:
			return
		case !ok || query && strings.Contains(name, "@"):
			// whole
		case !query || secretName(name) || nestedSecret(value) || userPassword(value):
			from += len(name) + 1
		default:
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

// nestedSecret reports whether v, a query parameter's value, holds a
// parameter of its own whose name looks secret (?next=?token=…): the text
// before its last "=" does (secretName).
func nestedSecret(v string) bool {
	eq := strings.LastIndexByte(v, '=')
	return eq >= 0 && secretName(v[:eq])
}

// userPassword reports whether v holds an "@" after a ":", as
// user:password@host does.
func userPassword(v string) bool {
	at := strings.LastIndexByte(v, '@')
	return at > 0 && strings.IndexByte(v[:at], ':') >= 0
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
