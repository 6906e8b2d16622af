package testenv

import (
	"maps"
	"runtime"
)

// LiveHeapBytes returns the bytes of live heap objects after a collection.
func LiveHeapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// HeldBeyond is how many bytes of live heap replacing the maps with copies
// of their entries (replace) frees: what the maps keep of entries deleted
// since they were made.
func HeldBeyond(replace func()) int64 {
	before := LiveHeapBytes()
	replace()
	return int64(before) - int64(LiveHeapBytes())
}

// CopyMap is a map of m's entries made for them (maps.Clone may keep
// m's capacity).
func CopyMap[M ~map[K]V, K comparable, V any](m M) M {
	c := make(M, len(m))
	maps.Copy(c, m)
	return c
}
