package explain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"
)

// BenchOptions configures [Bench]. Zero fields take the defaults noted.
type BenchOptions struct {
	// W and F are the window shape the predictor accepts (32 and 38).
	W, F int
	// Cases is the number of explanations timed (50).
	Cases int
	// Background is the number of background windows per explanation (16).
	Background int
	// ExactCases is the number of cases compared with exact Shapley (10).
	ExactCases int
	// ExactGroups is the number of groups (blocks of features) in the
	// comparison cases (10, or F when fewer; at most 12 and F).
	ExactGroups int
	// Explainer is the method timed and compared (default
	// Fast{CoverBackground: true}, the daemon's for more than 12 groups:
	// see [ForGroups]).
	Explainer Explainer
	// Seed seeds the synthetic windows (1).
	Seed int64
}

// BenchResult reports [Bench]. Latencies are wall-clock per explanation.
type BenchResult struct {
	Groups             int     `json:"groups"`
	W                  int     `json:"w"`
	F                  int     `json:"f"`
	Background         int     `json:"background"`
	Cases              int     `json:"cases"`
	Method             string  `json:"method"`
	Evaluations        int     `json:"evaluations"`
	P50ms              float64 `json:"p50_ms"`
	P99ms              float64 `json:"p99_ms"`
	MaxMs              float64 `json:"max_ms"`
	MaxEfficiencyError float64 `json:"max_efficiency_error"`
	// SpearmanVsExact is the mean over the comparison cases of the Spearman
	// rank correlation between the method's φ and exact Shapley φ.
	SpearmanVsExact float64 `json:"spearman_vs_exact"`
	SpearmanMin     float64 `json:"spearman_min"`
	ExactGroups     int     `json:"exact_groups"`
	ExactCases      int     `json:"exact_cases"`
}

// Fast is the method for one alert with many groups: antithetic
// permutation sampling with one background window per order
// ([Permutation] with Rotate), as many orders as fit in Budget model
// evaluations (at least 2). Measured with [Bench] on model.Model (W=32,
// F=38, hidden 64, untrained) on the shared 2-core machine (load average
// 10–13): Budget 256 (239 evaluations) → p50 22–29 ms, p99 37–80 ms for 38
// groups, Spearman 0.955–0.967 against exact Shapley on 10 groups; Budget
// 512 → p99 92 ms, Spearman 0.979.
type Fast struct {
	// Budget is the number of model evaluations (default 256).
	Budget int
	// Seed seeds the order sampler (default 1).
	Seed int64
	// Workers is the number of concurrent Predict calls (default GOMAXPROCS).
	Workers int
	// CoverBackground rounds the number of orders up to whole rounds of
	// one order pair per background window (beyond Budget when it is
	// smaller): the orders then cover the background evenly, their
	// chains telescope to f(x) − baseline and no gap to the baseline is
	// left to spread (see [Permutation].Rotate). With 16 background
	// windows and 30 groups that is 32 orders, 928 model evaluations.
	CoverBackground bool
}

// Explain implements [Explainer].
func (f Fast) Explain(ctx context.Context, p Predictor, x []float32, bg [][]float32, groups []Group) (Attribution, error) {
	gs, err := partition(len(x), groups)
	if err != nil {
		return Attribution{}, err
	}
	if f.Budget < 0 {
		return Attribution{}, errors.New("explain: fast: negative Budget")
	}
	budget, seed := f.Budget, f.Seed
	if budget == 0 {
		budget = 256
	}
	if seed == 0 {
		seed = 1
	}
	m := len(gs)
	if m == 1 {
		return Exact{Workers: f.Workers}.Explain(ctx, p, x, bg, groups)
	}
	perms := max(2, budget/(m-1))
	if r := 2 * len(bg); f.CoverBackground && r > 0 {
		perms = (perms + r - 1) / r * r
	}
	return Permutation{Permutations: perms, Rotate: true, Seed: seed, Workers: f.Workers}.Explain(ctx, p, x, bg, groups)
}

