package trainrun

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/config"
)

// TestTrainOnsetLabels: omen train labels a window positive only when a
// failure begins within the horizon after its last step, never when its
// last step is already failing (such windows are no examples, as in the
// demo's training), so that the model learns the precursors of a
// failure, not the failure under way. Every positive, in training and in
// validation, is then one of the H windows just before a failure onset.
// Before, the windows ending inside a failure were positives too (H +
// length − 1 per failure), and models trained with omen train --source
// store alerted, up to critical, for as long as each failure lasted
// (reviewer's finding).
func TestTrainOnsetLabels(t *testing.T) {
	for _, tc := range []struct {
		name string
		// options returns the training options of the history written
		// under dir.
		options func(t *testing.T, dir string) Options
		// trainOnsets and valOnsets are the failure onsets of the
		// history before and after the 80 % cut (failures of 5 and 6
		// steps, well apart and none across the cut).
		trainOnsets, valOnsets int
	}{
		// Offline store, 200 steps of 3 pods (the cut at step 160):
		// pod-0 fails at steps 91-96 and 188-193.
		{name: "store", trainOnsets: 1, valOnsets: 1, options: func(t *testing.T, dir string) Options {
			writeStore(t, dir, 30*time.Second, 100)
			o, _ := options(dir)
			return o
		}},
		// 400 rows (the cut at row 320) failing at rows 45-49 of every
		// 50: onsets at 45, …, 295 and at 345, 395.
		{name: "csv", trainOnsets: 6, valOnsets: 2, options: func(t *testing.T, dir string) Options {
			var b strings.Builder
			b.WriteString("t,a,b,label\n")
			for i := range 400 {
				fmt.Fprintf(&b, "%d,%g,%g,%d\n", i, math.Sin(float64(i)/5), math.Cos(float64(i)/7), min(1, i%50/45))
			}
			file := filepath.Join(dir, "e.csv")
			if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			o, _ := options(dir)
			o.Source, o.Dir, o.Config = "csv", file, config.Default()
			return o
		}},
		// The same failures with a label that blinks (rows 45, 47 and
		// 49 of every 50, as an event-based label through a crash loop):
		// one failure each, not three (positives in the gaps, inside the
		// failure, made models alert during failures).
		{name: "csv blinking", trainOnsets: 6, valOnsets: 2, options: func(t *testing.T, dir string) Options {
			var b strings.Builder
			b.WriteString("t,a,b,label\n")
			for i := range 400 {
				fmt.Fprintf(&b, "%d,%g,%g,%d\n", i, math.Sin(float64(i)/5), math.Cos(float64(i)/7), min(1, i%50/45)*(i%2))
			}
			file := filepath.Join(dir, "e.csv")
			if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			o, _ := options(dir)
			o.Source, o.Dir, o.Config = "csv", file, config.Default()
			return o
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.options(t, t.TempDir())
			res, err := Train(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = res.Close() })
			rep, h := res.Report, o.Train.Horizon
			if rep.ValOnsets != tc.valOnsets {
				t.Fatalf("%d validation onsets, want %d", rep.ValOnsets, tc.valOnsets)
			}
			if rep.Positives != h*tc.trainOnsets || rep.ValPositives != h*tc.valOnsets {
				t.Errorf("%d train and %d validation positives, want %d and %d: H = %d windows before each of %d and %d onsets",
					rep.Positives, rep.ValPositives, h*tc.trainOnsets, h*tc.valOnsets, h, tc.trainOnsets, tc.valOnsets)
			}
		})
	}
}
