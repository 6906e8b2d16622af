package clientsettings

import (
	"errors"
	"strings"
)

// Error is a request's failure to read or use omen's client settings: a
// local problem (a file moved away, unreadable or no longer valid), not
// the server's; retried before the file is fixed, it fails the same way.
type Error struct{ Err error }

// Error returns Err's text after "reading omen's client settings: ".
func (e *Error) Error() string { return "reading omen's client settings: " + e.Err.Error() }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether err holds an Error.
func Is(err error) bool { return errors.As(err, new(*Error)) }

// FromLibrary reports whether err, a round tripper's error, is one of
// github.com/prometheus/common/config's errors reading or using its
// settings' files ("unable to read basic auth password: …", "unable to
// read CA cert: …", "unable to use specified client cert (…) & key (…):
// …"), in err's chain: a network error never words itself so.
func FromLibrary(err error) bool {
	for err != nil {
		msg := err.Error()
		if strings.HasPrefix(msg, "unable to read ") || strings.HasPrefix(msg, "unable to use ") {
			return true
		}
		if m, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range m.Unwrap() {
				if FromLibrary(e) {
					return true
				}
			}
			return false
		}
		err = errors.Unwrap(err)
	}
	return false
}
