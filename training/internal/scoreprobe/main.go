package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/omen-sre/omen/training/internal/probe"

	"github.com/omen-sre/omen/training/metrics"
	"github.com/omen-sre/omen/training/threshold"
)

func main() {
	dir := flag.String("dir", "", "")
	pdir := flag.String("probe", "/tmp/probe", "")
	ents := flag.String("entities", "", "")
	flag.Parse()
	for _, name := range strings.Split(*ents, ",") {
		e, thr, score, r32, err := probe.Load(*dir, *pdir, name)
		if err != nil {
			panic(err)
		}
		te := e.Test
		f := len(te.Features)
		var normal []float64
		for t, l := range te.Labels {
			if !l {
				normal = append(normal, score[t])
			}
		}
		q := func(p float64) float64 { return threshold.Quantile(normal, p) }
		fmt.Printf("%s thr %.3g normal-test q50 %.3g q90 %.3g q99 %.3g q999 %.3g max %.3g\n", name, thr, q(.5), q(.9), q(.99), q(.999), q(1))
		// label-free test-fitted robust POT
		for _, risk := range []float64{1e-3, 1e-2} {
			p, _ := threshold.RobustPOT(score, threshold.POTOptions{Risk: risk, Level: 0.98})
			pred := metrics.Threshold(score, p.Threshold)
			pa := metrics.Adjusted(pred, te.Labels)
			fmt.Printf("   test-fitted robust POT q=%g thr %.3g PA-F1 %.3f\n", risk, p.Threshold, pa.F1)
		}
		for _, seg := range metrics.Segments(te.Labels) {
			a, b := seg[0], seg[1]
			mx, at := 0.0, 0
			for t := a; t < b; t++ {
				if score[t] > mx {
					mx, at = score[t], t
				}
			}
			row := slices.Clone(r32[at*f : (at+1)*f])
			o := make([]float64, f)
			for j := range f {
				o[j] = float64(row[j])
			}
			top := metrics.RankDims(o)[:3]
			above := 0
			for _, v := range normal {
				if v >= mx {
					above++
				}
			}
			fmt.Printf("   seg %5d-%5d len %3d max/thr %.2f normal steps ≥ its peak %d top dims %v (%.1f %.1f %.1f) causes %v\n", a, b, b-a, mx/thr, above, top, o[top[0]], o[top[1]], o[top[2]], te.Causes[a])
		}
	}
}
