package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/omen-sre/omen/store"
)

// TestRunStoreInUse starts omen run on a store another process holds: it
// fails (exit 1) saying so, naming the store, where Badger said only
// "Cannot acquire directory lock ... Another process is using this Badger
// database" (omen model and train said it well already), and before it
// started the embedded NATS server.
func TestRunStoreInUse(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var out, errb bytes.Buffer
	rc := dispatch([]string{"run", "--storage.path", dir, "--web.listen-address", "127.0.0.1:0",
		"--nats.listen-address", "127.0.0.1:0"}, &out, &errb)
	want := strconv.Quote(filepath.Join(dir, "badger")) + ": in use by another process: another omen holds it"
	if rc != 1 || !strings.Contains(strings.ReplaceAll(errb.String(), `\"`, `"`), want) || strings.Contains(errb.String(), "Badger database") {
		t.Errorf("omen run on a held store: exit %d, stderr %q; want 1 with %q", rc, errb.String(), want)
	}
	// It failed before starting the embedded NATS server (its directory).
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 || entries[0].Name() != "badger" {
		t.Errorf("the storage path after omen run on a held store: %v, %v; want only badger", entries, err)
	}
}
