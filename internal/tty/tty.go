package tty

import (
	"io"

	"golang.org/x/term"
)

// IsTerminal reports whether w writes to a terminal: an *os.File, or a
// writer wrapping one that has its Fd method, open on a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}
