package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/omen-sre/omen/training/internal/probe"
	"github.com/omen-sre/omen/training/metrics"
)

func main() {
	dir := flag.String("dir", "", "data set folder")
	pdir := flag.String("probe", "/tmp/probe", "probe folder (evalrun -dump)")
	ents := flag.String("entities", "", "comma-separated entities")
	span := flag.Int("rank-smooth", 20, "EWMA span of the ranking scores (as omen eval's default; ≤ 0: off)")
	verbose := flag.Bool("v", false, "print every interpretation interval with a flagged step")
	flag.Parse()
	var sum [2][2]float64
	n := 0
	for _, name := range strings.Split(*ents, ",") {
		e, thr, score, r32, err := probe.Load(*dir, *pdir, name)
		if err != nil {
			panic(err)
		}
		te := e.Test
		f := len(te.Features)
		if *span > 0 {
			a := float32(2.0 / float64(*span+1))
			for i := f; i < len(r32); i++ {
				r32[i] = a*r32[i] + (1-a)*r32[i-f]
			}
		}
		rank := make([]float64, len(r32))
		for i, v := range r32 {
			rank[i] = float64(v)
		}
		intervals := make([]metrics.Interval, len(e.Interpretation))
		for k, seg := range e.Interpretation {
			intervals[k] = metrics.Interval(seg)
		}
		best := bestPAThreshold(score, te.Labels)
		fmt.Printf("%s", name)
		for i, t := range []float64{thr, best} {
			pred := metrics.Threshold(score, t)
			tp := make([]bool, len(pred))
			for i := range tp {
				tp[i] = pred[i] && te.Labels[i]
			}
			ranks, causes := metrics.DetectedRankings(rank, f, tp, intervals)
			h100, k := metrics.HitRate(ranks, causes, 100)
			h150, _ := metrics.HitRate(ranks, causes, 150)
			if k == 0 {
				h100, h150 = 0, 0
			}
			sum[i][0] += h100
			sum[i][1] += h150
			label := "label-free"
			if i == 1 {
				label = "best-PA-F1 (test labels)"
			}
			fmt.Printf("  %s: thr %.4g PA-F1 %.3f steps %d HR-TP@100 %.3f HR-TP@150 %.3f", label, t, metrics.Adjusted(pred, te.Labels).F1, k, h100, h150)
			if *verbose {
				fmt.Println()
				perInterval(rank, f, tp, intervals)
			}
		}
		fmt.Println()
		n++
	}
	fmt.Printf("mean  label-free HR-TP@100 %.3f @150 %.3f  best-PA-F1 HR-TP@100 %.3f @150 %.3f\n",
		sum[0][0]/float64(n), sum[0][1]/float64(n), sum[1][0]/float64(n), sum[1][1]/float64(n))
}

// bestPAThreshold returns the threshold of best point-adjusted F1, the
// highest on ties (as cal_IPS's search keeps the first best from the most
// anomalous end). The best lies at a segment's peak: between peaks a lower
// threshold only adds false positives.
func bestPAThreshold(score []float64, label []bool) float64 {
	bestF, bestT := -1.0, 0.0
	for _, s := range metrics.Segments(label) {
		t := slices.Max(score[s[0]:s[1]])
		if f := metrics.Adjusted(metrics.Threshold(score, t), label).F1; f > bestF || (f == bestF && t > bestT) {
			bestF, bestT = f, t
		}
	}
	return bestT
}
