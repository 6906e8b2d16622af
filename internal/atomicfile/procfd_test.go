package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestWriteThroughProcFdLink: a path that is a symbolic link to
// /proc/self/fd/N for a pipe (what /dev/stdout is, and what bash's
// process substitution >(...) gives) is written into the pipe, as
// os.WriteFile did; Write replaced the link with a regular file, the
// pipe getting nothing (reviewer's finding).
func TestWriteThroughProcFdLink(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	link := filepath.Join(dir, "stdout") // stands in for /dev/stdout
	if err := os.Symlink("/proc/self/fd/"+strconv.Itoa(int(w.Fd())), link); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() { b, _ := io.ReadAll(r); got <- string(b) }()
	werr := Write(link, []byte("model"), 0o644)
	w.Close()
	fi, _ := os.Lstat(link)
	data := <-got
	t.Logf("Write err=%v; link mode after=%v; pipe received %q", werr, fi.Mode(), data)
	if data != "model" {
		t.Fatalf("the pipe received %q, want %q; %s is now %v", data, "model", link, fi.Mode())
	}
}
