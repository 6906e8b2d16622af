package app

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pageOutSupported reports, by advising one anonymous page, whether this
// kernel and sandbox allow madvise(MADV_PAGEOUT) (Linux 5.4 or later; a
// seccomp filter may refuse it with EPERM).
func pageOutSupported() error {
	b, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("page out: probe mapping: %w", err)
	}
	defer unix.Munmap(b) //nolint:errcheck // a one-page probe
	b[0] = 1
	if err := unix.Madvise(b, unix.MADV_PAGEOUT); err != nil {
		return fmt.Errorf("page out: madvise(MADV_PAGEOUT): %w", err)
	}
	return nil
}

// pageOutFiles asks the kernel to reclaim the resident pages of every
// file mapped into this process under dir (madvise MADV_PAGEOUT; see
// pageOutSupported), and returns how many mappings it advised. Badger
// reads and writes its tables, value log and memtable logs through memory
// maps, so every page it wrote or read stays in the process's resident
// set until the kernel needs the memory. The advice never discards
// contents: a clean page leaves the process and the page cache and is
// read from disk again when next touched; a dirty page (written, not yet
// synced) leaves the process's page tables but stays in the page cache,
// dirty, until written back; a page another process also maps stays. So
// an address range that Badger unmapped, and something else mapped, after
// /proc/self/maps was read is unharmed (anonymous memory could at most go
// to swap). dir must be absolute with symbolic links resolved, as the
// kernel shows paths. Ranges that are gone (ENOMEM), busy (EAGAIN) or not
// pageable (EINVAL: locked or special mappings) are skipped; EPERM stops
// the pass with an error.
func pageOutFiles(dir string) (int, error) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("page out files: %w", err)
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		start, end, path, ok := parseMapsLine(sc.Text())
		if !ok || !strings.HasPrefix(path, prefix) {
			continue
		}
		_, _, e := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_PAGEOUT)
		switch {
		case e == 0:
			n++
		case errors.Is(e, unix.ENOMEM), errors.Is(e, unix.EAGAIN), errors.Is(e, unix.EINVAL):
		default:
			return n, fmt.Errorf("page out files: %q: %w", path, e)
		}
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("page out files: read /proc/self/maps: %w", err)
	}
	return n, nil
}

// parseMapsLine splits a /proc/PID/maps line "start-end perms offset dev
// inode path" into its address range and path (empty for anonymous
// mappings; the rest of the line after the inode, so it may hold spaces
// or end in " (deleted)").
func parseMapsLine(line string) (start, end uintptr, path string, ok bool) {
	rest := line
	var f [5]string
	for i := range f {
		rest = strings.TrimLeft(rest, " ")
		j := strings.IndexByte(rest, ' ')
		if j < 0 {
			if i < 4 {
				return 0, 0, "", false
			}
			j = len(rest)
		}
		f[i], rest = rest[:j], rest[j:]
	}
	lo, hi, found := strings.Cut(f[0], "-")
	if !found {
		return 0, 0, "", false
	}
	s, err1 := strconv.ParseUint(lo, 16, 64)
	e, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, "", false
	}
	return uintptr(s), uintptr(e), strings.TrimLeft(rest, " "), true
}
