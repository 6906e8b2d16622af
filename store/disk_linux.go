//go:build linux

package store

import (
	"io/fs"
	"syscall"
)

// statfsFree returns the bytes available to unprivileged users on the
// filesystem holding path.
func statfsFree(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil //nolint:gosec // Bsize is positive
}

// diskUsage is the disk space a file takes: its allocated blocks (Badger
// preallocates sparse files, whose apparent size overstates it).
func diskUsage(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}

// diskWatched reports whether free space is watched on this platform.
const diskWatched = true
