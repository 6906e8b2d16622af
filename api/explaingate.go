package api

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrBusy is wrapped by ExplainGate.Explain's error when no explanation
// slot came free within the gate's timeout: the API answers 503 busy, the
// UI a page saying to retry.
var ErrBusy = errors.New("busy")

// Default explain-now limits (Options.MaxConcurrentExplains and
// Options.ExplainTimeout).
const (
	DefaultMaxConcurrentExplains = 2
	DefaultExplainTimeout        = 30 * time.Second
)

// ExplainGate bounds the explanations made on request (explain-now, which
// costs a SHAP run each): at most a number at once, each within a timeout
// that includes its wait for a slot. The API and the UI share one gate
// (Options.ExplainGate of both), so that neither can start more than the
// limit between them.
type ExplainGate struct {
	sem     chan struct{}
	timeout time.Duration
}

// NewExplainGate returns a gate for at most maxConcurrent explanations at
// once (0: DefaultMaxConcurrentExplains), each bounded by timeout (0:
// DefaultExplainTimeout). Negative values are an error.
func NewExplainGate(maxConcurrent int, timeout time.Duration) (*ExplainGate, error) {
	if maxConcurrent == 0 {
		maxConcurrent = DefaultMaxConcurrentExplains
	}
	if maxConcurrent < 0 {
		return nil, fmt.Errorf("negative explain concurrency %d", maxConcurrent)
	}
	if timeout == 0 {
		timeout = DefaultExplainTimeout
	}
	if timeout < 0 {
		return nil, fmt.Errorf("negative explain timeout %v", timeout)
	}
	return &ExplainGate{sem: make(chan struct{}, maxConcurrent), timeout: timeout}, nil
}

// Explain runs b.ExplainEntity(entity) when a slot is free, all within the
// gate's timeout. When no slot comes free in time the error wraps ErrBusy;
// when the explanation itself runs out of time, context.DeadlineExceeded.
func (g *ExplainGate) Explain(ctx context.Context, b Backend, entity string) (Explanation, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	select {
	case g.sem <- struct{}{}:
		defer func() { <-g.sem }()
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The wait, not g.timeout: the caller's deadline may be
			// the shorter one.
			return Explanation{}, fmt.Errorf("all %d explanation slots stayed in use for %v (explanations on request are made %d at a time): retry later: %w",
				cap(g.sem), time.Since(start).Round(time.Millisecond), cap(g.sem), ErrBusy)
		}
		return Explanation{}, fmt.Errorf("wait for an explanation slot: %w", ctx.Err())
	}
	return b.ExplainEntity(ctx, entity)
}

// RetryAfter is the Retry-After (whole seconds) of a busy or timed-out
// explanation, the API's 503 busy and timeout and the UI's explain-now
// page alike: the gate's timeout, rounded up. Each explanation holds its
// slot, or waits for one, at most that long from its start, so by then
// every one running or waiting when the answer went out has ended: a
// retry does not queue behind them (nor share the CPU with them, which
// may have been why an explanation ran out of time).
func (g *ExplainGate) RetryAfter() string {
	return retryAfterSeconds(g.timeout)
}
