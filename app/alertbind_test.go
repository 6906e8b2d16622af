package app

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestAlertLinksBoundPort: without alerting.external_url, the alerts'
// links name the port the HTTP listener is bound to, not the configured
// port 0 (a reviewer found http://127.0.0.1:0/api/v1/explanations/… in
// the demo); a reload keeps them there, and an external URL set by a
// reload wins.
func TestAlertLinksBoundPort(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "omen.yml")
	write := func(alerting string) {
		if err := os.WriteFile(cfgFile, []byte(testConfigYAML+alerting), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.Config, o.ConfigFile = nil, cfgFile
		o.ListenAddress = "127.0.0.1:0"
	})
	want := "http://" + a.Addr()
	if got := a.alerts.m.ExternalURL(); got != want {
		t.Fatalf("external URL %q, want %q (the bound address)", got, want)
	}
	write("alerting:\n  for: 1\n")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := a.alerts.m.ExternalURL(); got != want {
		t.Fatalf("external URL after a reload %q, want %q", got, want)
	}
	write("alerting:\n  external_url: https://omen.example.org/\n")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := a.alerts.m.ExternalURL(); got != "https://omen.example.org" {
		t.Fatalf("external URL after a reload setting it %q", got)
	}
}

// TestBoundAddressKeepsHost: the links name the configured host (a name,
// not the address the listener resolved it to) with the bound port.
func TestBoundAddressKeepsHost(t *testing.T) {
	a := startApp(t, t.TempDir(), func(o *Options) { o.ListenAddress = "localhost:0" })
	_, port, err := net.SplitHostPort(a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.alerts.m.ExternalURL(), "http://localhost:"+port; got != want {
		t.Fatalf("external URL %q, want %q (the configured host, the bound port)", got, want)
	}
	for _, tc := range []struct{ configured, bound, want string }{
		{"omen.corp:9464", "10.0.0.7:9464", "omen.corp:9464"},
		{":0", "[::]:41234", ":41234"},
		{"bad", "127.0.0.1:5", "127.0.0.1:5"},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tc.bound)
		if err != nil {
			t.Fatal(err)
		}
		if got := boundAddress(tc.configured, addr); got != tc.want {
			t.Errorf("boundAddress(%q, %s) = %q, want %q", tc.configured, tc.bound, got, tc.want)
		}
	}
}
