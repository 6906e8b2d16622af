// Package atomicfile writes a file whole or not at all: to a temporary
// file beside it, synced, then renamed over it, so that a write that
// fails (a full disk, a file size limit, an interrupted command) leaves
// the previous file as it was instead of truncated.
package atomicfile
