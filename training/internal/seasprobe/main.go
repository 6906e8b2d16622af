// Command seasprobe (diagnostic) applies a seasonal suppression to dumped
// test scores: s'(t) = s(t) - max over |d|<=k of s(t-P+d), floored at 0.
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
	period := flag.Int("p", 1440, "period")
	k := flag.Int("k", 5, "slack")
	flag.Parse()
	for _, name := range strings.Split(*ents, ",") {
		e, thr, score, _, err := probe.Load(*dir, *pdir, name)
		if err != nil {
			panic(err)
		}
		lab := e.Test.Labels
		s2 := make([]float64, len(score))
		for t := range score {
			m := 0.0
			for d := -*k; d <= *k; d++ {
				if u := t - *period + d; u >= 0 && u < len(score) && score[u] > m {
					m = score[u]
				}
			}
			s2[t] = max(0, score[t]-m)
		}
		a := metrics.Adjusted(metrics.Threshold(score, thr), lab)
		b := metrics.Adjusted(metrics.Threshold(s2, thr), lab)
		fmt.Printf("%s before P %.3f R %.3f F1 %.3f  after P %.3f R %.3f F1 %.3f\n", name, a.Precision, a.Recall, a.F1, b.Precision, b.Recall, b.F1)
	}
}
