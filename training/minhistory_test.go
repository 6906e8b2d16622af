package training

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/omen-sre/omen/training/dataset"
)

// TestMinHistorySteps: the minimum history includes the anomaly
// threshold's 20 validation windows (one entity of the documented 168
// steps trained every epoch and then failed "pot: 2 finite scores, want at
// least 20"); several entities share them.
func TestMinHistorySteps(t *testing.T) {
	for _, tc := range []struct {
		w, h, entities, want int
	}{
		{32, 10, 1, 258},
		{32, 10, 2, 208},
		{32, 10, 29, 168}, // the demo's fleet: MinTimeSplitSteps
		{8, 4, 1, 138},
	} {
		if got := MinHistorySteps(tc.w, tc.h, 0.2, tc.entities); got != tc.want {
			t.Errorf("MinHistorySteps(%d, %d, 0.2, %d) = %d, want %d", tc.w, tc.h, tc.entities, got, tc.want)
		}
	}
}

// TestTrainRefusesTooFewValWindows: a history too short for the anomaly
// threshold is refused before any epoch runs, naming the true minimum; at
// the minimum it trains.
func TestTrainRefusesTooFewValWindows(t *testing.T) {
	noisy := func(name string, n int) *dataset.Series {
		r := rand.New(rand.NewPCG(uint64(n), uint64(len(name))))
		s := &dataset.Series{Entity: name, Features: []string{"a"}, Step: 15_000}
		for range n {
			s.Values = append(s.Values, r.NormFloat64())
		}
		return s
	}
	const min = 138 // window 8, horizon 4: 28 validation steps, 20 windows
	for _, tc := range []struct {
		src  memSource
		want string // "": trains
	}{
		{memSource{noisy("a", min-1)}, "19 validation windows, the anomaly threshold needs at least 20: " +
			"with window 8, horizon 4 and the last 0.2 of each history for validation, an entity's validation part gives one window per step beyond the first 8, " +
			"so one entity alone needs at least 138 steps (the longest, \"a\", has 137 at a 15s step: 34m15s of history)"},
		{memSource{noisy("a", 80), noisy("b", 80)}, "16 validation windows, the anomaly threshold needs at least 20: " +
			"with window 8, horizon 4 and the last 0.2 of each history for validation, an entity's validation part gives one window per step beyond the first 8, " +
			"so one entity alone needs at least 138 steps, 2 of equal length at least 88 each (the longest"},
		{memSource{noisy("a", 100), noisy("b", 100)}, ""}, // 12 validation windows each
		{memSource{noisy("a", min)}, ""},
	} {
		var progress bytes.Buffer
		_, _, err := Train(t.Context(), TrainOptions{Source: tc.src, Window: 8, Horizon: 4, Hidden: 2, Epochs: 3, Seed: 1, Progress: &progress})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%d entities of %d steps: %v", len(tc.src), tc.src[0].Steps(), err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%d entities of %d steps: %v; want %q…", len(tc.src), tc.src[0].Steps(), err, tc.want)
		case tc.want != "" && progress.Len() > 0:
			t.Errorf("%d entities of %d steps: refused after training: %q", len(tc.src), tc.src[0].Steps(), progress.String())
		}
	}
}
