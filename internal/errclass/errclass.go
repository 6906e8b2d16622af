package errclass

import "regexp"

// volatile matches the parts of a PromQL error that change from one step
// to the next while the cause stays the same: label sets ("found duplicate
// series for the match group {…} …: [{…}, {…}]", the series change as pods
// come and go) and numbers ("Scalar value … overflows int64").
var volatile = regexp.MustCompile(`\{[^{}]*\}|\[[^\[\]]*\]|[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|Inf|NaN)`)

// Of returns msg with its label sets, bracketed lists and numbers each
// replaced by "_". Most PromQL errors are fixed texts, returned as they are
// but for their numbers.
func Of(msg string) string {
	return volatile.ReplaceAllString(msg, "_")
}
