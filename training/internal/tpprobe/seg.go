package main

import (
	"fmt"

	"github.com/omen-sre/omen/training/metrics"
)

// perSegment prints, for every run of steps with one cause set that has a
// flagged step, the flagged steps, the segment's HitRate@150 and its
// aggregate's top dimensions.
func perSegment(rank []float64, f int, pred []bool, causes [][]int) {
	tp := metrics.DetectedRankings(rank, f, pred, causes)
	for a := 0; a < len(tp); {
		if len(causes[a]) == 0 {
			a++
			continue
		}
		b := a + 1
		for b < len(tp) && fmt.Sprint(causes[b]) == fmt.Sprint(causes[a]) {
			b++
		}
		k, r := 0, []int(nil)
		for t := a; t < b; t++ {
			if tp[t] != nil {
				k++
				r = tp[t]
			}
		}
		if k > 0 {
			h, _ := metrics.HitRate([][]int{r}, [][]int{causes[a]}, 150)
			fmt.Printf("    seg %d-%d len %d flagged %d HR@150 %.2f causes %v top %v\n", a, b, b-a, k, h, causes[a], r[:min(len(r), 6)])
		}
		a = b
	}
}
