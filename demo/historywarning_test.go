package demo

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/training"
)

// TestHistoryWarning: a training whose model can never alert (failure
// threshold 1) or whose threshold no validation failure checked gets a
// warning naming the history and the history to use; one with validation
// failures and a threshold under 1 gets none.
func TestHistoryWarning(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    time.Duration
		rep  training.TrainReport
		want []string // substrings; none: no warning
	}{
		{"no failure", time.Hour, training.TrainReport{Thresholds: model.Thresholds{Failure: 1}},
			[]string{"the model can never alert (failure threshold 1): the 1h of simulated history held no failure to learn from; use --history 12h or more"}},
		{"failures only in validation", 90 * time.Minute, training.TrainReport{ValPositives: 40, Thresholds: model.Thresholds{Failure: 1}},
			[]string{"the model can never alert (failure threshold 1): the 1h30m of simulated history held too few failures (0 failure windows in its training part, 40 in its validation part); use --history 12h or more"}},
		{"no validation failure", 2 * time.Hour, training.TrainReport{Positives: 30, Thresholds: model.Thresholds{Failure: 0.02}},
			[]string{"failure threshold 0.02 was set with no failure to check it on", "the 2h of simulated history", "use --history 12h or more"}},
		{"enough", 24 * time.Hour, training.TrainReport{Positives: 900, ValPositives: 200, Thresholds: model.Thresholds{Failure: 0.6}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := historyWarning(tc.d, tc.rep)
			if len(tc.want) == 0 && got != "" {
				t.Fatalf("historyWarning = %q, want none", got)
			}
			if len(tc.want) > 0 && got == "" {
				t.Fatalf("no warning, want one with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("historyWarning = %q, want it to hold %q", got, w)
				}
			}
		})
	}
}

// TestRunShortHistoryWarns: omen demo --history 1h trains on a history
// without a failure, whose model (threshold 1) can never alert: the demo
// says so after the training line. It said nothing.
func TestRunShortHistoryWarns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const live = "live: the fleet runs"
	out := &cancelWriter{at: live, cancel: cancel}
	err := Run(ctx, Options{
		Seed: 1, History: time.Hour, Live: time.Hour, Out: out,
		Train: training.TrainOptions{Epochs: 1, Hidden: 4},
		App: app.Options{ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(),
			Logger: slog.New(slog.DiscardHandler)},
	})
	text := out.String()
	if err != nil || !strings.Contains(text, live) {
		t.Fatalf("Run = %v; output:\n%s", err, text)
	}
	if want := "WARNING: the model can never alert (failure threshold 1): the 1h of simulated history held no failure to learn from; use --history 12h or more\n"; !strings.Contains(text, want) {
		t.Fatalf("no warning %q in the output:\n%s", want, text)
	}
}
