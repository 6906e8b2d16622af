//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDir takes the lock Badger takes on dir (flock on the directory),
// without waiting: it fails with an error wrapping ErrInUse when another
// process holds it.
func lockDir(dir string) (unlock func(), err error) { return flockDir(dir, syscall.LOCK_EX) }

// lockDirShared takes the lock Badger takes on dir when it opens it
// read-only (a shared flock): other readers may hold it too, while a
// process holding the exclusive lock (an omen that opened the store)
// makes it fail with an error wrapping ErrInUse, and a process taking
// the exclusive lock fails while it is held.
func lockDirShared(dir string) (unlock func(), err error) { return flockDir(dir, syscall.LOCK_SH) }

func flockDir(dir string, how int) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrInUse
		}
		return nil, fmt.Errorf("lock %q: %w", dir, err)
	}
	return func() { _ = f.Close() }, nil
}
