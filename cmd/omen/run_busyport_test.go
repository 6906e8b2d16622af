package main

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestBusyPortHints: omen run and omen demo on a port another process
// holds fail (exit 1) naming the flag that moves the listener: the web
// listener's --web.listen-address, the embedded NATS server's
// --nats.listen-address and --nats.url (a running server). They said only
// "listen: bind: address already in use".
func TestBusyPortHints(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	busy := ln.Addr().String()
	for _, tc := range []struct {
		name, web, nats string
		want, notWant   []string
	}{
		{"web", busy, "127.0.0.1:0", []string{"address already in use", "another process listens on " + busy, "give another --web.listen-address"}, []string{"--nats"}},
		{"nats", "127.0.0.1:0", busy, []string{"address already in use", "another process listens on " + busy,
			"give the embedded NATS server another --nats.listen-address", "use a running NATS server with --nats.url"}, []string{"--web.listen-address"}},
	} {
		for _, cmd := range []string{"run", "demo"} {
			t.Run(cmd+" "+tc.name, func(t *testing.T) {
				args := []string{cmd, "--web.listen-address", tc.web, "--nats.listen-address", tc.nats}
				if cmd == "run" {
					args = append(args, "--storage.path", filepath.Join(t.TempDir(), "data"))
				}
				var out, errb bytes.Buffer
				if rc := dispatch(args, &out, &errb); rc != 1 {
					t.Errorf("exit %d, want 1; stderr:\n%s", rc, errb.String())
				}
				for _, w := range tc.want {
					if !strings.Contains(errb.String(), w) {
						t.Errorf("stderr lacks %q:\n%s", w, errb.String())
					}
				}
				for _, w := range tc.notWant {
					if strings.Contains(errb.String(), w) {
						t.Errorf("stderr has %q:\n%s", w, errb.String())
					}
				}
			})
		}
	}
}

// TestNATSURLHint: omen demo with a --nats.url nothing answers at fails
// saying to check the server or leave --nats.url out (the embedded
// server); it said only "nats: no servers available for connection".
// omen run no longer fails there: it starts and connects in the
// background (app's TestExternalNATSLate).
func TestNATSURLHint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	tests := []struct {
		name, url, shown string
	}{
		{name: "no credentials", url: "nats://" + addr, shown: "nats://" + addr},
		// The hint quoted the URL as given: the password in clear text.
		{name: "password", url: "nats://alice:Sup3rSecret@" + addr, shown: "nats://alice:xxxxx@" + addr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"demo", "--web.listen-address", "127.0.0.1:0", "--nats.url", tc.url}
			var out, errb bytes.Buffer
			rc := dispatch(args, &out, &errb)
			want := "is the NATS server at --nats.url " + tc.shown + " running and reachable? leave --nats.url out to start the embedded one"
			if rc != 1 || !strings.Contains(errb.String(), want) {
				t.Errorf("demo: exit %d, stderr:\n%s\nwant 1 with %q", rc, errb.String(), want)
			}
			if strings.Contains(errb.String()+out.String(), "Sup3rSecret") {
				t.Errorf("the password is shown:\n%s%s", out.String(), errb.String())
			}
		})
	}
}
