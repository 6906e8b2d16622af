package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/omen-sre/omen/training/dataset"
)

func main() {
	src := flag.String("src", "", "data set folder (only E.train.csv[.gz] is read)")
	dst := flag.String("dst", "", "output folder")
	ents := flag.String("entities", "", "comma-separated entities (default all)")
	seed := flag.Uint64("seed", 1, "seed")
	every := flag.Int("every", 400, "mean steps between injected segments")
	flag.Parse()
	names := strings.Split(*ents, ",")
	if *ents == "" {
		var err error
		if names, err = dataset.DiscoverEntities(*src); err != nil {
			fail(err)
		}
	}
	if err := os.MkdirAll(*dst, 0o755); err != nil {
		fail(err)
	}
	for _, name := range names {
		e, err := dataset.LoadEntity(*src, name)
		if err != nil {
			fail(err)
		}
		s := e.Train
		s.FillMissing()
		if err := inject(s, *dst, name, rand.New(rand.NewPCG(*seed, 7)), *every); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func inject(s *dataset.Series, dst, name string, r *rand.Rand, every int) error {
	f, n := len(s.Features), s.Steps()
	cut := n * 8 / 10
	// Per-feature std over the training part; features that barely move
	// are not injected into (their "cause" would be trivially visible).
	mean, sd := make([]float64, f), make([]float64, f)
	for t := range cut {
		for j, v := range s.Row(t) {
			mean[j] += v
		}
	}
	for j := range f {
		mean[j] /= float64(cut)
	}
	for t := range cut {
		for j, v := range s.Row(t) {
			sd[j] += (v - mean[j]) * (v - mean[j])
		}
	}
	var live []int
	for j := range f {
		sd[j] = math.Sqrt(sd[j] / float64(cut))
		if sd[j] > 1e-3 {
			live = append(live, j)
		}
	}
	test := slices.Clone(s.Values[cut*f:])
	m := n - cut
	label := make([]int, m)
	var interp strings.Builder
	for t := 100 + r.IntN(every); t < m-50; t += every/2 + r.IntN(every) {
		length := []int{5, 20, 60, 200}[r.IntN(4)]
		end := min(t+length, m-1)
		k := 1 + r.IntN(min(5, len(live)))
		dims := make([]int, 0, k)
		for _, i := range r.Perm(len(live))[:k] {
			dims = append(dims, live[i])
		}
		slices.Sort(dims)
		kind := r.IntN(3)
		for _, j := range dims {
			sign := 1.0
			if r.IntN(2) == 0 {
				sign = -1
			}
			mag := (2 + 3*r.Float64()) * sd[j] * sign
			for u := t; u < end; u++ {
				v := &test[u*f+j]
				switch kind {
				case 0: // level shift
					*v += mag
				case 1: // ramp to the shift
					*v += mag * float64(u-t+1) / float64(end-t)
				case 2: // noise burst
					*v += math.Abs(mag) * r.NormFloat64()
				}
			}
		}
		for u := t; u < end; u++ {
			label[u] = 1
		}
		ds := make([]string, len(dims))
		for i, j := range dims {
			ds[i] = fmt.Sprint(j + 1)
		}
		fmt.Fprintf(&interp, "%d-%d:%s\n", t, end, strings.Join(ds, ","))
	}
	write := func(file string, rows, from int, vals []float64, lab []int) error {
		var b strings.Builder
		b.WriteString("t," + strings.Join(s.Features, ","))
		if lab != nil {
			b.WriteString(",label")
		}
		b.WriteByte('\n')
		for t := range rows {
			fmt.Fprint(&b, t)
			for j := range f {
				fmt.Fprintf(&b, ",%g", vals[(from+t)*f+j])
			}
			if lab != nil {
				fmt.Fprintf(&b, ",%d", lab[t])
			}
			b.WriteByte('\n')
		}
		return os.WriteFile(filepath.Join(dst, file), []byte(b.String()), 0o644)
	}
	if err := write(name+".train.csv", cut, 0, s.Values, nil); err != nil {
		return err
	}
	if err := write(name+".test.csv", m, 0, test, label); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dst, name+".interpretation.txt"), []byte(interp.String()), 0o644)
}
