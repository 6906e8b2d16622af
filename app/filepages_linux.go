package app

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pageOutFiles asks the kernel to reclaim the resident pages of every
// file mapped into this process under dir (madvise MADV_PAGEOUT, Linux
// 5.4 or later), and returns how many mappings it advised. Badger reads
// and writes its tables, value log and memtable logs through memory
// maps, so every page it wrote or read stays in the process's resident
// set until the kernel needs the memory. Paging them out is
// non-destructive: a clean page is dropped from the page cache and read
// from disk again when next touched, a dirty page (written but not yet
// synced) is skipped, and an address range that was unmapped or reused
// after /proc/self/maps was read is left as it was (MADV_PAGEOUT never
// discards contents, whatever the mapping). The cost is a disk read for
// each page touched again.
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
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_PAGEOUT); e != 0 {
			if e == unix.EINVAL || e == unix.ENOSYS {
				return n, fmt.Errorf("page out %s: %w", path, e)
			}
			continue // ENOMEM: unmapped since the read
		}
		n++
	}
	return n, sc.Err()
}

// parseMapsLine splits a /proc/PID/maps line "start-end perms offset dev
// inode path" into its address range and path (empty for anonymous
// mappings).
func parseMapsLine(line string) (start, end uintptr, path string, ok bool) {
	f := strings.Fields(line)
	if len(f) < 5 {
		return 0, 0, "", false
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
	if len(f) >= 6 {
		// The path is the rest of the line (it may hold spaces).
		i := strings.Index(line, f[5])
		path = line[i:]
	}
	return uintptr(s), uintptr(e), path, true
}
