package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/internal/tty"
)

// TestStopWriterTerminal: the stopWriter omen demo and omen eval sim
// write their progress through shows the terminal under it, so progress
// is redrawn on a terminal only and written a line at a time to a file or
// a pipe (it was redrawn with carriage returns everywhere: "omen demo >
// demo.out" held "\rhistory:   0.0%\rhistory:  50.0%…"; reviewer's
// finding). Training's progress, written through it too, was never
// redrawn on a terminal.
func TestStopWriterTerminal(t *testing.T) {
	pts := testenv.OpenPTY(t)
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
		if got := tty.IsTerminal(tc.w); got != tc.want {
			t.Errorf("%s: IsTerminal %v, want %v", tc.name, got, tc.want)
		}
	}
}
