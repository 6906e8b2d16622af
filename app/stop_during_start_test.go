package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
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
// saying which bound ended (its context's or ShutdownTimeout) and Start,
// seeing the Stop, closes what it opened, or, when it already started the
// components (held in its "omen started" log call, past its check of
// Stop), stops them itself and fails with ErrStopped: it returned nil
// with everything running, Done never closed, and a second Stop did
// nothing.
func TestStopDuringStart(t *testing.T) {
	tests := []struct {
		name string
		// delay before Stop; hold: Stop once Start is held in a log
		// call (holdAt; default newScorer's "no model" warning, before
		// Start checks for a Stop), with a Stop context of stopTimeout
		// (0: none) and ShutdownTimeout shutdown (0: 20s), and Start
		// released once Stop returned (wantStopErr) or after 100ms.
		delay       time.Duration
		hold        bool
		holdAt      string
		stopTimeout time.Duration
		shutdown    time.Duration
		wantStopErr string // "": none
		// wantStart is in Start's error ("": nil or ErrStopped unless
		// held; "nil": nil).
		wantStart string
	}{
		{name: "at once"},
		{name: "1ms", delay: time.Millisecond},
		{name: "5ms", delay: 5 * time.Millisecond},
		{name: "20ms", delay: 20 * time.Millisecond},
		{name: "50ms", delay: 50 * time.Millisecond},
		{name: "150ms", delay: 150 * time.Millisecond},
		{name: "held", hold: true, stopTimeout: time.Minute, wantStart: "start cut short by Stop"},
		{name: "held past Stop's context", hold: true, stopTimeout: 100 * time.Millisecond,
			wantStopErr: "when the Stop's context ended", wantStart: "start cut short by Stop"},
		{name: "held past ShutdownTimeout", hold: true, shutdown: 200 * time.Millisecond,
			wantStopErr: "after the shutdown timeout 200ms", wantStart: "start cut short by Stop"},
		{name: "held past the check", hold: true, holdAt: "omen started", stopTimeout: time.Minute, wantStart: "nil"},
		{name: "held past the check and Stop's context", hold: true, holdAt: "omen started", stopTimeout: 100 * time.Millisecond,
			wantStopErr: "when the Stop's context ended", wantStart: "Stop having given up waiting"},
		{name: "held past the check and ShutdownTimeout", hold: true, holdAt: "omen started", shutdown: 200 * time.Millisecond,
			wantStopErr: "after the shutdown timeout 200ms", wantStart: "Stop having given up waiting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			h := newHoldHandler("no model:")
			switch {
			case !tc.hold:
				h.prefix = "\x00" // never held
			case tc.holdAt != "":
				h.prefix = tc.holdAt
			}
			shutdown := cmp.Or(tc.shutdown, 20*time.Second)
			a, err := New(Options{Config: testConfig(t), StoragePath: t.TempDir(), ListenAddress: "127.0.0.1:0",
				NATSListenAddress: "127.0.0.1:0", ShutdownTimeout: shutdown, Logger: slog.New(h)})
			if err != nil {
				t.Fatal(err)
			}
			stopped := make(chan error, 1)
			go func() {
				if tc.hold {
					<-h.held
					ctx := context.Background()
					if tc.stopTimeout > 0 {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, tc.stopTimeout)
						defer cancel()
					}
					if tc.wantStopErr == "" {
						go func() {
							time.Sleep(100 * time.Millisecond) // Stop waits meanwhile
							close(h.release)
						}()
						stopped <- a.Stop(ctx)
						return
					}
					err := a.Stop(ctx)
					close(h.release) // Stop has given up
					stopped <- err
					return
				}
				time.Sleep(tc.delay)
				stopped <- a.Stop(context.Background())
			}()
			serr := a.Start(context.Background())
			switch {
			case tc.wantStart == "nil":
				if serr != nil {
					t.Errorf("Start = %v, want nil (Stop stops what it started)", serr)
				}
			case tc.hold && !errors.Is(serr, ErrStopped) || serr != nil && !errors.Is(serr, ErrStopped):
				t.Errorf("Start = %v, want ErrStopped (or nil, when not held)", serr)
			case tc.wantStart != "" && !strings.Contains(fmt.Sprint(serr), tc.wantStart):
				t.Errorf("Start = %v, want it to say %q", serr, tc.wantStart)
			}
			if errors.Is(serr, ErrStopped) && !errors.Is(serr, ErrNotRunning) {
				t.Errorf("Start = %v: ErrStopped is ErrNotRunning too", serr)
			}
			select {
			case err := <-stopped:
				if tc.wantStopErr == "" && err != nil || tc.wantStopErr != "" && !strings.Contains(fmt.Sprint(err), tc.wantStopErr) {
					t.Errorf("Stop = %v, want an error saying %q", err, tc.wantStopErr)
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
			if err := a.Stop(context.Background()); err != nil {
				t.Errorf("second Stop = %v", err)
			}
			goleak.VerifyNone(t, append(leakIgnores(), before)...)
		})
	}
}

// TestStartAfterStopError: a Start after Stop fails with ErrStopped (and
// ErrNotRunning), saying so: it said "stopped during start (before it)".
func TestStartAfterStopError(t *testing.T) {
	a, err := New(Options{Config: testConfig(t), StoragePath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	err = a.Start(context.Background())
	if !errors.Is(err, ErrStopped) || !errors.Is(err, ErrNotRunning) {
		t.Errorf("Start after Stop = %v, want ErrStopped and ErrNotRunning", err)
	}
	if want := "start after Stop: omen is not running: Stop was called"; fmt.Sprint(err) != want {
		t.Errorf("Start after Stop = %q, want %q", err, want)
	}
}
