package app

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/store"
)

// TestExplainBackgroundGridWindows: the windows an explanation is
// computed against are windows the scorer holds at those steps: an
// entity's stored vectors on the step grid, a missing step a row of NaN
// (more than W missing: the window starts afresh), an absent entity's
// vector (stored for its failure label) no row, the windows ending at the
// steps with a row and spanning no failure label, drawn every W/2 of them
// from the newest back. Before, the background put the stored vectors one
// after another (the rows of steps 18, 19, 22, 23 for a window the scorer
// holds as 20 and 21 missing, 22, 23) and the absent entity's vector was a
// row.
func TestExplainBackgroundGridWindows(t *testing.T) {
	const w, last = 4, 39
	steps := func(from, to int64, except ...int64) []int64 {
		var out []int64
		for k := from; k <= to; k++ {
			if !slices.Contains(except, k) {
				out = append(out, k)
			}
		}
		return out
	}
	tests := []struct {
		name            string
		present, absent []int64
		// missing: some background window has a missing step.
		missing bool
	}{
		{name: "gap and absent", present: steps(0, last, 20, 21, 30), absent: []int64{30}, missing: true},
		{name: "W steps missing", present: steps(0, last, 24, 25, 26, 27, 33), absent: []int64{33}, missing: true},
		// 10–15 missing: the window starts afresh at 16 (no window ends
		// at 16–18).
		{name: "window starts afresh", present: steps(0, last, 10, 11, 12, 13, 14, 15, 31), absent: []int64{31}},
		// The windows spanning 28 span its failure label: none is drawn,
		// but there is no window ending at 28.
		{name: "absent entity only", present: steps(0, last, 28), absent: []int64{28}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newGapRun(t, w, tc.present, tc.absent)
			s, st := newTestScorer(t, r.cfg, r.m, prometheus.NewRegistry())
			if err := st.PutSchema(r.names, r.cfg.LabelNames()); err != nil {
				t.Fatal(err)
			}
			// The scorer's windows of W rows, by the step they end at.
			type window struct {
				k      int64
				rows   []float32
				normal bool
			}
			var live []window
			for k := int64(0); k <= last; k++ {
				r.live(t, s, st, k, k+1)
				h := s.windows["ns/a"]
				if h == nil || h.last != k*r.step || h.n < w {
					continue
				}
				win := window{k: k, normal: true}
				for j := h.n - w; j < h.n; j++ {
					win.rows = append(win.rows, h.row(j)...)
				}
				for _, a := range tc.absent { // the failure labels
					win.normal = win.normal && (a <= k-w || a > k)
				}
				live = append(live, win)
			}
			var want []window
			for i := len(live) - 1; i >= 0 && len(want) < backgroundWindows; i -= w / 2 {
				if live[i].normal {
					want = append(want, live[i])
				}
			}
			if len(want) < 4 {
				t.Fatalf("%d background windows expected: the test wants at least 4 (else the background is the means)", len(want))
			}
			// The explained window starts at the step after the last.
			p := prediction{Prediction: store.Prediction{ID: predictionID("ns/a", (last+w)*r.step), Entity: "ns/a", T: (last + w) * r.step}}
			got := newExplainer(st, s, r.cfg).background(r.m, p)
			if len(got) != len(want) {
				t.Errorf("%d background windows, want %d", len(got), len(want))
			}
			nan := 0
			for i := range min(len(got), len(want)) {
				if !sameRows(got[i], want[i].rows) {
					nf := len(r.names)
					t.Errorf("background window %d: rows of steps %v, want the scorer's window ending at step %d: %v", i, firstColumn(got[i], nf), want[i].k, firstColumn(want[i].rows, nf))
				}
				for _, x := range want[i].rows {
					if x != x {
						nan++
					}
				}
			}
			if (nan > 0) != tc.missing {
				t.Errorf("%d missing values in the background windows; want some: %v", nan, tc.missing)
			}
		})
	}
}

// firstColumn is a window's first feature, row by row: in a gapRun, the
// step of the row (NaN for a missing one).
func firstColumn(win []float32, nf int) []float32 {
	var out []float32
	for i := 0; i+nf <= len(win); i += nf {
		out = append(out, win[i])
	}
	return out
}
