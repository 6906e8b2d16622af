package explain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
)

// Predictor scores windows: x holds n windows back to back, each W×F
// float32 time-major; Predict writes n scores to out. It must be safe for
// concurrent use and must not retain x or out. (*model.Model has exactly
// this method.)
type Predictor interface {
	Predict(x []float32, n int, out []float64) error
}

// PredictorFunc adapts a function to [Predictor].
type PredictorFunc func(x []float32, n int, out []float64) error

// Predict calls f.
func (f PredictorFunc) Predict(x []float32, n int, out []float64) error { return f(x, n, out) }

// Group kinds.
const (
	KindMetric  = "metric"
	KindEntity  = "entity"
	KindTime    = "time"
	KindRest    = "rest"
	KindCustom  = "custom"
	restName    = "(rest)"
	exactMaxM   = 16
	autoExactM  = 12
	defaultBuf  = 1 << 12 // windows per Predict call
	effTolLimit = 1e-6
)

// NoiseEpsilon bounds rounding noise in attributions: a group's φ with
// |φ| ≤ NoiseEpsilon·max(|Value|, |Baseline|) is reported as 0 (φ of
// rounding are about 1e-16 of the prediction; a real one this small says
// nothing either). When every φ is, no group has a share and none is a
// cause. Efficiency then holds within len(Groups)·NoiseEpsilon·
// max(|Value|, |Baseline|) (EfficiencyError includes what was dropped).
const NoiseEpsilon = 1e-10

// Group is a set of cells of a window, indices t*F+f.
type Group struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Cells []int  `json:"cells"`
}

// GroupAttribution is the attribution of one group.
type GroupAttribution struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Phi is the group's Shapley value, in units of the prediction.
	Phi float64 `json:"phi"`
	// Share is |Phi| / Σ|Phi| over all groups (0 when all are zero,
	// rounding noise included: see [NoiseEpsilon]).
	Share float64 `json:"share"`
}

// Attribution explains one prediction. Σ Groups[i].Phi = Value − Baseline.
type Attribution struct {
	// Groups in the order they were given (a "(rest)" group appended last
	// when the given groups did not cover the window).
	Groups []GroupAttribution `json:"groups"`
	// Baseline is E[f(background)], the mean prediction over the background.
	Baseline float64 `json:"baseline"`
	// Value is f(x).
	Value float64 `json:"value"`
	// Method is "exact", "kernel" or "permutation".
	Method string `json:"method"`
	// Samples is the number of coalitions whose value was evaluated.
	Samples int `json:"samples"`
	// Evaluations is the number of windows scored by the predictor.
	Evaluations int `json:"evaluations"`
	// Background is the number of background windows used for coalition
	// values (the baseline always uses all of them).
	Background int `json:"background"`
	// EfficiencyError is |Σφ − (Value − Baseline)|.
	EfficiencyError float64 `json:"efficiency_error"`
}

// Top returns the k groups with the largest Share, largest first (all when
// k ≤ 0 or k ≥ len). Ties keep the given order.
func (a Attribution) Top(k int) []GroupAttribution {
	g := append([]GroupAttribution(nil), a.Groups...)
	sort.SliceStable(g, func(i, j int) bool { return g[i].Share > g[j].Share })
	if k > 0 && k < len(g) {
		g = g[:k]
	}
	return g
}

// Explainer computes attributions for the prediction p makes on window x
// relative to background windows (each the same length as x) over groups.
// Implementations are safe for concurrent use; they do not retain x,
// background or groups.
type Explainer interface {
	Explain(ctx context.Context, p Predictor, x []float32, background [][]float32, groups []Group) (Attribution, error)
}

// problem is a validated explanation problem.
type problem struct {
	p        Predictor
	x        []float32
	bg       [][]float32 // background used for coalition values
	allBg    [][]float32 // the whole background (of the baseline)
	groups   []Group
	size     int
	workers  int
	value    float64
	baseline float64
	evals    int
	// rotate evaluates coalition pair c/2 on the single background window
	// bg[(c/2) % len(bg)] instead of averaging over all of them.
	rotate bool
	// fbg[i] is f(bg[i]), the control variate of rotated evaluations.
	fbg []float64
	// varying, when set, marks the groups that take part (see
	// Kernel.Explain); the control variate counts only those.
	varying []bool
}

