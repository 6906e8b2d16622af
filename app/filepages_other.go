//go:build !linux

package app

import "errors"

// pageOutSupported reports that paging out is Linux-only.
func pageOutSupported() error {
	return errors.New("page out: madvise(MADV_PAGEOUT) is Linux-only")
}

// pageOutFiles does nothing outside Linux.
func pageOutFiles(string) (int, error) { return 0, nil }
