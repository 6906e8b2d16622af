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
