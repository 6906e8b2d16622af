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
		// Query strings: every value hidden (a token there leaked into
		// the poller's source label, logs, errors and trained_on; a value
		// hidden by the look of its name only left pwd, sid, ticket, …
		// and percent-encoded nested secrets shown), a parameter without
		// "=" or whose name holds an "@" whole.
		{"http://p:9090?access_token=s3cret", "http://p:9090?access_token=xxxxx"},
		{"http://p:9090/prom/?tenant=a&access_token=s3cret;x=1#frag", "http://p:9090/prom/?tenant=xxxxx&access_token=xxxxx;x=xxxxx#frag"},
		{"http://plp:8080/?namespace=team-a", "http://plp:8080/?namespace=xxxxx"},
		{"http://p:9090/?t0ken&x=&=s3cret", "http://p:9090/?xxxxx&x=xxxxx&=xxxxx"},
		{"http://p:9090/?", "http://p:9090/?"},
		{"http://p:9090/?a=1&&b=2", "http://p:9090/?a=xxxxx&&b=xxxxx"},
		{"http://omen:s3cret@p:9090/?token=s3cret", "http://omen:xxxxx@p:9090/?token=xxxxx"},
		{"http://t0ken@p:9090?token=s3cret", "http://xxxxx@p:9090?token=xxxxx"},
		{"http://omen:p@s3cret@p:9090?token=s3cret", "http://omen:xxxxx@p:9090?token=xxxxx"},
		{"omen:s3cret@p:9090?token=s3cret", "omen:xxxxx@p:9090?token=xxxxx"},
		{"omen:s3cret@p:9090?a=b#/x?token=s3cret", "omen:xxxxx@p:9090?a=xxxxx#/x?token=xxxxx"},
		{"http://p:9090/?email=a@b&token=s3cret", "http://p:9090/?email=xxxxx&token=xxxxx"},
		{"http://p:9090/?a@s3cret=1&b=2", "http://p:9090/?xxxxx&b=xxxxx"},
		{"http://p:9090/?target=http://u:s3cret@h", "http://p:xxxxx"},
		{"http://p:9090/#/graph?token=s3cret", "http://p:9090/#/graph?token=xxxxx"},
		{"http://p:9090/?next=?token=s3cret&a=b=c", "http://p:9090/?next=xxxxx&a=xxxxx"},
		// The reviewer's: values whose names do not look secret.
		{"http://prom/?next=%2Flogin%3Ftoken%3Ds3cret", "http://prom/?next=xxxxx"},
		{"http://prom/?rd=https%3A%2F%2Fu%3As3cret%40h%2F", "http://prom/?rd=xxxxx"},
		{"http://prom/?user=admin&pwd=s3cret&pw=s3cret", "http://prom/?user=xxxxx&pwd=xxxxx&pw=xxxxx"},
		{"http://prom/?PHPSESSID=s3cret&sid=s3cret&creds=s3cret", "http://prom/?PHPSESSID=xxxxx&sid=xxxxx&creds=xxxxx"},
		{"http://h/?ticket=ST-s3cret&otp=s3cret&hash=s3cret", "http://h/?ticket=xxxxx&otp=xxxxx&hash=xxxxx"},
		{"http://h/?q=up?token%3Ds3cret", "http://h/?q=xxxxx"},
		{"http://h/?a=b#frag?x=s3cret", "http://h/?a=xxxxx#frag?x=xxxxx"},
		{"http://u:p%40s3cret@h/?a=b", "http://u:xxxxx@h/?a=xxxxx"},
		{"http://u:s3cret@[::1]:9090/?token=a", "http://u:xxxxx@[::1]:9090/?token=xxxxx"},
		// An "@" in the query does not end the user information: the
		// lone user (a token) was shown and the host lost,
		// http://tok@prom:xxxxx and http://u:xxxxx.
		{"http://t0ken@prom:9090/?user=ops@corp.com", "http://xxxxx@prom:9090/?user=xxxxx"},
		{"http://u:s3cret@prom:9090/p?user=ops@corp.com", "http://u:xxxxx@prom:9090/p?user=xxxxx"},
		{"http://u:s3cret@prom:9090/p?user=ops@corp.com&token=s3cret", "http://u:xxxxx@prom:9090/p?user=xxxxx&token=xxxxx"},
		{"http://@prom:9090/?user=ops@corp.com", "http://xxxxx@prom:9090/?user=xxxxx"},
		{"http://u:@prom:9090/?user=ops@corp.com", "http://u:xxxxx@prom:9090/?user=xxxxx"},
		// An "@" after the host, followed by a host: all before it is
		// hidden, as a token or password holding a "/" (url.Parse reads
		// its first part as the host); such URLs of two hosts show the
		// same (a poller's name tells them apart).
		{"http://prom-a/t@x/", "http://xxxxx@x/"},
		{"http://prom-b/t@x/", "http://xxxxx@x/"},
		{"http://u:s3cret@h1/x@y/", "http://u:xxxxx@h1/xxxxx@y/"},
		{"http://omen:12/s3cret@am:9093", "http://omen:xxxxx@am:9093"},
		{"http://eyJhbGci/Oi9zs3cret@prom:9090", "http://xxxxx@prom:9090"},
		{"nats://tok/s3cret@h:4222", "nats://xxxxx@h:4222"},
		// A token or password holding "/", "?" or "#", then an "@" and a
		// host: hidden whole (Go reads its first part as the host).
		{"http://s3cret/Zq9?x@prom:9090", "http://xxxxx@prom:9090"},
		{"http://s3cret#x@prom:9090/p", "http://xxxxx@prom:9090/p"},
		{"http://admin:98765/s3cret#x@prom:9090", "http://admin:xxxxx@prom:9090"},
		{"http://s3cret+AbC=/rest@prom:9090", "http://xxxxx@prom:9090"},
		{"http://tok?s3cret=x@prom:9090", "http://xxxxx"},
		{"nats://s3cret/Zq9#x@h:4222", "nats://xxxxx@h:4222"},
		{"http://admin:1234#s3cret@h:9090", "http://admin:xxxxx@h:9090"},
		// The host as written: an IPv6 zone's "%" stays escaped.
		{"http://[fe80::1%25en0]:9090/?t=s3cret", "http://[fe80::1%25en0]:9090/?t=xxxxx"},
		// Text that does not parse with a host: up to the last "@".
		{"http://omen:s3/cret@am:9093", "http://omen:xxxxx@am:9093"},
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
	f.Add("http://h/", "u", "x")
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

// FuzzURLQuery: no query parameter's value survives, whatever its name.
func FuzzURLQuery(f *testing.F) {
	f.Add("http://p:9090/prom", "access_token", "&x=1")
	f.Add("http://u:p@h", "t", "#f")
	f.Add("http://u:p@h/p", "", "&user=ops@corp.com")
	f.Add("http://h/#/graph", "namespace", "")
	f.Add("h", "", "")
	f.Fuzz(func(t *testing.T, prefix, name, rest string) {
		const secret = "Zq9secretZq9"
		if strings.Contains(prefix+name+rest, "Zq9") || strings.ContainsAny(name, "#") {
			return
		}
		in := prefix + "?" + name + "=" + secret + rest
		if got := URL(in); strings.Contains(got, secret) {
			t.Fatalf("URL(%q) = %q keeps the value", in, got)
		}
	})
}
