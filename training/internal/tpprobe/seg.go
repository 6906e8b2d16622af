package main

import (
	"fmt"

	"github.com/omen-sre/omen/training/internal/probe"
	"github.com/omen-sre/omen/training/metrics"
)

// perInterval prints, for every interpretation interval with a true
// positive, its true-positive steps, its HitRate@150 % and its aggregate's
// top dimensions (1-based, as in the interpretation files).
func perInterval(rank []float64, f int, tp []bool, intervals []metrics.Interval) {
	ranks, _ := metrics.DetectedRankings(rank, f, tp, intervals)
	for k, iv := range intervals {
		// The steps this interval owns: the first interval containing a
		// step owns it.
		var r []int
		n := 0
		for t := iv.Start; t <= iv.End && t < len(ranks); t++ {
			if ranks[t] == nil || owner(intervals, t) != k {
				continue
			}
			n++
			r = ranks[t]
		}
		if n == 0 {
			continue
		}
		h, _ := metrics.HitRate([][]int{r}, [][]int{iv.Dims}, 150)
		fmt.Printf("    interval %d-%d flagged %d HR@150 %.2f causes %v top %v\n", iv.Start, iv.End, n, h, probe.OneBased(iv.Dims), probe.OneBased(r[:min(len(r), 6)]))
	}
}

func owner(intervals []metrics.Interval, t int) int {
	for k, iv := range intervals {
		if iv.Start <= t && t <= iv.End {
			return k
		}
	}
	return -1
}
