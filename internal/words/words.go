package words

import (
	"fmt"
	"strings"
)

// JoinSome joins the first most of list with ", " and counts the rest
// ("a, b and 3 more"); all of it when it holds most or fewer.
func JoinSome(list []string, most int) string {
	if len(list) <= most {
		return strings.Join(list, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(list[:most], ", "), len(list)-most)
}

// Plural returns one when n is 1, else many.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Nearest returns the name of names closest to s by edit distance, case
// ignored, when it is close: at most 2 edits, or a quarter of s's length,
// and at most one edit per three letters of the longer of s and the name
// ("" when none is), so that a short word is not hinted at a name it
// shares a letter or two with (--nope is no typo of --top, two edits of
// four letters; --dri is one of --dir, one swap of three). For "did you
// mean" hints of flags and keys.
func Nearest(s string, names []string) string {
	edits := max(2, len(s)/4)
	return nearest(s, names, func(n string) int { return min(edits, max(len(s), len(n))/3) })
}

// NearestWithin returns the name of names closest to s by edit distance,
// case ignored, when it is at most edits away; "" when none is. For "did
// you mean" hints where names differ by a few letters anyway (the pods of
// a replica set), so that only a typo is hinted at.
func NearestWithin(s string, names []string, edits int) string {
	return nearest(s, names, func(string) int { return edits })
}

// nearest returns the name n of names closest to s by edit distance, case
// ignored, among those at most within(n) edits away; "" when none is.
func nearest(s string, names []string, within func(n string) int) string {
	s = strings.ToLower(s)
	best, bestD := "", -1
	for _, n := range names {
		if d := editDistance(s, strings.ToLower(n)); d <= within(n) && (bestD < 0 || d < bestD) {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the edit distance between a and b, in bytes: the
// insertions, deletions, substitutions and swaps of two adjacent bytes
// (a typo's "histroy": one edit of "history", two as a substitution)
// that make b of a, no byte edited twice (the optimal string alignment
// distance).
func editDistance(a, b string) int {
	// The rows of the table for a[:i-2], a[:i-1] and a[:i].
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
