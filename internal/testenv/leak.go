package testenv

import (
	"testing"

	"go.uber.org/goleak"
)

// VerifyNoLeaks checks, after every other cleanup of t has run, that the
// test left no goroutines behind (goroutines running when it is called are
// ignored). Call it first in a test: cleanups run last-in first-out, so a
// plain `defer goleak.VerifyNone(t)` would run before the components
// started by this package (and their goroutines) are stopped.
func VerifyNoLeaks(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	opts = append(opts, goleak.IgnoreCurrent())
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}
