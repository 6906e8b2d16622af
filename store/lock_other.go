//go:build !unix

package store

// lockDir does nothing where Badger locks no directory: badger.Open
// reports a store in use.
func lockDir(string) (unlock func(), err error) { return func() {}, nil }

// lockDirShared does nothing, as lockDir.
func lockDirShared(string) (unlock func(), err error) { return func() {}, nil }
