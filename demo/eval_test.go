package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/internal/testenv"
)

// TestEvalSmoke runs a small "omen eval sim" (two training fleets of 2
// simulated hours, 2 hours evaluated) so the evaluation path cannot rot; the
// reported figures come from full runs (docs/EVALUATION.md).
//
// Its output goes to a buffer, not a terminal: progress is a line at a
// time, without the carriage returns of a redrawn line, which a file or a
// pipe held ("\rhistory:   0.0%\rhistory:  50.0%…") (reviewer's finding).
func TestEvalSmoke(t *testing.T) {
	out := &testenv.SyncBuffer{}
	rep, err := Eval(context.Background(), EvalOptions{
		Options: Options{Seed: 3, History: 2 * time.Hour, Out: out,
			App: app.Options{ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(), Logger: quietLogger()}},
		Duration: 2 * time.Hour, TrainFleets: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scenarios == 0 || rep.Seed != 3 || rep.TrainSeed != 1003 || rep.TrainFleets != 2 || rep.Model == "" || rep.Members != 3 {
		t.Fatalf("unexpected report %+v", rep)
	}
	got := out.String()
	if strings.Contains(got, "\r") || !strings.Contains(got, "\nevaluated fleet: 50%\n") || !strings.Contains(got, "\nevaluated fleet: done\n") {
		t.Errorf("output to a buffer %q: want progress a line at a time, no carriage return", got)
	}
	t.Logf("smoke: %d scenarios, precision %.2f, recall %.2f", rep.Scenarios, rep.Precision, rep.Recall)
}

// TestTickProgress: on a terminal the line is redrawn every 240 ticks; on
// anything else a line a quarter.
func TestTickProgress(t *testing.T) {
	for _, tc := range []struct {
		tty  bool
		want string
	}{
		{false, "h: 25%\nh: 50%\nh: 75%\nh: done\n"},
		{true, "\rh:   0.0%\rh:  50.0%\rh: done\n"},
	} {
		var b bytes.Buffer
		p := &tickProgress{w: &b, tty: tc.tty, what: "h", ticks: 480}
		for seq := range 480 {
			p.tick(seq)
		}
		p.done()
		if b.String() != tc.want {
			t.Errorf("tty %v: %q, want %q", tc.tty, b.String(), tc.want)
		}
	}
}
