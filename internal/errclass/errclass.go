package errclass

import (
	"regexp"
	"strings"
)

// volatile matches the parts of a PromQL error that change from one step
// to the next while the cause stays the same: label sets ("found duplicate
// series for the match group {…} …: [{…}, {…}]", the series change as pods
// come and go) and numbers ("Scalar value … overflows int64"). Its first
// alternative matches the HTTP status of the API client's errors ("client
// error: 404", "server error: 502"), which is kept: it is the cause.
var volatile = regexp.MustCompile(`(?:client|server) error: \d{3}\b|\{[^{}]*\}|\[[^\[\]]*\]|[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|Inf|NaN)`)

// Of returns msg with its label sets, bracketed lists and numbers each
// replaced by "_", but the HTTP status of "client error: NNN" and "server
// error: NNN" (the API client's errors without Prometheus's JSON: a 404
// and a 429, a 502 and a 503 are different causes). Most PromQL errors
// are fixed texts, returned as they are but for their numbers.
func Of(msg string) string {
	return volatile.ReplaceAllStringFunc(msg, func(m string) string {
		if strings.HasPrefix(m, "client error: ") || strings.HasPrefix(m, "server error: ") {
			return m
		}
		return "_"
	})
}
