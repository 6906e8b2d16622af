package api_test

import (
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
)

// TestCheckListenAddress: an address that is not host:port is reported as
// such, with or without a token (it used to be reported as "not a loopback
// address: a token is required", hiding the cause); a good non-loopback
// address needs a token.
func TestCheckListenAddress(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		token bool
		want  string // "" = accepted
	}{
		{"127.0.0.1:9464", false, ""},
		{"localhost:0", false, ""},
		{"[::1]:9464", false, ""},
		{"127.0.0.1:http", false, ""},
		{":9464", true, ""},
		{"0.0.0.0:9464", true, ""},
		{":9464", false, "not a loopback address: a token is required"},
		{"10.0.0.1:9464", false, "not a loopback address: a token is required"},
		{"bogus", false, `listen address "bogus": address bogus: missing port in address`},
		{"bogus", true, `listen address "bogus": address bogus: missing port in address`},
		{"localhost", false, "missing port in address"},
		{"::1", false, "too many colons"},
		{"127.0.0.1:65536", false, "invalid port"},
		{"127.0.0.1:-1", true, "invalid port"},
		{"0.0.0.0:nosuchservice", true, "unknown port"},
		{"", false, "missing port in address"},
	} {
		err := api.CheckListenAddress(tc.addr, tc.token)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckListenAddress(%q, token %v) = %v, want nil", tc.addr, tc.token, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckListenAddress(%q, token %v) = %v, want an error containing %q", tc.addr, tc.token, err, tc.want)
		case tc.want != "" && !strings.Contains(tc.want, "loopback") && strings.Contains(err.Error(), "loopback"):
			t.Errorf("CheckListenAddress(%q, token %v) = %v: a malformed address is reported as not loopback", tc.addr, tc.token, err)
		}
	}
}
