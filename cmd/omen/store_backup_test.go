package main

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// noFile fails the test when path or its temporary files exist.
func noFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (%v): a failed command left it", path, err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"*")); len(tmps) > 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
}

// TestStoreBackupRestoreOffline: omen store backup of a stopped omen's
// store, then omen store restore into a new storage path, which omen
// store verify finds intact and which holds the model; a restore into a
// path holding a store, and of a backup cut short, are refused (exit 1,
// nothing made); a store an omen holds is refused with verify's
// message.
func TestStoreBackupRestoreOffline(t *testing.T) {
	path, _ := writeStore(t)
	file := filepath.Join(t.TempDir(), "omen.backup")
	rc, out, errs := omen(t, "store", "backup", "--storage.path", path, "--out", file)
	if rc != 0 || !strings.Contains(out, "written to "+file) || !strings.Contains(out, "sha256 ") {
		t.Fatalf("backup = %d, %q, %q", rc, out, errs)
	}
	restored := filepath.Join(t.TempDir(), "new", "data")
	if rc, out, errs := omen(t, "store", "restore", "--in", file, "--storage.path", restored); rc != 0 || !strings.Contains(out, "start omen with --storage.path "+restored) {
		t.Fatalf("restore = %d, %q, %q", rc, out, errs)
	}
	if rc, out, errs := omen(t, "store", "verify", "--storage.path", restored); rc != 0 || !strings.Contains(out, "no damage found") {
		t.Fatalf("verify of the restored store = %d, %q, %q", rc, out, errs)
	}
	st, err := store.Open(store.Options{Path: filepath.Join(restored, "badger")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Model("m1"); err != nil {
		t.Errorf("restored store: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	if rc, _, errs := omen(t, "store", "restore", "--in", file, "--storage.path", restored); rc != 1 || !strings.Contains(errs, "restore only into a new or empty directory") {
		t.Errorf("restore over a store = %d, %q", rc, errs)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.backup")
	if err := os.WriteFile(cut, b[:len(b)*2/3], 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "fresh")
	if rc, _, errs := omen(t, "store", "restore", "--in", cut, "--storage.path", target); rc != 1 || !strings.Contains(errs, "cut short") || !strings.Contains(errs, "nothing was restored") {
		t.Errorf("restore of a backup cut short = %d, %q", rc, errs)
	}
	noFile(t, target)

	held, err := store.Open(store.Options{Path: filepath.Join(path, "badger")})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	other := filepath.Join(t.TempDir(), "held.backup")
	if rc, _, errs := omen(t, "store", "backup", "--storage.path", path, "--out", other); rc != 1 || !strings.Contains(errs, "in use by another omen process") || !strings.Contains(errs, "--url") {
		t.Errorf("backup of a store in use = %d, %q", rc, errs)
	}
	noFile(t, other)
}

// TestStoreBackupDaemon: omen store backup --url backs up a running
// daemon's store through its API; the backup restores into a store
// holding the daemon's active model.
func TestStoreBackupDaemon(t *testing.T) {
	a, url := startDaemon(t, t.TempDir())
	good := writeModelFile(t, a.FeatureNames(), "vgood")
	if rc, _, errs := omen(t, "model", "add", good, "--promote", "--url", url); rc != 0 {
		t.Fatalf("add = %d, %q", rc, errs)
	}
	file := filepath.Join(t.TempDir(), "daemon.backup")
	if rc, out, errs := omen(t, "store", "backup", "--url", url, "--out", file); rc != 0 || !strings.Contains(out, "backup of "+url) {
		t.Fatalf("backup --url = %d, %q, %q", rc, out, errs)
	}
	restored := t.TempDir()
	if rc, _, errs := omen(t, "store", "restore", "--in", file, "--storage.path", restored); rc != 0 {
		t.Fatalf("restore = %d, %q", rc, errs)
	}
	if rc, out, errs := omen(t, "model", "list", "--storage.path", restored); rc != 0 || !activeIs(out, "vgood") {
		t.Errorf("model list of the restored store = %d, %q, %q", rc, out, errs)
	}
}

// failingBackup writes the start of a real backup, then fails.
type failingBackup struct{ st *store.Store }

func (f failingBackup) Backup(ctx context.Context, w io.Writer, opts store.BackupOptions) (store.BackupInfo, error) {
	_, err := f.st.Backup(ctx, &cutWriter{w: w, left: 100}, opts)
	return store.BackupInfo{}, err
}

// cutWriter writes left bytes to w, then fails.
type cutWriter struct {
	w    io.Writer
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) > c.left {
		n, _ := c.w.Write(p[:c.left])
		c.left = 0
		return n, errors.New("value log damaged")
	}
	c.left -= len(p)
	return c.w.Write(p)
}

// TestStoreBackupURLFails: a backup the daemon fails mid-stream, and one
// refused (a wrong token), exit 1 and leave no file at --out.
func TestStoreBackupURLFails(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutModel("m1", []byte("model"), store.ModelMeta{}); err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Options{Backend: &api.MemBackend{}, Backup: failingBackup{st}, Token: "secret", ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "x.backup")
	if rc, _, errs := omen(t, "store", "backup", "--url", srv.URL, "--token-file", tok, "--out", file); rc != 1 || !strings.Contains(errs, "see the daemon's log") {
		t.Errorf("backup failing mid-stream = %d, %q", rc, errs)
	}
	noFile(t, file)
	if err := os.WriteFile(tok, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	if rc, _, errs := omen(t, "store", "backup", "--url", srv.URL, "--token-file", tok, "--out", file); rc != 1 || !strings.Contains(errs, "401") {
		t.Errorf("backup with a wrong token = %d, %q", rc, errs)
	}
	noFile(t, file)
}

// TestStoreBackupUsage: usage errors exit 2.
func TestStoreBackupUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"store", "backup"}, "--out FILE is required"},
		{[]string{"store", "backup", "--out", "f", "--url", "http://127.0.0.1:1", "--storage.path", "d"}, "not both"},
		{[]string{"store", "backup", "--out", "f", "--token-file", "t"}, "are for --url"},
		{[]string{"store", "backup", "--out", "f", "--tables-only"}, "--tables-only not a flag of backup"},
		{[]string{"store", "backup", "--out", "f", "--url", "http://127.0.0.1:1/api/v1"}, "--url"},
		{[]string{"store", "restore"}, "--in FILE is required"},
		{[]string{"store", "restore", "--in", "f", "--out", "g"}, "--out not a flag of restore"},
		{[]string{"store", "verify", "--in", "f"}, "--in not a flag of verify"},
	} {
		if rc, out, errs := omen(t, tc.args...); rc != 2 || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("omen %q = %d, %q, %q; want 2 with %q", tc.args, rc, out, errs, tc.want)
		}
	}
}
