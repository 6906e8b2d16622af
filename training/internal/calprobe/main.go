package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/omen-sre/omen/training/dataset"
	"github.com/omen-sre/omen/training/internal/probe"
	"github.com/omen-sre/omen/training/metrics"
)

// grid is m = 0.20, 0.25, …, 2.00 (37 values, 1.00 included exactly).
func grid() []float64 {
	var g []float64
	for i := 20; i <= 200; i += 5 {
		g = append(g, float64(i)/100)
	}
	return g
}

// curve holds, per grid value, PA-F1 and point F1 of score >= m*thr.
type curve struct{ pa, f1 []float64 }

func evalCurve(g []float64, thr float64, score []float64, labels []bool) (curve, error) {
	if len(score) != len(labels) {
		return curve{}, fmt.Errorf("%d scores, %d labels", len(score), len(labels))
	}
	c := curve{pa: make([]float64, len(g)), f1: make([]float64, len(g))}
	for i, m := range g {
		pred := metrics.Threshold(score, m*thr)
		c.pa[i] = metrics.Adjusted(pred, labels).F1
		c.f1[i] = metrics.PointWise(pred, labels).F1
	}
	return c, nil
}

func load(dataDir, probeDir, name string, g []float64) (curve, float64, error) {
	e, thr, score, _, err := probe.Load(dataDir, probeDir, name)
	if err != nil {
		return curve{}, 0, err
	}
	c, err := evalCurve(g, thr, score, e.Test.Labels)
	if err != nil {
		return curve{}, 0, fmt.Errorf("%s in %s: %w", name, probeDir, err)
	}
	return c, thr, nil
}

// argmax returns the index chosen by the tie rule.
func argmax(v []float64, g []float64) int {
	best := math.Inf(-1)
	for _, x := range v {
		best = max(best, x)
	}
	var tied []int
	for i, x := range v {
		if x >= best-1e-12 {
			tied = append(tied, i)
		}
	}
	mid := (g[tied[0]] + g[tied[len(tied)-1]]) / 2
	pick := tied[0]
	for _, i := range tied {
		if math.Abs(g[i]-mid) < math.Abs(g[pick]-mid)-1e-12 {
			pick = i
		}
	}
	return pick
}

func meanCurves(cs []curve) []float64 {
	out := make([]float64, len(cs[0].pa))
	for _, c := range cs {
		for i, x := range c.pa {
			out[i] += x
		}
	}
	for i := range out {
		out[i] /= float64(len(cs))
	}
	return out
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fail(err)
		}
		out = append(out, n)
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

type entityResult struct {
	kind, name string
	syn        []curve // per injection seed
	real       curve
	thr        float64
	mEnt       int
}

