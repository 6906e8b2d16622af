package main

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/omen-sre/omen/training/internal/probe"

	"github.com/omen-sre/omen/training/metrics"
)

func bestPA(score []float64, labels []bool) float64 {
	qs := slices.Clone(score)
	slices.Sort(qs)
	best := 0.0
	for i := 0; i < 400; i++ {
		p := 0.9 + 0.1*float64(i)/400
		thr := qs[min(int(p*float64(len(qs))), len(qs)-1)]
		pa := metrics.Adjusted(metrics.Threshold(score, thr), labels)
		best = max(best, pa.F1)
	}
	return best
}

func main() {
	dir := flag.String("dir", "", "")
	pdir := flag.String("probe", "/tmp/probe", "")
	ents := flag.String("entities", "", "")
	flag.Parse()
	for _, name := range strings.Split(*ents, ",") {
		e, _, score, r, err := probe.Load(*dir, *pdir, name)
		if err != nil {
			panic(err)
		}
		te := e.Test
		f := len(te.Features)
		n := len(score)
		type agg struct {
			name string
			fn   func(row []float32) float64
		}
		aggs := []agg{{"mean", func(row []float32) float64 {
			s := 0.0
			for _, v := range row {
				s += float64(v)
			}
			return s / float64(len(row))
		}}}
		for _, c := range []float64{30, 100, 300, 1000} {
			aggs = append(aggs, agg{fmt.Sprintf("clip%g", c), func(row []float32) float64 {
				s := 0.0
				for _, v := range row {
					s += min(float64(v), c)
				}
				return s / float64(len(row))
			}})
		}
		aggs = append(aggs, agg{"logmean", func(row []float32) float64 {
			s := 0.0
			for _, v := range row {
				s += math.Log1p(float64(v))
			}
			return s / float64(len(row))
		}})
		aggs = append(aggs, agg{"sqrtmean", func(row []float32) float64 {
			s := 0.0
			for _, v := range row {
				s += math.Sqrt(float64(v))
			}
			return s / float64(len(row))
		}})
		for _, k := range []int{2, 3, 5} {
			aggs = append(aggs, agg{fmt.Sprintf("kth%d", k), func(row []float32) float64 {
				c := slices.Clone(row)
				slices.Sort(c)
				return float64(c[len(c)-k])
			}})
		}
		for _, a := range aggs {
			s := make([]float64, n)
			for t := range int(n) {
				s[t] = a.fn(r[t*f : (t+1)*f])
			}
			fmt.Printf("%s %-10s AUC-PR %.3f best-PA-F1 %.3f\n", name, a.name, metrics.AveragePrecision(s, te.Labels), bestPA(s, te.Labels))
		}
	}
}
