package training

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// maxSkipLogs is how many skipped entities training logs one by one; the
// rest are counted, by reason, in one "skipping more entities" line (a
// daemon's history of 10,050 one-step entities printed 10,051 lines).
const maxSkipLogs = 5

// The reasons skipped entities are counted under.
const (
	skipShort = "too short for a window"
	skipSplit = "too short to split"
)

// skipLog logs the entities training skips: the first maxSkipLogs one by
// one, then counts them by reason until flush.
type skipLog struct {
	log  *slog.Logger
	n    int
	more map[string]int
}

// skip logs msg with args for a skipped entity, or counts it under
// reason once maxSkipLogs were logged.
func (s *skipLog) skip(reason, msg string, args ...any) {
	s.n++
	if s.n <= maxSkipLogs {
		s.log.Warn(msg, args...)
		return
	}
	if s.more == nil {
		s.more = map[string]int{}
	}
	s.more[reason]++
}

// flush logs the count of the skipped entities not logged one by one.
func (s *skipLog) flush() {
	if len(s.more) == 0 {
		return
	}
	reasons := make([]string, 0, len(s.more))
	for r := range s.more {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	var b strings.Builder
	for i, r := range reasons {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", r, s.more[r])
	}
	s.log.Warn("skipping more entities", "count", s.n-maxSkipLogs, "reasons", b.String())
	s.more = nil
}
