//go:build !linux

package store

import (
	"errors"
	"io/fs"
)

// statfsFree is not implemented off Linux: free space is not watched and
// writes are never refused for it.
func statfsFree(string) (uint64, error) { return 0, errors.ErrUnsupported }

// diskUsage is a file's apparent size off Linux.
func diskUsage(info fs.FileInfo) int64 { return info.Size() }

// diskWatched reports whether free space is watched on this platform.
const diskWatched = false
