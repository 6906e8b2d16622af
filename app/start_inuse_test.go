package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/omen-sre/omen/store"
)

// TestStartStoreInUse: Start on a store another process holds fails on
// the store (store.ErrInUse) before anything else starts: the web and
// NATS ports, taken here, are not reached (their errors would come
// first), the storage path holds no NATS directory, and the runtime
// settings (runtime.gogc) are restored (they stayed set in the process).
func TestStartStoreInUse(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	taken := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		return ln.Addr().String()
	}
	const gogc = 37
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	cfg := testConfig(t)
	cfg.Runtime.GOGC = gogc
	a, err := New(Options{Config: cfg, ListenAddress: taken(), NATSListenAddress: taken(), StoragePath: dir,
		ShutdownTimeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Start(context.Background())
	if err == nil {
		_ = a.Stop(context.Background())
		t.Fatal("start on a store another process holds succeeded")
	}
	if !errors.Is(err, store.ErrInUse) {
		t.Errorf("start on a held store: %v; want the store's in-use error", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "badger" {
			t.Errorf("the storage path holds %q after the failed start, want only badger", e.Name())
		}
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC %d after the failed start, want 100 (restored, not runtime.gogc %d)", got, gogc)
	}
}
