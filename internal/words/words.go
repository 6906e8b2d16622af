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
