package clientsettings

import (
	"errors"
	"fmt"
	"net"
	"testing"
)

func TestFromLibrary(t *testing.T) {
	lib := errors.New("unable to read basic auth password: unable to read file /x: open /x: no such file or directory")
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"the library's", lib, true},
		{"wrapped", fmt.Errorf("Post %q: %w", "http://127.0.0.1:1", lib), true},
		{"joined", errors.Join(errors.New("other"), lib), true},
		{"a dial error", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, false},
		{"wording inside only", errors.New("server says: unable to read basic auth password"), false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FromLibrary(tc.err); got != tc.want {
				t.Errorf("FromLibrary(%v) = %v, want %v", tc.err, got, tc.want)
			}
			if tc.want && !Is(fmt.Errorf("query: %w", &Error{Err: tc.err})) {
				t.Error("Is: false for a wrapped Error")
			}
		})
	}
}
