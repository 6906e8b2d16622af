package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/omen-sre/omen/internal/errclass"
)

// failureLog logs the failures of operations retried at every step (the
// evaluator's writes and evaluations, the alert pipeline's step): at
// ERROR when an operation starts failing, then at most once a minute
// while it goes on, with since when and after how many attempts, at debug
// level in between, and at INFO when it works again. An ERROR per step
// and operation (several a step while the store refused writes during a
// disk outage) flooded the log. Its zero value needs logger and now set;
// it is not safe for concurrent use (one goroutine runs the steps).
// warn logs the failures at WARN rather than ERROR (a failure omen
// retries by itself, the NATS connection's reconnects).
type failureLog struct {
	logger *slog.Logger
	now    func() time.Time
	runs   errclass.Throttle[string]
	warn   bool
}

// failed logs a failure of op (its log record's message) with err and
// attrs.
func (l *failureLog) failed(op string, err error, attrs ...any) {
	l.failedClass(op, "", err, attrs...)
}

// failedClass logs a failure of op with err of class as failed does, and
// the first failure of each class seen in the run as its first one, with
// since when and how many attempts the run has failed (the NATS
// reconnects: a dial refused while the server restarts, then the
// credentials or certificate it refuses once up).
func (l *failureLog) failedClass(op, class string, err error, attrs ...any) {
	now := l.now()
	f, first, again := l.runs.FailClass(op, class, now)
	level := slog.LevelError
	if l.warn {
		level = slog.LevelWarn
	}
	switch {
	case first:
		if f.Count > 1 { // a new class in a run going on
			attrs = append(attrs, "failing_since", f.Since.UTC().Format(time.RFC3339), "failed_attempts", f.Count)
		}
		l.logger.Log(context.Background(), level, op+" (while it fails, logged again once a minute)", append(attrs, "err", err)...)
	case again:
		l.logger.Log(context.Background(), level, op+" still failing", append(attrs, "failing_since", f.Since.UTC().Format(time.RFC3339),
			"failing_for", now.Sub(f.Since).Round(time.Second), "failed_attempts", f.Count, "err", err)...)
	default:
		l.logger.Debug(op, append(attrs, "failed_attempts", f.Count, "err", err)...)
	}
}

// worked ends the run of failures of op, if any, saying so at INFO.
func (l *failureLog) worked(op string) {
	if attrs := l.end(op); attrs != nil {
		l.logger.Info(op+" works again", attrs...)
	}
}

// end ends the run of failures of op and returns what the INFO that
// says so carries (since when, for how long, how many attempts); nil
// when op was not failing.
func (l *failureLog) end(op string) []any {
	f, ended := l.runs.Succeed(op)
	if !ended {
		return nil
	}
	return []any{"failing_since", f.Since.UTC().Format(time.RFC3339),
		"failed_for", l.now().Sub(f.Since).Round(time.Millisecond), "failed_attempts", f.Count}
}
