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

func ewma(x []float64, f, span int) {
	if span <= 0 {
		return
	}
	a := 2.0 / float64(span+1)
	for i := f; i < len(x); i++ {
		x[i] = a*x[i] + (1-a)*x[i-f]
	}
}

func peak(x []float64, f, halfLife int) {
	l := math.Pow(0.5, 1/float64(halfLife))
	for i := f; i < len(x); i++ {
		x[i] = max(x[i], l*x[i-f])
	}
}

func hr(rank []float64, f int, causes [][]int, p float64) float64 {
	n := len(causes)
	ranks := make([][]int, n)
	for t := range n {
		if len(causes[t]) == 0 {
			continue
		}
		ranks[t] = metrics.RankDims(rank[t*f : (t+1)*f])
	}
	h, _ := metrics.HitRate(ranks, causes, p)
	return h
}

func main() {
	dir := flag.String("dir", "", "")
	pdir := flag.String("probe", "/tmp/probe", "")
	ents := flag.String("entities", "", "")
	verbose := flag.Bool("v", false, "")
	flag.Parse()
	for _, name := range strings.Split(*ents, ",") {
		e, thr, score, r32, err := probe.Load(*dir, *pdir, name)
		if err != nil {
			panic(err)
		}
		te, tr := e.Test, e.Train
		te.FillMissing()
		tr.FillMissing()
		f := len(te.Features)
		n := len(score)
		raw := make([]float64, len(r32))
		for i, v := range r32 {
			raw[i] = float64(v)
		}
		// training robust level stats
		med := make([]float64, f)
		mad := make([]float64, f)
		col := make([]float64, tr.Steps())
		for j := range f {
			for t := range tr.Steps() {
				col[t] = tr.Values[t*f+j]
			}
			c := slices.Clone(col)
			slices.Sort(c)
			med[j] = c[len(c)/2]
			for i := range c {
				c[i] = math.Abs(col[i] - med[j])
			}
			slices.Sort(c)
			mad[j] = math.Max(c[len(c)/2]*1.4826, 1e-2)
		}
		level := make([]float64, len(raw))
		for t := range int(n) {
			for j := range f {
				d := (te.Values[t*f+j] - med[j]) / mad[j]
				level[t*f+j] = d * d
			}
		}
		out := func(lbl string, r []float64) {
			fmt.Printf("%s %-28s HR@100 %.3f HR@150 %.3f\n", name, lbl, hr(r, f, te.Causes, 100), hr(r, f, te.Causes, 150))
		}
		for _, sp := range []int{0, 5, 20, 60, 200} {
			r := slices.Clone(raw)
			ewma(r, f, sp)
			out(fmt.Sprintf("resid-ewma%d", sp), r)
		}
		// sqrt (rms) vs squared doesn't change per-step ranking w/o smoothing; with smoothing:
		for _, sp := range []int{0, 5, 20, 60} {
			r := slices.Clone(raw)
			for i := range r {
				r[i] = math.Sqrt(r[i])
			}
			ewma(r, f, sp)
			out(fmt.Sprintf("abs-resid-ewma%d", sp), r)
			r2 := slices.Clone(raw)
			for i := range r2 {
				r2[i] = math.Log1p(r2[i])
			}
			ewma(r2, f, sp)
			out(fmt.Sprintf("log-resid-ewma%d", sp), r2)
		}
		for _, sp := range []int{0, 20} {
			r := slices.Clone(level)
			ewma(r, f, sp)
			out(fmt.Sprintf("level-ewma%d", sp), r)
		}
		// combination: resid ewma20 + level
		for _, wl := range []float64{0.1, 1} {
			r := slices.Clone(raw)
			ewma(r, f, 20)
			for i := range r {
				r[i] += wl * level[i]
			}
			out(fmt.Sprintf("resid20+%.1flevel", wl), r)
		}
		for _, sp := range []int{0, 5, 20} {
			for _, hl := range []int{50, 100, 200, 400, 1000} {
				for _, lg := range []bool{false, true} {
					r := slices.Clone(raw)
					if lg {
						for i := range r {
							r[i] = math.Log1p(r[i])
						}
					}
					ewma(r, f, sp)
					peak(r, f, hl)
					out(fmt.Sprintf("peak-e%d-h%d-log%v", sp, hl, lg), r)
				}
			}
		}
		// deviation from the pre-episode level inside detected episodes
		sd := make([]float64, f)
		{
			mean := make([]float64, f)
			for t := range tr.Steps() {
				for j := range f {
					mean[j] += tr.Values[t*f+j]
				}
			}
			for j := range f {
				mean[j] /= float64(tr.Steps())
			}
			for t := range tr.Steps() {
				for j := range f {
					d := tr.Values[t*f+j] - mean[j]
					sd[j] += d * d
				}
			}
			for j := range f {
				sd[j] = math.Max(math.Sqrt(sd[j]/float64(tr.Steps())), 1e-2)
			}
		}
		for _, gap := range []int{50, 200} {
			for _, useMad := range []bool{false, true} {
				r := slices.Clone(raw)
				ewma(r, f, 20)
				inEp, last, start := false, -1<<30, 0
				base := make([]float64, f)
				for t := range int(n) {
					if score[t] > thr {
						if !inEp || t-last > gap {
							inEp, start = true, t
							for j := range f {
								s := 0.0
								k := 0
								for u := max(0, t-60); u < max(0, t-10); u++ {
									s += te.Values[u*f+j]
									k++
								}
								if k == 0 {
									s, k = te.Values[t*f+j], 1
								}
								base[j] = s / float64(k)
							}
						}
						last = t
					}
					_ = start
					if inEp && t-last <= gap {
						for j := range f {
							sc := sd[j]
							if useMad {
								sc = mad[j]
							}
							d := (te.Values[t*f+j] - base[j]) / sc
							r[t*f+j] = 1e6 + d*d
						}
					} else {
						inEp = false
					}
				}
				out(fmt.Sprintf("episode-dev-g%d-mad%v", gap, useMad), r)
			}
		}
		if *verbose {
			r := slices.Clone(raw)
			ewma(r, f, 20)
			for _, seg := range metrics.Segments(te.Labels) {
				a, b := seg[0], seg[1]
				h := hr(r[a*f:b*f], f, te.Causes[a:b], 150)
				// average rank position of each dim over the segment
				pos := make([]float64, f)
				for t := a; t < b; t++ {
					o := metrics.RankDims(r[t*f : (t+1)*f])
					for k, j := range o {
						pos[j] += float64(k)
					}
				}
				idx := make([]int, f)
				for j := range idx {
					idx[j] = j
				}
				slices.SortFunc(idx, func(x, y int) int { return int(pos[x] - pos[y]) })
				top := []string{}
				for _, j := range idx[:8] {
					m := ""
					if slices.Contains(te.Causes[a], j) {
						m = "*"
					}
					top = append(top, fmt.Sprintf("%s%d", m, j+1))
				}
				cs := []string{}
				for _, j := range te.Causes[a] {
					cs = append(cs, fmt.Sprintf("%d(%.0f)", j+1, pos[j]/float64(b-a)))
				}
				mx := 0.0
				for t := a; t < b; t++ {
					mx = max(mx, score[t])
				}
				fmt.Printf("  seg %5d-%5d len %3d HR150 %.2f maxscore/thr %.2f causes %v top %v\n", a, b, b-a, h, mx/thr, cs, top)
			}
		}
	}
}
