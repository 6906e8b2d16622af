package natsembed

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestStartPublishRestart(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	srv, err := Start(Options{ListenAddress: "127.0.0.1:0", StoreDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	url := srv.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("ClientURL = %q", url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	publish := func(url string) uint64 {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, "t.x", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	if n := publish(url); n != 1 {
		t.Fatalf("messages after first publish = %d, want 1", n)
	}
	srv.Shutdown()
	srv.Shutdown() // idempotent

	// The file store survives a restart on the same directory.
	srv2, err := Start(Options{ListenAddress: ":0", StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Shutdown()
	if n := publish(srv2.ClientURL()); n != 2 {
		t.Fatalf("messages after restart = %d, want 2", n)
	}
}

func TestStartValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"no store dir", Options{ListenAddress: "127.0.0.1:0"}},
		{"bad address", Options{ListenAddress: "nope", StoreDir: t.TempDir()}},
		{"bad port", Options{ListenAddress: "127.0.0.1:99999", StoreDir: t.TempDir()}},
		{"bad max memory", Options{ListenAddress: "127.0.0.1:0", StoreDir: t.TempDir(), MaxMemory: -2}},
		{"bad max store", Options{ListenAddress: "127.0.0.1:0", StoreDir: t.TempDir(), MaxStore: -2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if srv, err := Start(tc.opts); err == nil {
				srv.Shutdown()
				t.Fatal("Start succeeded, want error")
			}
		})
	}
}

// TestStartBusyPort: a listen address in use fails at once with the bind
// error (it used to wait ReadyTimeout and report "not ready"), and the
// error does not repeat what the caller's wrapping says.
func TestStartBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t0 := time.Now()
	srv, err := Start(Options{ListenAddress: ln.Addr().String(), StoreDir: t.TempDir(), ReadyTimeout: 5 * time.Second})
	if err == nil {
		srv.Shutdown()
		t.Fatal("Start succeeded on a busy port")
	}
	if !strings.Contains(err.Error(), "address already in use") || strings.Contains(err.Error(), "embedded nats") || time.Since(t0) > 2*time.Second {
		t.Errorf("error %q after %v; want the bind error at once, without repeated context", err, time.Since(t0))
	}
}

// TestMaxMemory: a memory-storage stream larger than MaxMemory is refused.
func TestMaxMemory(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv, err := Start(Options{ListenAddress: "127.0.0.1:0", StoreDir: t.TempDir(), MaxMemory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := jetstream.StreamConfig{Name: "M", Subjects: []string{"m.>"}, Storage: jetstream.MemoryStorage, MaxBytes: 4 << 20}
	if _, err := js.CreateStream(ctx, cfg); err == nil {
		t.Fatal("a 4 MiB memory stream was accepted with MaxMemory 1 MiB")
	}
	cfg.MaxBytes = 512 << 10
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatalf("a 512 KiB memory stream: %v", err)
	}
}
