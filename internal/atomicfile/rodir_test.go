package atomicfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWriteFileInReadOnlyDir: a file the user may write, in a directory
// it may not create files in (a configuration directory, a mounted file),
// is written in place, as os.WriteFile did: Write failed, after omen
// train had trained, and the model was lost (reviewer's finding). As
// root the write runs in a child with uid 65534.
func TestWriteFileInReadOnlyDir(t *testing.T) {
	if p := os.Getenv("OMEN_ATOMICFILE_RO_FILE"); p != "" {
		if err := Write(p, []byte("new model"), 0o644); err != nil {
			t.Fatalf("Write: %v", err)
		}
		return
	}
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "ro")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "model.omen")
	if err := os.WriteFile(f, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriteFileInReadOnlyDir$", "-test.count=1")
	cmd.Env = append(os.Environ(), "OMEN_ATOMICFILE_RO_FILE="+f)
	if os.Getuid() == 0 {
		if err := os.Chown(f, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(filepath.Dir(base), 0o755)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		// The test binary must be reachable by uid 65534.
		bin := filepath.Join(base, "t.test")
		data, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd.Path, cmd.Args[0] = bin, bin
	} else if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	got, _ := os.ReadFile(f)
	if err != nil || string(got) != "new model" {
		t.Fatalf("writing a writable file in a read-only directory: %v\n%s\nfile holds %q, want %q (os.WriteFile wrote it)", err, out, got, "new model")
	}
}