// newProblem validates the input, appends a rest group if needed, subsamples
// the background to maxBG windows (0: all; evenly spaced) and computes the
// value and baseline.
func newProblem(ctx context.Context, p Predictor, x []float32, background [][]float32, groups []Group, maxBG, workers int) (*problem, error) {
	if p == nil {
		return nil, errors.New("explain: nil predictor")
	}
	if len(x) == 0 {
		return nil, errors.New("explain: empty window")
	}
	if len(background) == 0 {
		return nil, errors.New("explain: empty background")
	}
	for i, b := range background {
		if len(b) != len(x) {
			return nil, fmt.Errorf("explain: background window %d has %d cells, want %d", i, len(b), len(x))
		}
	}
	gs, err := partition(len(x), groups)
	if err != nil {
		return nil, err
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	pr := &problem{p: p, x: x, groups: gs, size: len(x), workers: workers}
	// Value and full-background baseline in one call.
	all := make([]float32, 0, (len(background)+1)*len(x))
	all = append(all, x...)
	for _, b := range background {
		all = append(all, b...)
	}
	out := make([]float64, len(background)+1)
	if err := pr.predict(ctx, all, out); err != nil {
		return nil, err
	}
	pr.value = out[0]
	var s float64
	for _, v := range out[1:] {
		s += v
	}
	pr.baseline = s / float64(len(background))
	pr.bg = background
	pr.allBg = background
	pr.fbg = out[1:]
	if maxBG > 0 && maxBG < len(background) {
		pr.bg = make([][]float32, maxBG)
		pr.fbg = make([]float64, maxBG)
		for i := range pr.bg {
			pr.bg[i] = background[i*len(background)/maxBG]
			pr.fbg[i] = out[1+i*len(background)/maxBG]
		}
	}
	return pr, nil
}

// partition checks groups are disjoint, in range and non-empty, and appends
// a rest group for uncovered cells.
func partition(size int, groups []Group) ([]Group, error) {
	if len(groups) == 0 {
		return nil, errors.New("explain: no groups")
	}
	seen := make([]bool, size)
	covered := 0
	for gi, g := range groups {
		if len(g.Cells) == 0 {
			return nil, fmt.Errorf("explain: group %d (%q) is empty", gi, g.Name)
		}
		for _, c := range g.Cells {
			if c < 0 || c >= size {
				return nil, fmt.Errorf("explain: group %q: cell %d out of range [0,%d)", g.Name, c, size)
			}
			if seen[c] {
				return nil, fmt.Errorf("explain: group %q: cell %d is in more than one group", g.Name, c)
			}
			seen[c] = true
			covered++
		}
	}
	gs := append([]Group(nil), groups...)
	if covered < size {
		rest := Group{Name: restName, Kind: KindRest}
		for c, ok := range seen {
			if !ok {
				rest.Cells = append(rest.Cells, c)
			}
		}
		gs = append(gs, rest)
	}
	return gs, nil
}

// predict scores the windows in x (len(out) of them), splitting large
// batches into chunks scored concurrently by pr.workers goroutines.
func (pr *problem) predict(ctx context.Context, x []float32, out []float64) error {
	n := len(out)
	pr.evals += n
	chunk := defaultBuf
	if per := (n + pr.workers - 1) / pr.workers; per < chunk {
		chunk = per
	}
	if chunk < 1 {
		chunk = 1
	}
	if n <= chunk {
		if err := pr.p.Predict(x, n, out); err != nil {
			return fmt.Errorf("predict %d windows: %w", n, err)
		}
		return nil
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
		next = make(chan int)
	)
	for w := 0; w < pr.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range next {
				hi := min(lo+chunk, n)
				if err := pr.p.Predict(x[lo*pr.size:hi*pr.size], hi-lo, out[lo:hi]); err != nil {
					mu.Lock()
					if ferr == nil {
						ferr = fmt.Errorf("predict windows %d-%d: %w", lo, hi, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for lo := 0; lo < n; lo += chunk {
		if ctx.Err() != nil {
			break
		}
		next <- lo
	}
	close(next)
	wg.Wait()
	if ferr != nil {
		return ferr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	return nil
}

// values returns v(S) for each coalition; masks holds len/M coalitions of M
// flags each. Coalitions are evaluated in batches of about defaultBuf*workers
// windows.
func (pr *problem) values(ctx context.Context, masks []bool) ([]float64, error) {
	m := len(pr.groups)
	nc := len(masks) / m
	res := make([]float64, nc)
	B := len(pr.bg)
	if pr.rotate {
		B = 1
	}
	per := max(1, defaultBuf*pr.workers/B)
	buf := make([]float32, min(per, nc)*B*pr.size)
	out := make([]float64, min(per, nc)*B)
	for lo := 0; lo < nc; lo += per {
		hi := min(lo+per, nc)
		k := 0
		for c := lo; c < hi; c++ {
			mask := masks[c*m : (c+1)*m]
			bgs := pr.bg
			if pr.rotate {
				i := pr.rotation(c)
				bgs = pr.bg[i : i+1]
			}
			for _, b := range bgs {
				w := buf[k*pr.size : (k+1)*pr.size]
				copy(w, b)
				for gi, in := range mask {
					if in {
						for _, cell := range pr.groups[gi].Cells {
							w[cell] = pr.x[cell]
						}
					}
				}
				k++
			}
		}
		if err := pr.predict(ctx, buf[:k*pr.size], out[:k]); err != nil {
			return nil, err
		}
		for c := lo; c < hi; c++ {
			var s float64
			for _, v := range out[(c-lo)*B : (c-lo+1)*B] {
				s += v
			}
			res[c] = s / float64(B)
			if pr.rotate {
				// Control variate: f(bg_i) − E f(bg) has mean zero over
				// the background and is correlated with the evaluation
				// in proportion to the share of cells taken from bg_i.
				absent, n := 0, 0
				for gi, in := range masks[c*m : (c+1)*m] {
					if pr.varying != nil && !pr.varying[gi] {
						continue
					}
					n++
					if !in {
						absent++
					}
				}
				res[c] -= (pr.fbg[pr.rotation(c)] - pr.baseline) * float64(absent) / float64(n)
			}
		}
	}
	return res, nil
}

// chainValues evaluates the coalitions of orders (chain coalitions each)
// with order i (and its reverse, i^1) on the single background window
// bg[(i/2) % B]; no control variate is applied.
func (pr *problem) chainValues(ctx context.Context, masks []bool, chain int) ([]float64, error) {
	m := len(pr.groups)
	nc := len(masks) / m
	buf := make([]float32, nc*pr.size)
	for c := 0; c < nc; c++ {
		b := pr.bg[(c/chain/2)%len(pr.bg)]
		w := buf[c*pr.size : (c+1)*pr.size]
		copy(w, b)
		for gi, in := range masks[c*m : (c+1)*m] {
			if in {
				for _, cell := range pr.groups[gi].Cells {
					w[cell] = pr.x[cell]
				}
			}
		}
	}
	out := make([]float64, nc)
	if err := pr.predict(ctx, buf, out); err != nil {
		return nil, err
	}
	return out, nil
}

// rotation is the background window of coalition c in rotate mode: pairs
// (c, c+1) share one.
func (pr *problem) rotation(c int) int { return (c / 2) % len(pr.bg) }

// result builds the Attribution from φ.
func (pr *problem) result(method string, phi []float64, samples int) Attribution {
	a := Attribution{
		Groups:      make([]GroupAttribution, len(pr.groups)),
		Baseline:    pr.baseline,
		Value:       pr.value,
		Method:      method,
		Samples:     samples,
		Evaluations: pr.evals,
		Background:  len(pr.bg),
	}
	if pr.rotate {
		a.Background = 1
	}
	// Rounding noise is no attribution: when f(x) equals the baseline
	// (x like the background), every φ is a rounding error of about one
	// ulp of the prediction, which shares would blow up into an even
	// split naming every group.
	noise := NoiseEpsilon * max(math.Abs(pr.value), math.Abs(pr.baseline))
	var sum, abs float64
	for i, v := range phi {
		if math.Abs(v) <= noise {
			v = 0
		}
		phi[i] = v
		sum += v
		abs += math.Abs(v)
	}
	for i, g := range pr.groups {
		a.Groups[i] = GroupAttribution{Name: g.Name, Kind: g.Kind, Phi: phi[i]}
		if abs > 0 {
			a.Groups[i].Share = math.Abs(phi[i]) / abs
		}
	}
	a.EfficiencyError = math.Abs(sum - (pr.value - pr.baseline))
	return a
}

// Exact computes exact Shapley values by enumerating all 2^M coalitions. It
// refuses more than 16 groups.
type Exact struct {
	// Workers is the number of concurrent Predict calls (default GOMAXPROCS).
	Workers int
}

// Explain implements [Explainer].
func (e Exact) Explain(ctx context.Context, p Predictor, x []float32, background [][]float32, groups []Group) (Attribution, error) {
	pr, err := newProblem(ctx, p, x, background, groups, 0, e.Workers)
	if err != nil {
		return Attribution{}, err
	}
	m := len(pr.groups)
	if m > exactMaxM {
		return Attribution{}, fmt.Errorf("explain: exact Shapley needs 2^%d coalitions; use at most %d groups or Kernel", m, exactMaxM)
	}
	n := 1 << m
	// Interior coalitions 1..n-2; v(∅) and v(N) are the baseline and value.
	masks := make([]bool, 0, max(0, n-2)*m)
	for s := 1; s < n-1; s++ {
		for i := 0; i < m; i++ {
			masks = append(masks, s&(1<<i) != 0)
		}
	}
	vals, err := pr.values(ctx, masks)
	if err != nil {
		return Attribution{}, fmt.Errorf("exact shapley: %w", err)
	}
	v := make([]float64, n)
	v[0] = pr.baseline
	v[n-1] = pr.value
	copy(v[1:], vals)
	return pr.result("exact", shapleyFromValues(m, v), n), nil
}

// shapleyFromValues applies the Shapley formula to v indexed by coalition
// bitmask.
func shapleyFromValues(m int, v []float64) []float64 {
	// w[s] = s!(m-s-1)!/m!
	w := make([]float64, m)
	for s := 0; s < m; s++ {
		w[s] = math.Exp(lgamma(s+1) + lgamma(m-s) - lgamma(m+1))
	}
	phi := make([]float64, m)
	for i := 0; i < m; i++ {
		bit := 1 << i
		var acc float64
		for s := 0; s < len(v); s++ {
			if s&bit != 0 {
				continue
			}
			acc += w[popcount(s)] * (v[s|bit] - v[s])
		}
		phi[i] = acc
	}
	return phi
}

func lgamma(n int) float64 {
	r, _ := math.Lgamma(float64(n))
	return r
}

func popcount(x int) int {
	c := 0
	for x != 0 {
		x &= x - 1
		c++
	}
	return c
}

// ForGroups returns the explainer omen's daemon uses for an alert with m
// groups: exact Shapley (through [Auto]) up to 12 groups, and beyond that
// [Fast] with CoverBackground, whose orders cover the background evenly
// so that they telescope to f(x) − baseline with no gap to spread over
// the groups.
func ForGroups(m int) Explainer {
	if m <= autoExactM {
		return Auto{}
	}
	return Fast{CoverBackground: true}
}

// Auto uses [Exact] for at most 12 groups and [Kernel] otherwise.
type Auto struct {
	Kernel Kernel
	// Workers is passed to Exact (Kernel has its own).
	Workers int
}

// Explain implements [Explainer].
func (a Auto) Explain(ctx context.Context, p Predictor, x []float32, background [][]float32, groups []Group) (Attribution, error) {
	gs, err := partition(len(x), groups)
	if err != nil {
		return Attribution{}, err
	}
	if len(gs) <= autoExactM {
		return Exact{Workers: a.Workers}.Explain(ctx, p, x, background, groups)
	}
	return a.Kernel.Explain(ctx, p, x, background, groups)
}
