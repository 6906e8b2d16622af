package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://am:9093", "http://am:9093"},
		{"http://omen:s3cret@am:9093/api", "http://omen:xxxxx@am:9093/api"},
		{"http://t0ken@am:9093", "http://xxxxx@am:9093"},
		{"http://omen:p@s3cret@am:%zz", "http://omen:xxxxx@am:%zz"},
		{"http://omen:s3cret/x@am:9093", "http://omen:xxxxx@am:9093"},
		{"http://omen:s3?cret@am:9093", "http://omen:xxxxx@am:9093"},
		{"http://omen:s3#cret@am:9093", "http://omen:xxxxx@am:9093"},
		{"omen:s3cret@am:9093", "omen:xxxxx@am:9093"},
		{"http:omen:s3cret@am:9093", "http:omen:xxxxx@am:9093"},
		{"http:/omen:s3cret@am:9093", "http:/omen:xxxxx@am:9093"},
		{"htps://omen:s3cret@am:9093", "htps://omen:xxxxx@am:9093"},
		// Query strings: each value hidden (a token there leaked into
		// the poller's source label, logs, errors and trained_on).
		{"http://p:9090?access_token=s3cret", "http://p:9090?access_token=xxxxx"},
		{"http://p:9090/prom/?tenant=a&access_token=s3cret;x=cret#frag", "http://p:9090/prom/?tenant=xxxxx&access_token=xxxxx;x=xxxxx#frag"},
		{"http://p:9090/?t0ken&x=&=s3cret", "http://p:9090/?xxxxx&x=&=xxxxx"},
		{"http://omen:s3cret@p:9090/?token=s3cret", "http://omen:xxxxx@p:9090/?token=xxxxx"},
		{"http://t0ken@p:9090?token=s3cret", "http://xxxxx@p:9090?token=xxxxx"},
		{"http://omen:p@s3cret@p:9090?token=s3cret", "http://omen:xxxxx@p:9090?token=xxxxx"},
		{"omen:s3cret@p:9090?token=s3cret", "omen:xxxxx@p:9090?token=xxxxx"},
		{"http://p:9090/?email=a@b&token=s3cret", "http://p:9090/?email=xxxxx&token=xxxxx"},
		{"http://p:9090/?a@s3cret=1&b=2", "http://p:9090/?xxxxx&b=xxxxx"},
	} {
		got := URL(tc.in)
		if got != tc.want || strings.Contains(got, "s3") || strings.Contains(got, "cret") || strings.Contains(got, "t0ken") {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzURL: a password placed in any URL-like text never survives.
func FuzzURL(f *testing.F) {
	f.Add("http://", "omen", "am:9093/x")
	f.Add("", "u", "h")
	f.Fuzz(func(t *testing.T, prefix, user, rest string) {
		const secret = "Zq9secretZq9"
		if strings.Contains(prefix+user+rest, "Zq9") || strings.Contains(user, ":") {
			return
		}
		in := prefix + user + ":" + secret + "@" + rest
		if strings.Contains(rest, "@") {
			return // the last "@" is then in rest: its own, not our secret's
		}
		if got := URL(in); strings.Contains(got, secret) {
			t.Fatalf("URL(%q) = %q keeps the password", in, got)
		}
	})
}

// FuzzURLQuery: a query parameter's value never survives.
func FuzzURLQuery(f *testing.F) {
	f.Add("http://p:9090/prom", "access_token", "&x=1")
	f.Add("http://u:p@h", "t", "#f")
	f.Add("h", "", "")
	f.Fuzz(func(t *testing.T, prefix, name, rest string) {
		const secret = "Zq9secretZq9"
		if strings.Contains(prefix+name+rest, "Zq9") || strings.ContainsAny(prefix, "#") || strings.ContainsAny(name, "=&;#") {
			return
		}
		in := prefix + "?" + name + "=" + secret + rest
		if got := URL(in); strings.Contains(got, secret) {
			t.Fatalf("URL(%q) = %q keeps the value", in, got)
		}
	})
}
