package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/omen-sre/omen/training/dataset"
	"github.com/omen-sre/omen/training/metrics"
)

func robust(col []float64) (med, mad float64) {
	c := slices.Clone(col)
	slices.Sort(c)
	med = c[len(c)/2]
	for i := range c {
		c[i] = math.Abs(col[i] - med)
	}
	slices.Sort(c)
	return med, c[len(c)/2] * 1.4826
}

func main() {
	dir := flag.String("dir", "", "")
	ents := flag.String("entities", "", "")
	verbose := flag.Bool("v", false, "")
	flag.Parse()
	for _, name := range strings.Split(*ents, ",") {
		e, err := dataset.LoadEntity(*dir, name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		tr, te := e.Train, e.Test
		tr.FillMissing()
		te.FillMissing()
		f := len(tr.Features)
		med := make([]float64, f)
		mad := make([]float64, f)
		mean := make([]float64, f)
		sd := make([]float64, f)
		col := make([]float64, tr.Steps())
		for j := range f {
			for t := range tr.Steps() {
				col[t] = tr.Values[t*f+j]
				mean[j] += col[t]
			}
			mean[j] /= float64(len(col))
			for _, v := range col {
				sd[j] += (v - mean[j]) * (v - mean[j])
			}
			sd[j] = math.Sqrt(sd[j] / float64(len(col)))
			med[j], mad[j] = robust(col)
		}
		n := te.Steps()
		type cand struct {
			name  string
			score func(t, j int) float64
		}
		floor := func(v, fl float64) float64 { return math.Max(v, fl) }
		cands := []cand{
			{"z-train", func(t, j int) float64 { return math.Abs(te.Values[t*f+j]-mean[j]) / floor(sd[j], 1e-3) }},
			{"robust-z-train", func(t, j int) float64 { return math.Abs(te.Values[t*f+j]-med[j]) / floor(mad[j], 1e-2) }},
			{"robust-z-train-sdfloor", func(t, j int) float64 {
				return math.Abs(te.Values[t*f+j]-med[j]) / floor(mad[j], floor(0.1*sd[j], 1e-3))
			}},
			{"abs-dev-med", func(t, j int) float64 { return math.Abs(te.Values[t*f+j] - med[j]) }},
		}
		// Leave-one-out Gaussian conditional residual: z_j = (P x)_j / sqrt(P_jj).
		for _, ridge := range []float64{1e-3, 1e-2, 1e-1} {
			cov := mat.NewSymDense(f, nil)
			sdf := make([]float64, f)
			for j := range f {
				sdf[j] = math.Max(sd[j], 1e-3)
			}
			z := make([]float64, f)
			for t := range tr.Steps() {
				for j := range f {
					z[j] = (tr.Values[t*f+j] - mean[j]) / sdf[j]
				}
				cov.SymRankOne(cov, 1/float64(tr.Steps()), mat.NewVecDense(f, z))
			}
			for j := range f {
				cov.SetSym(j, j, cov.At(j, j)+ridge)
			}
			var P mat.Dense
			if err := P.Inverse(cov); err != nil {
				panic(err)
			}
			pz := make([][]float64, n)
			for t := range n {
				for j := range f {
					z[j] = (te.Values[t*f+j] - mean[j]) / sdf[j]
				}
				pz[t] = make([]float64, f)
				for j := range f {
					s := 0.0
					for k := range f {
						s += P.At(j, k) * z[k]
					}
					pz[t][j] = math.Abs(s) / math.Sqrt(P.At(j, j))
				}
			}
			cands = append(cands, cand{fmt.Sprintf("loo-gauss-%g", ridge), func(t, j int) float64 { return pz[t][j] }})
		}
		for _, c := range cands {
			ranks := make([][]int, n)
			row := make([]float64, f)
			for t := range n {
				if len(te.Causes[t]) == 0 {
					continue
				}
				for j := range f {
					row[j] = c.score(t, j)
				}
				ranks[t] = metrics.RankDims(row)
			}
			h100, _ := metrics.HitRate(ranks, te.Causes, 100)
			h150, _ := metrics.HitRate(ranks, te.Causes, 150)
			fmt.Printf("%s %-24s HR@100 %.3f HR@150 %.3f\n", name, c.name, h100, h150)
		}
		if *verbose {
			for _, seg := range metrics.Segments(te.Labels) {
				a, b := seg[0], seg[1]
				fmt.Printf("seg %d-%d causes %v\n", a, b, te.Causes[a])
				for j := range f {
					sm, pm := 0.0, 0.0
					for t := a; t < b; t++ {
						sm += te.Values[t*f+j]
					}
					sm /= float64(b - a)
					p0 := max(0, a-100)
					for t := p0; t < a; t++ {
						pm += te.Values[t*f+j]
					}
					pm /= float64(max(1, a-p0))
					mark := " "
					if slices.Contains(te.Causes[a], j) {
						mark = "*"
					}
					fmt.Printf("  %s d%-2d seg %.3f pre %.3f trmed %.3f mad %.4f sd %.4f\n", mark, j+1, sm, pm, med[j], mad[j], sd[j])
				}
			}
		}
	}
}
