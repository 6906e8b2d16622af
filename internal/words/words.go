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
// ignored, when it is close: at most 2 edits, or a quarter of s's length;
// "" when none is. For "did you mean" hints of flags and keys.
func Nearest(s string, names []string) string {
	return NearestWithin(s, names, max(2, len(s)/4))
}

// NearestWithin returns the name of names closest to s by edit distance,
// case ignored, when it is at most edits away; "" when none is. For "did
// you mean" hints where names differ by a few letters anyway (the pods of
// a replica set), so that only a typo is hinted at.
func NearestWithin(s string, names []string, edits int) string {
	s = strings.ToLower(s)
	best, bestD := "", edits+1
	for _, n := range names {
		if d := editDistance(s, strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
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
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
