package trainrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	omenapi "github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// daemonHistory reads a running daemon's history for training's store
// source (storesource.Reader and storesource.SchemaLister, which take no
// context): each call is bound to ctx (omen train's: Ctrl-C stops it)
// and may wait timeout for the daemon, so that a stalled daemon fails
// the command with an error naming the call and the URL instead of
// holding it. An entity's history streams for as long as it takes: the
// timeout bounds each wait for its next vectors, not fn's work.
type daemonHistory struct {
	c       omenapi.HistoryClient
	ctx     context.Context
	url     string
	timeout time.Duration
}

// errCallTimeout is wrapped by the error of a call to the daemon that
// waited longer than --url.timeout.
var errCallTimeout = errors.New("did not answer within --url.timeout")

// callIdle runs f with a context cancelled when f waits longer than
// d.timeout for the daemon; its error then wraps errCallTimeout, with
// the URL and the timeout. f calls reset(false) before work of its own
// (not a wait for the daemon) and reset(true) after it: the timeout
// counts from then.
func (d daemonHistory) callIdle(f func(ctx context.Context, reset func(waiting bool)) error) error {
	ctx, cancel := context.WithCancelCause(d.ctx)
	defer cancel(nil)
	timeout := fmt.Errorf("the daemon at %s %w %v", d.url, errCallTimeout, d.timeout)
	timer := time.AfterFunc(d.timeout, func() { cancel(timeout) })
	defer timer.Stop()
	err := f(ctx, func(waiting bool) {
		if waiting {
			timer.Reset(d.timeout)
		} else {
			timer.Stop()
		}
	})
	if err != nil && errors.Is(context.Cause(ctx), errCallTimeout) && !errors.Is(err, errCallTimeout) {
		// An error that does not say why (the HTTP client's say).
		return fmt.Errorf("%w: %w", timeout, err)
	}
	return err
}

// call is callIdle for a call that only waits for the daemon.
func (d daemonHistory) call(f func(ctx context.Context) error) error {
	return d.callIdle(func(ctx context.Context, _ func(bool)) error { return f(ctx) })
}

// Schema implements storesource.Reader.
func (d daemonHistory) Schema() (s store.Schema, err error) {
	err = d.call(func(ctx context.Context) (err error) {
		s, err = d.c.Schema(ctx)
		return err
	})
	return s, err
}

// Schemas implements storesource.SchemaLister.
func (d daemonHistory) Schemas() (ss []store.Schema, err error) {
	err = d.call(func(ctx context.Context) (err error) {
		ss, err = d.c.Schemas(ctx)
		return err
	})
	return ss, err
}

// Entities implements storesource.Reader.
func (d daemonHistory) Entities() (es []store.EntityInfo, err error) {
	err = d.call(func(ctx context.Context) (err error) {
		es, err = d.c.Entities(ctx)
		return err
	})
	return es, err
}

// Vectors implements storesource.Reader: the timeout bounds each wait
// for the daemon's next vector, not the whole history.
func (d daemonHistory) Vectors(entity string, from, to int64, fn func(store.Vector) error) error {
	return d.callIdle(func(ctx context.Context, reset func(bool)) error {
		return d.c.Vectors(ctx, entity, from, to, func(v store.Vector) error {
			reset(false)
			defer reset(true)
			return fn(v)
		})
	})
}
