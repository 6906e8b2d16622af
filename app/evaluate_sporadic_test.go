package app

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSporadicSeriesDoNotHold: a series the features select whose
// samples are sporadic — one sample (a batch job's one-off push, a pod
// seen once), or one every few minutes — holds back none of the steps
// the fleet's samples pass, while the fleet sends every 15 s. Before, a
// series with a single sample reached only its own time (its interval
// unknown, 0): it held every later step for the 2 minutes it counted as
// sending, the same as the longest wait, so that no step counted as
// forced and no warning named it (a reviewer saw the last step frozen
// for 1.5–2 minutes after one sample published on NATS).
func TestSporadicSeriesDoNotHold(t *testing.T) {
	tests := []struct {
		name  string
		every int64 // ms between the sporadic series' samples (0: one sample)
	}{
		{name: "one sample"},
		{name: "one sample every 4m", every: 4 * 60_000},
		{name: "one sample every 3m", every: 3 * 60_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newInputsRig(t, settleTime, maxInputDelay)
			const scrape = 15_000
			base := int64(1_800_000_000_000) / r.step * r.step
			one := func(int64) float64 { return 1 }
			for ts := base - 10*60_000; ts <= base; ts += scrape {
				r.now = r.now.Add(scrape * time.Millisecond)
				r.send("a,b", []int64{ts}, one)
			}
			// Pod x's first sample comes with the fleet's at base+15s;
			// the fleet goes on for 10 minutes, the evaluator ticking
			// every second.
			for ts := base + scrape; ts <= base+10*60_000; ts += scrape {
				for range scrape/1000 - 1 {
					r.wait(time.Second)
				}
				r.now = r.now.Add(time.Second)
				r.send("a,b", []int64{ts}, one)
				if since := ts - base - scrape; since == 0 || (tt.every > 0 && since%tt.every == 0) {
					r.send("x", []int64{ts}, one)
				}
				if done, want := r.e.done.Load(), ts-r.step; done != want {
					t.Fatalf("fleet at %v: last step %v, want %v (%v steps waiting)", time.UnixMilli(ts).UTC(),
						time.UnixMilli(done).UTC(), time.UnixMilli(want).UTC(), testutil.ToFloat64(r.e.waiting))
				}
			}
			if f := testutil.ToFloat64(r.e.forced); f != 0 {
				t.Errorf("omen_evaluator_input_timeout_steps_total %v, want 0", f)
			}
			if got := len(r.vectors("x")); got == 0 {
				t.Error("no vector of pod x")
			}
		})
	}
}
