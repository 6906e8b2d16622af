package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/omen-sre/omen/training/internal/probe"
	"github.com/omen-sre/omen/training/metrics"
)

func main() {
	dir := flag.String("dir", "", "data set folder")
	pdir := flag.String("probe", "/tmp/probe", "probe folder (evalrun -dump)")
	ents := flag.String("entities", "", "comma-separated entities")
	mult := flag.Float64("m", 1, "threshold multiplier")
	flag.Parse()
	for _, name := range strings.Split(*ents, ",") {
		e, thr, score, r32, err := probe.Load(*dir, *pdir, name)
		if err != nil {
			panic(err)
		}
		thr *= *mult
		te := e.Test
		f := len(te.Features)
		pred := metrics.Threshold(score, thr)
		pa := metrics.Adjusted(pred, te.Labels)
		fmt.Printf("%s thr %.4g PA P %.3f R %.3f F1 %.3f\n", name, thr, pa.Precision, pa.Recall, pa.F1)
		fp := 0
		for t := 0; t < len(score); {
			if !pred[t] || te.Labels[t] {
				t++
				continue
			}
			a := t
			mx, at := 0.0, t
			for t < len(score) && pred[t] && !te.Labels[t] {
				if score[t] > mx {
					mx, at = score[t], t
				}
				t++
			}
			fp += t - a
			o := make([]float64, f)
			for j := range f {
				o[j] = float64(r32[at*f+j])
			}
			top := probe.OneBased(metrics.RankDims(o)[:3])
			fmt.Printf("  fp %6d-%6d len %4d peak/thr %6.2f top dims (1-based) %v\n", a, t, t-a, mx/thr, top)
		}
		fmt.Printf("  %d false-positive steps\n", fp)
	}
}
