package demo

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/omen-sre/omen/app"
)

// TestEvalSmoke runs a small "omen eval sim" (two training fleets of 2
// simulated hours, 2 hours evaluated) so the evaluation path cannot rot; the
// reported figures come from full runs (docs/EVALUATION.md).
func TestEvalSmoke(t *testing.T) {
	rep, err := Eval(context.Background(), EvalOptions{
		Options: Options{Seed: 3, History: 2 * time.Hour, Out: io.Discard,
			App: app.Options{ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(), Logger: quietLogger()}},
		Duration: 2 * time.Hour, TrainFleets: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scenarios == 0 || rep.Seed != 3 || rep.TrainSeed != 1003 || rep.TrainFleets != 2 || rep.Model == "" || rep.Members != 3 {
		t.Fatalf("unexpected report %+v", rep)
	}
	t.Logf("smoke: %d scenarios, precision %.2f, recall %.2f", rep.Scenarios, rep.Precision, rep.Recall)
}
