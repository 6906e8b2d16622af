package main

import (
	"flag"
	"fmt"
	"math"
	"strings"

	"github.com/omen-sre/omen/training/internal/probe"
	"github.com/omen-sre/omen/training/metrics"
)

func main() {
	dir := flag.String("dir", "", "data set folder")
	pdir := flag.String("probe", "/tmp/probe", "probe folder (evalrun -dump)")
	ents := flag.String("entities", "", "comma-separated entities")
	period := flag.Int("p", 1440, "period in steps")
	k := flag.Int("k", 5, "slack in steps")
	days := flag.Int("K", 3, "periods that must all show the residual (feature mode)")
	mode := flag.String("mode", "feature", "score or feature")
	flag.Parse()
	var sa, sb float64
	names := strings.Split(*ents, ",")
	for _, name := range names {
		e, thr, score, r32, err := probe.Load(*dir, *pdir, name)
		if err != nil {
			panic(err)
		}
		lab := e.Test.Labels
		f := len(e.Test.Features)
		n := len(score)
		s2 := make([]float64, n)
		switch *mode {
		case "score":
			for t := range score {
				m := 0.0
				for d := -*k; d <= *k; d++ {
					if u := t - *period + d; u >= 0 && u < n && score[u] > m {
						m = score[u]
					}
				}
				s2[t] = max(0, score[t]-m)
			}
		default:
			maxDiff := 0.0
			for t := range n {
				sum := 0.0
				for j := range f {
					r := float64(r32[t*f+j])
					sup := math.Inf(1)
					for i := 1; i <= *days; i++ {
						m := 0.0
						for d := -*k; d <= *k; d++ {
							u := t - i**period + d
							if u < 0 || u >= n {
								m = 0
								break
							}
							m = max(m, float64(r32[u*f+j]))
						}
						sup = min(sup, m)
					}
					if math.IsInf(sup, 1) {
						sup = 0
					}
					sum += max(0, r-sup)
				}
				// Check the dump's score is the mean of the features.
				full := 0.0
				for j := range f {
					full += float64(r32[t*f+j])
				}
				maxDiff = max(maxDiff, math.Abs(full/float64(f)-score[t])/max(score[t], 1e-9))
				s2[t] = sum / float64(f)
			}
			if maxDiff > 1e-3 {
				fmt.Printf("%s: the dumped score is not the mean of the features (relative difference %.3g)\n", name, maxDiff)
			}
		}
		a := metrics.Adjusted(metrics.Threshold(score, thr), lab)
		b := metrics.Adjusted(metrics.Threshold(s2, thr), lab)
		sa += a.F1
		sb += b.F1
		fmt.Printf("%s before P %.3f R %.3f F1 %.3f  after P %.3f R %.3f F1 %.3f\n", name, a.Precision, a.Recall, a.F1, b.Precision, b.Recall, b.F1)
	}
	fmt.Printf("mean PA-F1 before %.3f after %.3f\n", sa/float64(len(names)), sb/float64(len(names)))
}
