package stream

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// rateLog writes, for a kind of per-message problem (dead letters,
// expired messages, partly rejected ones), at most one record per
// subject and reason each interval: the first occurrence at once, then
// one summary of those that followed, with their count and first
// sequence, once the interval has passed (flush). 2000 garbage messages
// made 2000 WARN lines.
type rateLog struct {
	mu       sync.Mutex
	logger   *slog.Logger
	level    slog.Level
	msg      string // the first occurrence's message
	summary  string // the summary's message
	every    time.Duration
	keys     map[rateKey]*rateWindow
	maxKeys  int
	overflow string // the subject standing for the others once keys is full
}

type rateKey struct{ subject, reason string }

// rateWindow is a key's interval: when it started, and what happened in
// it after the record that opened it.
type rateWindow struct {
	start    time.Time
	n        int    // messages since the last record
	lines    int    // their rejected lines (partly rejected messages)
	firstSeq uint64 // the first of them
	err      string // the last one's error
}

// rateLogKeys bounds the keys a rateLog follows: beyond, the subjects
// (a producer may use many) share one key per reason.
const rateLogKeys = 1024

// rateLogEvery is the interval of a rateLog.
const rateLogEvery = time.Minute

func newRateLog(logger *slog.Logger, level slog.Level, msg, summary string) *rateLog {
	return &rateLog{logger: logger, level: level, msg: msg, summary: summary, every: rateLogEvery,
		keys: map[rateKey]*rateWindow{}, maxKeys: rateLogKeys, overflow: "(other subjects)"}
}

// note records a message of subject with problem reason at now: it writes
// the record at once when the key has no interval open, otherwise counts
// it for the summary. lines is the message's rejected lines (0 when not
// counted), attrs more attributes of the first record.
func (r *rateLog) note(now time.Time, subject, reason string, seq uint64, lines int, err string, attrs ...any) {
	r.mu.Lock()
	k := rateKey{subject, reason}
	w := r.keys[k]
	if w == nil && len(r.keys) >= r.maxKeys {
		k.subject = r.overflow
		w = r.keys[k]
	}
	if w != nil {
		if w.n == 0 {
			w.firstSeq = seq
		}
		w.n++
		w.lines += lines
		w.err = err
		r.mu.Unlock()
		return
	}
	r.keys[k] = &rateWindow{start: now}
	r.mu.Unlock()
	args := append([]any{"subject", subject, "seq", seq, "reason", reason}, attrs...)
	if lines > 0 {
		args = append(args, "rejected_lines", lines)
	}
	args = append(args, "err", err, "further", "the next ones of this subject and reason are counted and reported once every "+r.every.String())
	r.logger.Log(context.Background(), r.level, r.msg, args...)
}

// flush writes the summary of each key whose interval has passed (every
// key with all), and ends the intervals without messages since their
// record, so that the next such message is written at once.
func (r *rateLog) flush(now time.Time, all bool) {
	type due struct {
		k rateKey
		w rateWindow
	}
	var out []due
	r.mu.Lock()
	for k, w := range r.keys {
		if !all && now.Sub(w.start) < r.every {
			continue
		}
		if w.n == 0 {
			delete(r.keys, k)
			continue
		}
		out = append(out, due{k, *w})
		if all {
			delete(r.keys, k)
		} else {
			*w = rateWindow{start: now}
		}
	}
	r.mu.Unlock()
	for _, d := range out {
		args := []any{"subject", d.k.subject, "reason", d.k.reason, "messages", d.w.n, "first_seq", d.w.firstSeq}
		if d.w.lines > 0 {
			args = append(args, "rejected_lines", d.w.lines)
		}
		args = append(args, "since", d.w.start.UTC().Format(time.RFC3339), "last_err", d.w.err)
		r.logger.Log(context.Background(), r.level, r.summary, args...)
	}
}
