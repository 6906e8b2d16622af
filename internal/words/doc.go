// Package words holds the small wording helpers omen's messages share:
// a list cut short with a count of the rest, a noun's number.
package words
