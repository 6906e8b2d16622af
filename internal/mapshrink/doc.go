// Package mapshrink rebuilds Go maps that have shrunk: a map keeps the
// buckets of its deleted entries, so a map that once held a large
// population (pods that came and went) holds its memory with a few
// entries left.
package mapshrink