// Bench times explanations of synthetic anomalous windows with one group
// per metric (F groups) and compares the method with exact Shapley on
// windows grouped into ExactGroups feature blocks.
func Bench(ctx context.Context, p Predictor, opts BenchOptions) (BenchResult, error) {
	o := opts
	if o.W == 0 {
		o.W = 32
	}
	if o.F == 0 {
		o.F = 38
	}
	if o.Cases == 0 {
		o.Cases = 50
	}
	if o.Background == 0 {
		o.Background = 16
	}
	if o.ExactCases == 0 {
		o.ExactCases = 10
	}
	if o.ExactGroups == 0 {
		o.ExactGroups = min(10, o.F)
	}
	if o.Explainer == nil {
		o.Explainer = Fast{CoverBackground: true}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.W < 0 || o.F < 0 || o.Cases < 0 || o.Background < 0 || o.ExactCases < 0 {
		return BenchResult{}, errors.New("explain: bench: negative option")
	}
	if o.F < 2 {
		return BenchResult{}, fmt.Errorf("explain: bench: %d features, want at least 2 (the comparison with exact Shapley needs 2 groups)", o.F)
	}
	if o.ExactGroups < 2 || o.ExactGroups > autoExactM || o.ExactGroups > o.F {
		return BenchResult{}, fmt.Errorf("explain: bench: ExactGroups %d not in [2, min(12, F)]", o.ExactGroups)
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x62656e63))
	res := BenchResult{W: o.W, F: o.F, Background: o.Background, Cases: o.Cases,
		ExactGroups: o.ExactGroups, ExactCases: o.ExactCases, SpearmanMin: 1}
	metric, err := GroupsByMetric(o.W, o.F, nil)
	if err != nil {
		return BenchResult{}, err
	}
	res.Groups = len(metric)
	lat := make([]float64, 0, o.Cases)
	for c := 0; c < o.Cases; c++ {
		x, bg := benchCase(rng, o.W, o.F, o.Background)
		start := time.Now()
		a, err := o.Explainer.Explain(ctx, p, x, bg, metric)
		if err != nil {
			return BenchResult{}, fmt.Errorf("bench case %d: %w", c, err)
		}
		lat = append(lat, float64(time.Since(start).Microseconds())/1000)
		res.Method = a.Method
		res.Evaluations = a.Evaluations
		res.MaxEfficiencyError = math.Max(res.MaxEfficiencyError, a.EfficiencyError)
	}
	if len(lat) > 0 {
		sort.Float64s(lat)
		res.P50ms = quantile(lat, .5)
		res.P99ms = quantile(lat, .99)
		res.MaxMs = lat[len(lat)-1]
	}
	blocks := make([]Group, o.ExactGroups)
	for g := range blocks {
		blocks[g] = Group{Name: fmt.Sprintf("block%d", g), Kind: KindCustom}
		for j := g * o.F / o.ExactGroups; j < (g+1)*o.F/o.ExactGroups; j++ {
			blocks[g].Cells = append(blocks[g].Cells, metric[j].Cells...)
		}
	}
	var sum float64
	for c := 0; c < o.ExactCases; c++ {
		x, bg := benchCase(rng, o.W, o.F, o.Background)
		ex, err := Exact{}.Explain(ctx, p, x, bg, blocks)
		if err != nil {
			return BenchResult{}, fmt.Errorf("bench exact case %d: %w", c, err)
		}
		fa, err := o.Explainer.Explain(ctx, p, x, bg, blocks)
		if err != nil {
			return BenchResult{}, fmt.Errorf("bench compare case %d: %w", c, err)
		}
		res.MaxEfficiencyError = math.Max(res.MaxEfficiencyError, math.Max(ex.EfficiencyError, fa.EfficiencyError))
		rho := Spearman(phis(ex), phis(fa))
		sum += rho
		res.SpearmanMin = math.Min(res.SpearmanMin, rho)
	}
	if o.ExactCases > 0 {
		res.SpearmanVsExact = sum / float64(o.ExactCases)
	}
	return res, nil
}

func phis(a Attribution) []float64 {
	v := make([]float64, len(a.Groups))
	for i, g := range a.Groups {
		v[i] = g.Phi
	}
	return v
}

// benchCase draws a background of AR(1) windows and an anomalous window:
// a normal window with level shifts in a few features over its last third.
func benchCase(rng *rand.Rand, w, f, nbg int) ([]float32, [][]float32) {
	gen := func() []float32 {
		x := make([]float32, w*f)
		for j := 0; j < f; j++ {
			v := rng.NormFloat64()
			for t := 0; t < w; t++ {
				v = 0.8*v + 0.6*rng.NormFloat64()
				x[t*f+j] = float32(v)
			}
		}
		return x
	}
	bg := make([][]float32, nbg)
	for i := range bg {
		bg[i] = gen()
	}
	x := gen()
	k := 1 + rng.IntN(4)
	for i := 0; i < k; i++ {
		j := rng.IntN(f)
		shift := float32(1.5 + 2*rng.Float64())
		for t := 2 * w / 3; t < w; t++ {
			x[t*f+j] += shift
		}
	}
	return x, bg
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	fr := pos - float64(i)
	return sorted[i]*(1-fr) + sorted[i+1]*fr
}

// Spearman returns the Spearman rank correlation of a and b (average ranks
// for ties); 1 when both are constant, 0 when only one is.
func Spearman(a, b []float64) float64 {
	if len(a) != len(b) || len(a) < 2 {
		return 0
	}
	ra, rb := ranks(a), ranks(b)
	var ma, mb float64
	for i := range ra {
		ma += ra[i]
		mb += rb[i]
	}
	ma /= float64(len(ra))
	mb /= float64(len(rb))
	var sab, saa, sbb float64
	for i := range ra {
		da, db := ra[i]-ma, rb[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	switch {
	case saa == 0 && sbb == 0:
		return 1
	case saa == 0 || sbb == 0:
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(i, j int) int {
		switch {
		case v[i] < v[j]:
			return -1
		case v[i] > v[j]:
			return 1
		}
		return 0
	})
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}
