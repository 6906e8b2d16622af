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
		// Query strings: the values of secret-looking names hidden (a
		// token there leaked into the poller's source label, logs, errors
		// and trained_on), the others kept (a prom-label-proxy's
		// ?namespace= tells two pollers' sources apart).
		{"http://p:9090?access_token=s3cret", "http://p:9090?access_token=xxxxx"},
		{"http://p:9090/prom/?tenant=a&access_token=s3cret;x=1#frag", "http://p:9090/prom/?tenant=a&access_token=xxxxx;x=1#frag"},
		{"http://plp:8080/?namespace=team-a", "http://plp:8080/?namespace=team-a"},
		{"http://p:9090/?t0ken&x=&=s3cret", "http://p:9090/?xxxxx&x=&=xxxxx"},
		{"http://omen:s3cret@p:9090/?token=s3cret", "http://omen:xxxxx@p:9090/?token=xxxxx"},
		{"http://t0ken@p:9090?token=s3cret", "http://xxxxx@p:9090?token=xxxxx"},
		{"http://omen:p@s3cret@p:9090?token=s3cret", "http://omen:xxxxx@p:9090?token=xxxxx"},
		{"omen:s3cret@p:9090?token=s3cret", "omen:xxxxx@p:9090?token=xxxxx"},
		{"http://p:9090/?email=a@b&token=s3cret", "http://p:9090/?email=a@b&token=xxxxx"},
		{"http://p:9090/?a@s3cret=1&b=2", "http://p:9090/?xxxxx&b=2"},
		{"http://p:9090/?target=http://u:s3cret@h", "http://p:9090/?target=xxxxx"},
		{"http://p:9090/#/graph?token=s3cret", "http://p:9090/#/graph?token=xxxxx"},
		{"http://p:9090/?next=?token=s3cret&a=b=c", "http://p:9090/?next=xxxxx&a=b=c"},
		// Each secret-looking name, without case, percent-decoded.
		{"http://p/?X-Amz-Signature=s3&sig=s3&api_key=s3&APIKEY=s3&PASSWORD=s3&passwd=s3&pass=s3&Authorization=s3", "http://p/?X-Amz-Signature=xxxxx&sig=xxxxx&api_key=xxxxx&APIKEY=xxxxx&PASSWORD=xxxxx&passwd=xxxxx&pass=xxxxx&Authorization=xxxxx"},
		{"http://p/?CLIENT_SECRET=s3&credentials=s3&session_id=s3&jwt=s3&bearer=s3&code=s3&%74oken=s3", "http://p/?CLIENT_SECRET=xxxxx&credentials=xxxxx&session_id=xxxxx&jwt=xxxxx&bearer=xxxxx&code=xxxxx&%74oken=xxxxx"},
		// An "@" in the query does not end the user information: the
		// lone user (a token) was shown and the host lost,
		// http://tok@prom:xxxxx and http://u:xxxxx.
		{"http://t0ken@prom:9090/?user=ops@corp.com", "http://xxxxx@prom:9090/?user=ops@corp.com"},
		{"http://u:s3cret@prom:9090/p?user=ops@corp.com", "http://u:xxxxx@prom:9090/p?user=ops@corp.com"},
		{"http://u:s3cret@prom:9090/p?user=ops@corp.com&token=s3cret", "http://u:xxxxx@prom:9090/p?user=ops@corp.com&token=xxxxx"},
		{"http://@prom:9090/?user=ops@corp.com", "http://xxxxx@prom:9090/?user=ops@corp.com"},
		{"http://u:@prom:9090/?user=ops@corp.com", "http://u:xxxxx@prom:9090/?user=ops@corp.com"},
		// An "@" in the path: maybe user information, up to the last "@".
		{"http://omen:12/s3cret@am:9093", "http://omen:xxxxx@am:9093"},
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

// FuzzURLQuery: the value of a query parameter whose name holds "token"
// (or another of secretWords) never survives.
func FuzzURLQuery(f *testing.F) {
	f.Add("http://p:9090/prom", "access_", "&x=1")
	f.Add("http://u:p@h", "t", "#f")
	f.Add("http://u:p@h/p", "", "&user=ops@corp.com")
	f.Add("h", "", "")
	f.Fuzz(func(t *testing.T, prefix, name, rest string) {
		const secret = "Zq9secretZq9"
		if strings.Contains(prefix+name+rest, "Zq9") || strings.ContainsAny(prefix, "#") || strings.ContainsAny(name, "=&;#") {
			return
		}
		in := prefix + "?" + name + "token=" + secret + rest
		if got := URL(in); strings.Contains(got, secret) {
			t.Fatalf("URL(%q) = %q keeps the value", in, got)
		}
	})
}
