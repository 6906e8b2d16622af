package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Write writes data to path whole or not at all: into a new temporary
// file in path's directory (named .BASE.tmp-N), synced to disk, then
// renamed over path, and the directory synced. On an error before the
// rename the temporary file is removed and path is untouched; the error
// says so. The file has the mode of the file it replaces, else perm (less
// the umask). A symbolic link is followed: its target is replaced.
//
// A path that exists and is not a regular file (a device such as
// /dev/null, a named pipe, /dev/stdout's link to a pipe) is written in
// place, as os.WriteFile does; so is an existing file in a directory
// where no file can be created (permission denied, read-only file
// system), which os.WriteFile could write: that write is not atomic.
func Write(path string, data []byte, perm fs.FileMode) error {
	return write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFunc is Write with the data written by fill as it comes (a
// download, a backup): an error fill returns is Write's error before the
// rename, leaving no file at path (or the previous one untouched).
func WriteFunc(path string, perm fs.FileMode, fill func(io.Writer) error) error {
	return write(path, perm, fill)
}

// SyncDir syncs the directory dir, so that a rename or a file made in it
// lasts a crash. A file system that cannot sync a directory (EINVAL) is
// not an error.
func SyncDir(dir string) error { return syncDir(dir) }

// write is Write with the data written by fill (tests make it fail).
func write(path string, perm fs.FileMode, fill func(io.Writer) error) error {
	target, existing, err := resolve(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if existing != nil && !existing.Mode().IsRegular() {
		return writeInPlace(target, path, perm, fill)
	}
	untouched := "nothing written"
	if existing != nil {
		untouched = "the previous " + path + " is untouched"
		perm = existing.Mode().Perm()
	}
	dir := filepath.Dir(target)
	tmp, err := createTemp(dir, filepath.Base(target), perm)
	if existing != nil && (errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)) {
		// A file that may be written in a directory that may not be
		// written (a mounted file, a configuration directory):
		// os.WriteFile wrote it, and failing here, after a training,
		// would throw its model away.
		return writeInPlace(target, path, perm, fill)
	}
	if err != nil {
		return fmt.Errorf("write %s: create a temporary file in %s: %w (%s)", path, dir, err, untouched)
	}
	err = fill(tmp)
	if err == nil && existing != nil {
		// The kernel applied the umask at creation: the replaced file's
		// mode is kept as it was.
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), target)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w (%s)", path, err, untouched)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write %s: the file is written, but syncing its directory failed (a crash now may lose it): %w", path, err)
	}
	return nil
}

// writeInPlace truncates and writes the existing file target (named path
// in errors), as os.WriteFile does.
func writeInPlace(target, path string, perm fs.FileMode, fill func(io.Writer) error) error {
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// resolve returns the file path names (the target of a symbolic link)
// and its FileInfo, nil when there is none yet. A dangling link is
// replaced itself. A link the kernel follows to something that is not a
// regular file (/dev/stdout → /proc/self/fd/1 → a pipe, which
// filepath.EvalSymlinks cannot resolve) is returned as path, to be
// written through.
func resolve(path string) (string, fs.FileInfo, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return path, nil, nil
	case err != nil:
		return "", nil, err
	case fi.Mode()&fs.ModeSymlink == 0:
		return path, fi, nil
	}
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return path, st, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	fi, err = os.Stat(target)
	if err != nil {
		return "", nil, err
	}
	return target, fi, nil
}

// createTemp creates a new file in dir named .base.tmp-N with perm (less
// the umask), as os.CreateTemp does with 0600.
func createTemp(dir, base string, perm fs.FileMode) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("no free temporary file name for %s in %s", base, dir)
}

// syncDir syncs the directory dir, so that a rename in it lasts a
// crash. A file system that cannot sync a directory (EINVAL) is not an
// error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) {
		return nil
	}
	return err
}
