package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/testenv"
)

// TestSourcesFatalErrorStopsAll: a fatal consumer error (the NATS
// connection is closed for good) stops sources.run with that error at
// once, whether or not Prometheus pollers (which only stop on cancel) run
// alongside.
func TestSourcesFatalErrorStopsAll(t *testing.T) {
	for _, pollers := range []int{0, 1, 2} {
		t.Run(map[int]string{0: "no poller", 1: "one poller", 2: "two pollers"}[pollers], func(t *testing.T) {
			testenv.VerifyNoLeaks(t)
			cfg := testConfig(t)
			for range pollers {
				// Nothing listens on port 1: polls fail and are retried, the
				// pollers keep running.
				cfg.Prometheus = append(cfg.Prometheus, config.PollerConfig{URL: "http://127.0.0.1:1"})
			}
			src := newEmbeddedSources(t, cfg, nil)
			src.nc.Close() // the connection is gone for good
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- src.run(ctx) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "connection closed") {
					t.Fatalf("run returned %v, want the consumer's connection-closed error", err)
				}
			case <-time.After(10 * time.Second):
				cancel()
				err := <-done
				t.Fatalf("run still running 10s after the consumer failed; after cancel it returned %v", err)
			}
		})
	}
}

// TestSourcesCancelIsClean: cancelling ctx stops every source and run
// returns nil.
func TestSourcesCancelIsClean(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	cfg := testConfig(t)
	cfg.Prometheus = []config.PollerConfig{{URL: "http://127.0.0.1:1"}}
	src := newEmbeddedSources(t, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.run(ctx) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return within 30s of cancel")
	}
}
