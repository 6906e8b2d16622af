package demo

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/sim"
	"github.com/omen-sre/omen/training"
)

// TestWithOpening: the demo's live phase opens with one strong
// memory-growth failure and nothing else in its first 40 minutes, and the
// fleet accepts the schedule.
func TestWithOpening(t *testing.T) {
	live := 24 * time.Hour
	specs, err := schedule(1, live+4*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	specs = withOpening(specs, live)
	n := 0
	for _, s := range specs {
		if s.At+sim.DefaultFailFor >= live && s.At-s.Lead <= live+40*time.Minute {
			n++
			if s.Kind != sim.MemoryGrowth || s.Strength != 1 || s.At-s.Lead < live {
				t.Errorf("opening scenario %+v", s)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d scenarios in the opening, want 1", n)
	}
	if _, err := sim.New(sim.Options{Seed: 1, Start: time.Now().Add(-live).Truncate(Step), Step: Step, Scenarios: specs}); err != nil {
		t.Fatal(err)
	}
}

// cancelWriter collects the demo's output and cancels when it first
// contains at.
type cancelWriter struct {
	mu     sync.Mutex
	b      strings.Builder
	at     string
	cancel context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if w.at != "" && strings.Contains(w.b.String(), w.at) {
		w.at = ""
		w.cancel()
	}
	return len(p), nil
}

func (w *cancelWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestRunCancelled: Ctrl-C in any phase (publishing the history, training,
// live) stops the demo cleanly: no error, "stopping", no ERROR log caused
// by the cancellation. It used to fail with "publish history: context
// canceled".
func TestRunCancelled(t *testing.T) {
	for _, tc := range []struct{ phase, at string }{
		{"history", "simulated fleet:"},
		{"history midway", "history:  33.3%"},
		{"training", "training: LSTM"},
		{"live", "live: the fleet runs"},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := &cancelWriter{at: tc.at, cancel: cancel}
			var logs cancelWriter
			err := Run(ctx, Options{
				Seed: 1, History: 3 * time.Hour, Live: time.Hour, Out: out,
				Train: training.TrainOptions{Epochs: 1, Hidden: 4},
				App: app.Options{ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(),
					Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))},
			})
			if err != nil {
				t.Fatalf("Run = %v after cancelling in the %s phase, want nil; output:\n%s", err, tc.phase, out)
			}
			if !strings.Contains(out.String(), "stopping") {
				t.Errorf("no \"stopping\" in the output:\n%s", out)
			}
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "level=ERROR") {
					t.Errorf("error logged on cancellation: %s", l)
				}
			}
		})
	}
}
