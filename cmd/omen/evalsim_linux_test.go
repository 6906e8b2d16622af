package main

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/omen-sre/omen/training"
)

// TestStopWriterTerminal: the stopWriter omen demo and omen eval sim
// write their progress through shows the terminal under it, so progress
// is redrawn on a terminal only and written a line at a time to a file or
// a pipe (it was redrawn with carriage returns everywhere: "omen demo >
// demo.out" held "\rhistory:   0.0%\rhistory:  50.0%…"; reviewer's
// finding). Training's progress, written through it too, was never
// redrawn on a terminal.
func TestStopWriterTerminal(t *testing.T) {
	pts := openPTY(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	for _, tc := range []struct {
		name string
		w    *stopWriter
		want bool
	}{
		{"terminal", &stopWriter{w: pts, stop: func() {}}, true},
		{"pipe", &stopWriter{w: w, stop: func() {}}, false},
		{"buffer", &stopWriter{w: &bytes.Buffer{}, stop: func() {}}, false},
	} {
		if got := training.IsTerminal(tc.w); got != tc.want {
			t.Errorf("%s: IsTerminal %v, want %v", tc.name, got, tc.want)
		}
	}
}

// openPTY opens a pseudo-terminal and returns its terminal side.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pseudo-terminal's terminal side: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
