package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

// stopper calls its App's Stop, once, from code Start runs on its own
// goroutine, and sends Stop's error on stopped.
type stopper struct {
	app     atomic.Pointer[App]
	once    atomic.Bool
	stopped chan error
}

func newStopper() *stopper { return &stopper{stopped: make(chan error, 1)} }

// stop calls Stop with a bound of 2s: a Stop that waited for the Start
// calling it fails the test by its error, not by its time.
func (s *stopper) stop() {
	a := s.app.Load()
	if a == nil || !s.once.CompareAndSwap(false, true) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.stopped <- a.Stop(ctx)
}

// stopLogHandler discards the log, calling Stop on the first message
// starting with prefix.
type stopLogHandler struct {
	prefix string
	s      *stopper
}

func (h stopLogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h stopLogHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) {
		h.s.stop()
	}
	return nil
}

func (h stopLogHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h stopLogHandler) WithGroup(string) slog.Handler { return h }

// stopRegisterer is a registry calling Stop on the first registration
// once armed (its App set: after New's).
type stopRegisterer struct {
	*prometheus.Registry
	s *stopper
}

func (r stopRegisterer) Register(c prometheus.Collector) error {
	r.s.stop()
	return r.Registry.Register(c)
}

func (r stopRegisterer) MustRegister(cs ...prometheus.Collector) {
	r.s.stop()
	r.Registry.MustRegister(cs...)
}

// TestStopOnStartGoroutine: a Stop called on Start's own goroutine, from
// the Logger's handler or the Registerer (the caller's code Start runs),
// returns at once with an error wrapping ErrStopped instead of waiting
// for the Start it is called from until its bound ends ("start still
// running"); Start then closes what it opened (a Stop before it runs the
// components) or stops what it started (a Stop past that) and fails
// with ErrStopped; Done is closed, nothing is left running, and a Stop
// after Start returned, on the same goroutine, returns nil.
func TestStopOnStartGoroutine(t *testing.T) {
	tests := []struct {
		name string
		// logAt: Stop in the handler of the first message starting with
		// it; "": in the Registerer's first registration.
		logAt     string
		wantStart string // in Start's error
	}{
		{name: "registerer, opening the store", wantStart: "start cut short by Stop"},
		{name: "log, before the components run", logAt: "no model:", wantStart: "start cut short by Stop"},
		{name: "log, components running", logAt: "omen started", wantStart: "Stop having been called on Start's goroutine"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			s := newStopper()
			opts := Options{Config: testConfig(t), StoragePath: t.TempDir(), ListenAddress: "127.0.0.1:0",
				NATSListenAddress: "127.0.0.1:0", ShutdownTimeout: 20 * time.Second,
				Logger: slog.New(stopLogHandler{prefix: "\x00", s: s})}
			if tc.logAt != "" {
				opts.Logger = slog.New(stopLogHandler{prefix: tc.logAt, s: s})
			} else {
				r := prometheus.NewRegistry()
				opts.Registerer, opts.Gatherer = stopRegisterer{Registry: r, s: s}, r
			}
			a, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			s.app.Store(a)
			serr := a.Start(context.Background())
			if !errors.Is(serr, ErrStopped) || !strings.Contains(fmt.Sprint(serr), tc.wantStart) {
				t.Errorf("Start = %v, want ErrStopped saying %q", serr, tc.wantStart)
			}
			select {
			case err := <-s.stopped:
				if !errors.Is(err, ErrStopped) || !strings.Contains(fmt.Sprint(err), "called on Start's goroutine") {
					t.Errorf("Stop on Start's goroutine = %v, want ErrStopped saying it was called on Start's goroutine", err)
				}
			default:
				t.Fatal("Stop was not called during Start")
			}
			select {
			case <-a.Done():
			case <-time.After(10 * time.Second):
				t.Error("Done not closed after Start returned")
			}
			if a.ready.Load() {
				t.Error("ready after Stop")
			}
			if err := a.Stop(context.Background()); err != nil {
				t.Errorf("Stop after Start returned = %v", err)
			}
			goleak.VerifyNone(t, append(leakIgnores(), before)...)
		})
	}
}

// TestStopAfterStartSameGoroutine: Start and then Stop on one goroutine
// (the usual embedding) is an ordinary Stop: nil, everything stopped,
// even after a failed Start.
func TestStopAfterStartSameGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent()
	a, err := New(Options{Config: testConfig(t), StoragePath: t.TempDir(), ListenAddress: "127.0.0.1:0",
		NATSListenAddress: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Errorf("Stop = %v", err)
	}
	<-a.Done()
	// A failed Start: its context cancelled before it begins.
	b, err := New(Options{Config: testConfig(t), StoragePath: t.TempDir(), ListenAddress: "127.0.0.1:0",
		NATSListenAddress: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Start(ctx); err == nil {
		t.Error("Start with a cancelled context succeeded")
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Errorf("Stop after a failed Start = %v", err)
	}
	goleak.VerifyNone(t, append(leakIgnores(), before)...)
}

// TestStopInStop: a Stop called from the Logger's handler while Stop runs
// on the same goroutine (its "omen stopped" message) returns at once with
// an error, and the Stop in progress completes: the second Stop waited
// for the first in its sync.Once, which waited for it, for ever.
func TestStopInStop(t *testing.T) {
	before := goleak.IgnoreCurrent()
	s := newStopper()
	a, err := New(Options{Config: testConfig(t), StoragePath: t.TempDir(), ListenAddress: "127.0.0.1:0",
		NATSListenAddress: "127.0.0.1:0", Logger: slog.New(stopLogHandler{prefix: "omen stopped", s: s})})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.app.Store(a)
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Stop = %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Stop did not return: it waits for the Stop its log handler called")
	}
	select {
	case err := <-s.stopped:
		if err == nil || !strings.Contains(err.Error(), "called again on the goroutine of the Stop in progress") {
			t.Errorf("Stop during Stop = %v, want an error saying it was called again", err)
		}
	default:
		t.Fatal("the log handler did not call Stop")
	}
	<-a.Done()
	goleak.VerifyNone(t, append(leakIgnores(), before)...)
}
