package app

import (
	"strings"
	"testing"
	"time"
)

// TestNewRefusesUnsafeOptions: New (which opens nothing) refuses an
// embedded NATS server on a non-loopback address (it has no
// authentication) and a retention under MinRetention (it deleted live
// entities from the store's index), for every caller of the package (omen
// run and omen demo check the flags first).
func TestNewRefusesUnsafeOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string // "" accepted
	}{
		{"nats 0.0.0.0", Options{NATSListenAddress: "0.0.0.0:0"}, "--nats.url"},
		{"nats every interface", Options{NATSListenAddress: ":0"}, "--nats.url"},
		{"nats [::]", Options{NATSListenAddress: "[::]:0"}, "--nats.url"},
		{"nats other address", Options{NATSListenAddress: "192.0.2.1:0"}, "--nats.url"},
		{"nats loopback", Options{NATSListenAddress: "127.0.0.1:0"}, ""},
		{"nats localhost", Options{NATSListenAddress: "localhost:0"}, ""},
		{"nats [::1]", Options{NATSListenAddress: "[::1]:0"}, ""},
		{"external nats", Options{NATSListenAddress: "0.0.0.0:0", NATSURL: "nats://127.0.0.1:1"}, ""},
		{"retention 1m", Options{Retention: time.Minute}, "minimum"},
		{"retention 20m", Options{Retention: 20 * time.Minute}, "minimum"},
		{"negative retention", Options{Retention: -time.Hour}, "minimum"},
		{"retention 1h", Options{Retention: time.Hour}, ""},
		{"default retention", Options{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.StoragePath = t.TempDir()
			tc.o.ListenAddress = "127.0.0.1:0"
			_, err := New(tc.o)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && err == nil:
				t.Fatal("New: accepted")
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("New: %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
