// Package tty tells whether a writer is a terminal, for progress output:
// redrawn on one line on a terminal, a line at a time elsewhere (a file or
// a pipe would hold every redraw).
package tty
