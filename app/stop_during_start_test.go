package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// holdHandler discards the log but holds the goroutine logging the first
// message starting with prefix: it sends on held (buffered), then waits
// for release.
type holdHandler struct {
	prefix  string
	once    *atomic.Bool
	held    chan struct{}
	release chan struct{}
}

func newHoldHandler(prefix string) *holdHandler {
	return &holdHandler{prefix: prefix, once: new(atomic.Bool), held: make(chan struct{}, 1), release: make(chan struct{})}
}

func (h *holdHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *holdHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) && h.once.CompareAndSwap(false, true) {
		h.held <- struct{}{}
		<-h.release
	}
	return nil
}

func (h *holdHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h *holdHandler) WithGroup(string) slog.Handler { return h }

// TestStopDuringStart: a Stop called while Start runs (from another
// goroutine: a signal, an embedder's shutdown) waits for Start, which gives
// up at its next check with ErrStopped, or, once it started the
// components, returns and has them stopped: both return, Done is closed,
// nothing is left running, and -race finds nothing touched by both. Stop
// read and closed what Start was still setting up (the store, the
// listener: Start then failed on a closed store or NATS connection), and a
// Start that got past them left the daemon running after Stop returned.
// Stop waits for Start within its bound only: past it, it returns an error
// and Start, seeing the Stop, closes what it opened.
func TestStopDuringStart(t *testing.T) {
	tests := []struct {
		name string
		// delay before Stop; hold: Stop once Start is held in a log
		// call (newScorer's "no model" warning), with a Stop context of
		// stopTimeout, and Start released once Stop returned (timeout) or
		// after 100ms.
		delay       time.Duration
		hold        bool
		stopTimeout time.Duration
		wantStopErr bool
	}{
		{name: "at once"},
		{name: "1ms", delay: time.Millisecond},
		{name: "5ms", delay: 5 * time.Millisecond},
		{name: "20ms", delay: 20 * time.Millisecond},
		{name: "50ms", delay: 50 * time.Millisecond},
		{name: "150ms", delay: 150 * time.Millisecond},
		{name: "held", hold: true, stopTimeout: time.Minute},
		{name: "held past Stop's bound", hold: true, stopTimeout: 100 * time.Millisecond, wantStopErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			h := newHoldHandler("no model:")
			if !tc.hold {
				h.prefix = "\x00" // never held
			}
			a, err := New(Options{Config: testConfig(t), StoragePath: t.TempDir(), ListenAddress: "127.0.0.1:0",
				NATSListenAddress: "127.0.0.1:0", ShutdownTimeout: 20 * time.Second, Logger: slog.New(h)})
			if err != nil {
				t.Fatal(err)
			}
			stopped := make(chan error, 1)
			go func() {
				if tc.hold {
					<-h.held
					ctx, cancel := context.WithTimeout(context.Background(), tc.stopTimeout)
					defer cancel()
					go func() {
						if !tc.wantStopErr {
							time.Sleep(100 * time.Millisecond) // Stop waits meanwhile
						} else {
							<-ctx.Done()
							time.Sleep(50 * time.Millisecond) // Stop has given up
						}
						close(h.release)
					}()
					stopped <- a.Stop(ctx)
					return
				}
				time.Sleep(tc.delay)
				stopped <- a.Stop(context.Background())
			}()
			serr := a.Start(context.Background())
			if tc.hold && !errors.Is(serr, ErrStopped) || serr != nil && !errors.Is(serr, ErrStopped) {
				t.Errorf("Start = %v, want ErrStopped (or nil, when not held)", serr)
			}
			if errors.Is(serr, ErrStopped) && !errors.Is(serr, ErrNotRunning) {
				t.Errorf("Start = %v: ErrStopped is ErrNotRunning too", serr)
			}
			select {
			case err := <-stopped:
				if (err != nil) != tc.wantStopErr {
					t.Errorf("Stop = %v, want an error %v", err, tc.wantStopErr)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Stop did not return")
			}
			select {
			case <-a.Done():
			case <-time.After(10 * time.Second):
				t.Error("Done not closed after Start and Stop returned")
			}
			if a.ready.Load() {
				t.Error("ready after Stop")
			}
			goleak.VerifyNone(t, append(leakIgnores(), before)...)
		})
	}
}
