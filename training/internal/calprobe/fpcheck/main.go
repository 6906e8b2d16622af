package main

import (
	"fmt"
	"path/filepath"

	"github.com/omen-sre/omen/training/dataset"
	"github.com/omen-sre/omen/training/internal/probe"
)

func share(dataDir, probeDir, name string, m float64) float64 {
	e, thr, score, _, err := probe.Load(dataDir, probeDir, name)
	if err != nil {
		panic(err)
	}
	n, k := 0, 0
	for t, l := range e.Test.Labels {
		if !l {
			n++
			if score[t] >= m*thr {
				k++
			}
		}
	}
	return float64(k) / float64(n)
}

func main() {
	ms := []float64{0.4, 0.6, 1}
	fmt.Println("| model seed | entity | normal steps ≥ m×thr, synthetic (mean of 4 injection seeds) m=0.4 / 0.6 / 1 | real test m=0.4 / 0.6 / 1 |")
	fmt.Println("|---|---|---|---|")
	for _, M := range []int{1, 2, 3} {
		for _, kind := range []string{"smd", "asd"} {
			real := "/work/shared/datasets/" + kind
			names, _ := dataset.DiscoverEntities(real)
			for _, name := range names {
				var syn, rl []string
				for _, m := range ms {
					s := 0.0
					for S := 1; S <= 4; S++ {
						s += share(fmt.Sprintf("/tmp/calprobe/syn/%s%d", kind, S), fmt.Sprintf("/tmp/calprobe/dump/syn-%s%d-m%d", kind, S, M), name, m) / 4
					}
					syn = append(syn, fmt.Sprintf("%.2f%%", 100*s))
					rl = append(rl, fmt.Sprintf("%.2f%%", 100*share(real, filepath.Join("/tmp/calprobe/dump", fmt.Sprintf("real-%s-m%d", kind, M)), name, m)))
				}
				fmt.Printf("| %d | %s | %s / %s / %s | %s / %s / %s |\n", M, name, syn[0], syn[1], syn[2], rl[0], rl[1], rl[2])
			}
		}
	}
}
