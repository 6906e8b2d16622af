package app

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestParseMapsLine(t *testing.T) {
	for _, tc := range []struct {
		line       string
		start, end uintptr
		path       string
		ok         bool
	}{
		{"7f1c2a000000-7f1c2b000000 rw-s 00000000 fd:01 1234    /data/badger/000001.sst", 0x7f1c2a000000, 0x7f1c2b000000, "/data/badger/000001.sst", true},
		{"7f1c2a000000-7f1c2a001000 r--s 00000000 fd:01 99 /tmp/a dir/000002.vlog (deleted)", 0x7f1c2a000000, 0x7f1c2a001000, "/tmp/a dir/000002.vlog (deleted)", true},
		{"c000000000-c004000000 rw-p 00000000 00:00 0 ", 0xc000000000, 0xc004000000, "", true},
		{"7ffd1000-7ffd2000 rw-p 00000000 00:00 0                          [stack]", 0x7ffd1000, 0x7ffd2000, "[stack]", true},
		{"zz-7ffd2000 rw-p 00000000 00:00 0", 0, 0, "", false},
		{"7ffd2000-7ffd1000 rw-p 00000000 00:00 0", 0, 0, "", false},
		{"", 0, 0, "", false},
	} {
		s, e, p, ok := parseMapsLine(tc.line)
		if ok != tc.ok || s != tc.start || e != tc.end || p != tc.path {
			t.Errorf("parseMapsLine(%q) = %#x, %#x, %q, %v; want %#x, %#x, %q, %v", tc.line, s, e, p, ok, tc.start, tc.end, tc.path, tc.ok)
		}
	}
}

// TestPageOutFiles maps files and writes them through the maps, one
// synced and one left dirty, pages out the directory's mappings and checks
// that the synced pages left memory, every content is intact, and a
// mapping of another directory was not touched.
func TestPageOutFiles(t *testing.T) {
	if err := pageOutSupported(); err != nil {
		t.Fatal(err)
	}
	// On one CPU throughout: the kernel moves only the calling CPU's
	// batch of newly faulted pages onto the lists it reclaims from.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpus unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cpus); err != nil {
		t.Fatal(err)
	}
	var one unix.CPUSet
	for c := range 1024 {
		if cpus.IsSet(c) {
			one.Set(c)
			break
		}
	}
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &cpus) //nolint:errcheck // restoring
	const pages = 64
	ps := os.Getpagesize()
	mapFile := func(dir, name string) []byte {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(int64(pages * ps)); err != nil {
			t.Fatal(err)
		}
		b, err := unix.Mmap(int(f.Fd()), 0, pages*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unix.Munmap(b) })
		for i := range b {
			b[i] = byte(i*7 + len(name))
		}
		return b
	}
	resident := func(b []byte) int {
		t.Helper()
		vec := make([]byte, len(b)/ps)
		if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
			t.Fatal(e)
		}
		n := 0
		for _, v := range vec {
			n += int(v & 1)
		}
		return n
	}
	dir, other := t.TempDir(), t.TempDir()
	clean, dirty, o := mapFile(dir, "000001.sst"), mapFile(dir, "000002.vlog"), mapFile(other, "000001.sst")
	want := [][]byte{bytes.Clone(clean), bytes.Clone(dirty), bytes.Clone(o)}
	for _, b := range [][]byte{clean, o} {
		if err := unix.Msync(b, unix.MS_SYNC); err != nil {
			t.Fatal(err)
		}
	}
	if r := resident(clean); r != pages {
		t.Fatalf("%d of %d pages resident before paging out", r, pages)
	}
	n, err := pageOutFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("advised %d mappings, want 2", n)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		// tmpfs pages have no file to go back to: without swap they stay.
		t.Logf("%s is on tmpfs: only the contents are checked", dir)
	} else if r := resident(clean); r > pages/8 {
		t.Errorf("%d of %d synced pages still resident after paging out", r, pages)
	}
	if r := resident(o); r != pages {
		t.Errorf("the other directory's mapping lost %d of %d resident pages", pages-r, pages)
	}
	for i, b := range [][]byte{clean, dirty, o} {
		if !bytes.Equal(b, want[i]) {
			t.Errorf("mapping %d: contents changed by paging out", i)
		}
	}
}
