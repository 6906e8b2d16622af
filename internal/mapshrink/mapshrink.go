package mapshrink

import "maps"

// Min is the least peak for which Compact rebuilds a map; Factor is the
// factor by which the map must have shrunk from its peak.
const (
	Min    = 256
	Factor = 4
)

// Peak is the most entries a map held since it was made (or rebuilt).
type Peak int

// Note records that the map holds n entries: callers note its length
// before deleting entries, where it is largest.
func (p *Peak) Note(n int) { *p = max(*p, Peak(n)) }

// Shrunk reports whether a map of peak p now holding n entries has shrunk
// enough to be rebuilt: to 1/Factor of a peak of at least Min. For
// structures that rebuild themselves (Compact does it for a plain map).
func (p Peak) Shrunk(n int) bool { return p >= Min && n <= int(p)/Factor }

// Compact returns m, or a copy of m sized for its entries when it holds
// fewer than 1/Factor of its peak (of at least Min), the peak then reset
// to the copy's length. Rebuilding when the map has shrunk by Factor
// keeps the copies' cost proportional to the entries deleted.
func Compact[M ~map[K]V, K comparable, V any](m M, p *Peak) M {
	if !p.Shrunk(len(m)) {
		return m
	}
	c := make(M, len(m))
	maps.Copy(c, m)
	*p = Peak(len(c))
	return c
}