func main() {
	dump := flag.String("dump", "/tmp/calprobe/dump", "root of the evalrun -dump folders")
	syn := flag.String("syn", "/tmp/calprobe/syn", "root of the synthetic folders (KINDS)")
	realSMD := flag.String("real-smd", "/work/shared/datasets/smd", "real SMD folder")
	realASD := flag.String("real-asd", "/work/shared/datasets/asd", "real ASD folder")
	models := flag.String("models", "1,2,3", "model seeds")
	injs := flag.String("inject", "1,2,3,4", "injection seeds")
	flag.Parse()
	g := grid()
	one := -1
	for i, m := range g {
		if m == 1 {
			one = i
		}
	}
	kinds := []string{"smd", "asd"}
	realDir := map[string]string{"smd": *realSMD, "asd": *realASD}
	type agg struct{ pa, f1 float64 }
	variants := []string{"m=1", "entity m*", "kind m*", "global m*", "oracle (test labels)"}
	summary := map[int]map[string][]agg{} // model -> kind -> per variant
	fmt.Printf("grid: m = %.2f … %.2f step 0.05 (%d values)\n\n", g[0], g[len(g)-1], len(g))
	for _, M := range ints(*models) {
		var res []*entityResult
		for _, kind := range kinds {
			names, err := dataset.DiscoverEntities(realDir[kind])
			if err != nil {
				fail(err)
			}
			for _, name := range names {
				r := &entityResult{kind: kind, name: name}
				for _, S := range ints(*injs) {
					c, _, err := load(filepath.Join(*syn, fmt.Sprintf("%s%d", kind, S)),
						filepath.Join(*dump, fmt.Sprintf("syn-%s%d-m%d", kind, S, M)), name, g)
					if err != nil {
						fail(err)
					}
					r.syn = append(r.syn, c)
				}
				r.real, r.thr, err = load(realDir[kind], filepath.Join(*dump, fmt.Sprintf("real-%s-m%d", kind, M)), name, g)
				if err != nil {
					fail(err)
				}
				r.mEnt = argmax(meanCurves(r.syn), g)
				res = append(res, r)
			}
		}
		var all []curve
		kindCurves := map[string][]curve{}
		for _, r := range res {
			all = append(all, r.syn...)
			kindCurves[r.kind] = append(kindCurves[r.kind], r.syn...)
		}
		allMean := meanCurves(all)
		mGlobal := argmax(allMean, g)
		mKind := map[string]int{}
		kindMean := map[string][]float64{}
		for _, kind := range kinds {
			kindMean[kind] = meanCurves(kindCurves[kind])
			mKind[kind] = argmax(kindMean[kind], g)
		}
		fmt.Printf("## Model seed %d\n\n", M)
		fmt.Printf("global m* = %.2f (mean synthetic PA-F1 %.3f; at m=1 %.3f); kind m*: SMD %.2f (%.3f; m=1 %.3f), ASD %.2f (%.3f; m=1 %.3f)\n\n",
			g[mGlobal], allMean[mGlobal], allMean[one],
			g[mKind["smd"]], kindMean["smd"][mKind["smd"]], kindMean["smd"][one],
			g[mKind["asd"]], kindMean["asd"][mKind["asd"]], kindMean["asd"][one])
		fmt.Println("| entity | syn PA-F1 m=1 | entity m* | syn PA-F1 at m* | real PA-F1 (F1) m=1 | entity m* | kind m* | global m* | oracle m (diagnostic) | oracle PA-F1 | m* moves toward oracle? |")
		fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
		summary[M] = map[string][]agg{}
		for _, kind := range kinds {
			sums := make([]agg, len(variants))
			n := 0
			for _, r := range res {
				if r.kind != kind {
					continue
				}
				n++
				sm := meanCurves(r.syn)
				orc := argmax(r.real.pa, g)
				idx := []int{one, r.mEnt, mKind[kind], mGlobal, orc}
				for v, i := range idx {
					sums[v].pa += r.real.pa[i]
					sums[v].f1 += r.real.f1[i]
				}
				cell := func(i int) string { return fmt.Sprintf("%.3f (%.3f)", r.real.pa[i], r.real.f1[i]) }
				var dir string
				switch {
				case r.mEnt == one:
					dir = "stays at 1"
				case (r.mEnt < one) == (orc < one) && orc != one:
					dir = "yes"
				default:
					dir = "no"
				}
				fmt.Printf("| %s | %.3f | %.2f | %.3f | %s | %s | %s | %s | %.2f | %.3f | %s |\n",
					r.name, sm[one], g[r.mEnt], sm[r.mEnt], cell(one), cell(r.mEnt), cell(mKind[kind]), cell(mGlobal), g[orc], r.real.pa[orc], dir)
			}
			for v := range sums {
				sums[v].pa /= float64(n)
				sums[v].f1 /= float64(n)
			}
			summary[M][kind] = sums
			fmt.Printf("| **%s mean** | | | | %.3f (%.3f) | %.3f (%.3f) | %.3f (%.3f) | %.3f (%.3f) | | %.3f (%.3f) | |\n",
				strings.ToUpper(kind), sums[0].pa, sums[0].f1, sums[1].pa, sums[1].f1, sums[2].pa, sums[2].f1, sums[3].pa, sums[3].f1, sums[4].pa, sums[4].f1)
		}
		fmt.Println()
	}
	fmt.Println("## Summary: mean real PA-F1 (point F1)")
	fmt.Println()
	fmt.Print("| model seed | data set |")
	for _, v := range variants {
		fmt.Printf(" %s |", v)
	}
	fmt.Println()
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, M := range ints(*models) {
		for _, kind := range kinds {
			fmt.Printf("| %d | %s |", M, strings.ToUpper(kind))
			for _, a := range summary[M][kind] {
				fmt.Printf(" %.3f (%.3f) |", a.pa, a.f1)
			}
			fmt.Println()
		}
	}
	fmt.Println()
	fmt.Println("## Verdict (rule fixed in advance: helps only if mean real PA-F1 improves on both SMD and ASD for every model seed)")
	fmt.Println()
	for v := 1; v <= 3; v++ {
		helps := true
		var diffs []string
		for _, M := range ints(*models) {
			for _, kind := range kinds {
				d := summary[M][kind][v].pa - summary[M][kind][0].pa
				diffs = append(diffs, fmt.Sprintf("s%d %s %+.3f", M, strings.ToUpper(kind), d))
				if !(d > 0) {
					helps = false
				}
			}
		}
		word := "does NOT help"
		if helps {
			word = "helps"
		}
		fmt.Printf("- %s: %s (%s)\n", variants[v], word, strings.Join(diffs, ", "))
	}
}
