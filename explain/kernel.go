package explain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Kernel is KernelSHAP with the sampling scheme of shap's KernelExplainer.
// The zero value is usable: the budget defaults to 2M+2048 coalitions, all
// background windows and seed 0.
type Kernel struct {
	// Samples is the number of coalitions evaluated (default 2M+2048,
	// capped at 2^M−2, which enumerates all of them).
	Samples int
	// Seed seeds the coalition sampler; equal seeds give equal results.
	Seed int64
	// MaxBackground caps the background windows used for coalition values
	// (evenly spaced; 0 uses all). The cost is Samples×MaxBackground
	// model evaluations.
	MaxBackground int
	// Workers is the number of concurrent Predict calls (default GOMAXPROCS).
	Workers int
	// Rotate evaluates each coalition (with its complement) on a single
	// background window, cycling through the background, instead of
	// averaging over MaxBackground windows: an unbiased Monte Carlo
	// estimate of the coalition value at 1/B of the cost, whose noise the
	// regression averages out.
	Rotate bool
}

// Explain implements [Explainer].
func (k Kernel) Explain(ctx context.Context, p Predictor, x []float32, background [][]float32, groups []Group) (Attribution, error) {
	if k.Samples < 0 || k.MaxBackground < 0 {
		return Attribution{}, errors.New("explain: kernel: negative Samples or MaxBackground")
	}
	pr, err := newProblem(ctx, p, x, background, groups, k.MaxBackground, k.Workers)
	if err != nil {
		return Attribution{}, err
	}
	pr.rotate = k.Rotate
	m := len(pr.groups)
	delta := pr.value - pr.baseline
	// As shap's KernelExplainer, only the groups that differ from the
	// background somewhere take part in the regression; the others are
	// null players (φ = 0) that sampling noise would otherwise credit.
	pr.varying = make([]bool, m)
	var vary []int
	for i := range m {
		if pr.differs(i) {
			pr.varying[i] = true
			vary = append(vary, i)
		}
	}
	phi := make([]float64, m)
	switch len(vary) {
	case 0:
		pr.spreadGap(phi, make([]float64, m), delta) // delta is rounding
		return pr.result("kernel", phi, 0), nil
	case 1:
		phi[vary[0]] = delta
		return pr.result("kernel", phi, 0), nil
	}
	mv := len(vary)
	sub, weights := kernelCoalitions(mv, k.Samples, k.Seed)
	masks := make([]bool, len(weights)*m)
	for c := range weights {
		for j, gi := range vary {
			masks[c*m+gi] = sub[c*mv+j]
		}
	}
	vals, err := pr.values(ctx, masks)
	if err != nil {
		return Attribution{}, fmt.Errorf("kernel shap: %w", err)
	}
	phiV, err := kernelSolve(mv, sub, weights, vals, pr.baseline, delta)
	if err != nil {
		return Attribution{}, fmt.Errorf("kernel shap: %w", err)
	}
	for j, gi := range vary {
		phi[gi] = phiV[j]
	}
	return pr.result("kernel", phi, len(weights)), nil
}

// kernelCoalitions draws the coalitions (flattened masks, M flags each) and
// their kernel weights, following shap's KernelExplainer.
func kernelCoalitions(m, nsamples int, seed int64) ([]bool, []float64) {
	if nsamples <= 0 {
		nsamples = 2*m + 2048
	}
	if m <= 30 && nsamples > 1<<m-2 {
		nsamples = 1<<m - 2
	}
	numSizes := (m - 1 + 1) / 2 // ceil((m-1)/2)
	numPaired := (m - 1) / 2
	wv := make([]float64, numSizes)
	var tot float64
	for i := range wv {
		s := float64(i + 1)
		wv[i] = float64(m-1) / (s * (float64(m) - s))
		if i < numPaired {
			wv[i] *= 2
		}
		tot += wv[i]
	}
	for i := range wv {
		wv[i] /= tot
	}
	var (
		masks   []bool
		weights []float64
		index   = map[string]int{}
	)
	add := func(mask []bool, w float64, merge bool) bool {
		key := maskKey(mask)
		if j, ok := index[key]; ok && merge {
			weights[j] += w
			return false
		}
		index[key] = len(weights)
		masks = append(masks, mask...)
		weights = append(weights, w)
		return true
	}
	left := float64(nsamples)
	rem := append([]float64(nil), wv...)
	full := 0
	mask := make([]bool, m)
	comp := make([]bool, m)
	for size := 1; size <= numSizes; size++ {
		nsub := binom(m, size)
		paired := size <= numPaired
		if paired {
			nsub *= 2
		}
		if left*rem[size-1]/nsub < 1-1e-8 {
			break
		}
		full++
		left -= nsub
		if rem[size-1] < 1 {
			r := rem[size-1]
			for i := range rem {
				rem[i] /= 1 - r
			}
		}
		w := wv[size-1] / binom(m, size)
		if paired {
			w /= 2
		}
		forCombinations(m, size, func(idx []int) {
			for i := range mask {
				mask[i] = false
				comp[i] = true
			}
			for _, i := range idx {
				mask[i] = true
				comp[i] = false
			}
			add(mask, w, false)
			if paired {
				add(comp, w, false)
			}
		})
	}
	nfixed := len(weights)
	samplesLeft := nsamples - nfixed
	if full != numSizes && samplesLeft > 0 {
		rw := append([]float64(nil), wv...)
		for i := 0; i < numPaired; i++ {
			rw[i] /= 2
		}
		rw = rw[full:]
		var s float64
		for _, v := range rw {
			s += v
		}
		cum := make([]float64, len(rw))
		acc := 0.0
		for i, v := range rw {
			acc += v / s
			cum[i] = acc
		}
		rng := rand.New(rand.NewPCG(uint64(seed), 0x6f6d656e))
		perm := make([]int, m)
		for draws := 0; samplesLeft > 0 && draws < 4*(nsamples-nfixed)+16; draws++ {
			u := rng.Float64()
			j := 0
			for j < len(cum)-1 && u > cum[j] {
				j++
			}
			size := j + full + 1
			for i := range perm {
				perm[i] = i
			}
			for i := 0; i < size; i++ { // partial Fisher–Yates
				r := i + rng.IntN(m-i)
				perm[i], perm[r] = perm[r], perm[i]
			}
			for i := range mask {
				mask[i] = false
				comp[i] = true
			}
			for _, i := range perm[:size] {
				mask[i] = true
				comp[i] = false
			}
			if add(mask, 1, true) {
				samplesLeft--
			}
			if samplesLeft > 0 && size <= numPaired {
				if add(comp, 1, true) {
					samplesLeft--
				}
			}
		}
		var wl, ws float64
		for _, v := range wv[full:] {
			wl += v
		}
		for _, v := range weights[nfixed:] {
			ws += v
		}
		if ws > 0 {
			for i := nfixed; i < len(weights); i++ {
				weights[i] *= wl / ws
			}
		}
	}
	return masks, weights
}

func maskKey(mask []bool) string {
	b := make([]byte, (len(mask)+7)/8)
	for i, v := range mask {
		if v {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return string(b)
}

func binom(n, k int) float64 {
	return math.Round(math.Exp(lgamma(n+1) - lgamma(k+1) - lgamma(n-k+1)))
}

// forCombinations calls fn with every k-subset of 0..n-1 in lexicographic
// order; fn must not retain idx.
func forCombinations(n, k int, fn func(idx []int)) {
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i
	}
	for {
		fn(idx)
		i := k - 1
		for i >= 0 && idx[i] == n-k+i {
			i--
		}
		if i < 0 {
			return
		}
		idx[i]++
		for j := i + 1; j < k; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
}

// kernelSolve solves the weighted least-squares problem of KernelSHAP with
// the efficiency constraint Σφ = delta eliminated through the last group.
func kernelSolve(m int, masks []bool, weights, vals []float64, base, delta float64) ([]float64, error) {
	n := len(weights)
	d := m - 1
	ata := mat.NewSymDense(d, nil)
	atb := mat.NewVecDense(d, nil)
	row := make([]float64, d)
	for r := 0; r < n; r++ {
		mk := masks[r*m : (r+1)*m]
		last := 0.0
		if mk[m-1] {
			last = 1
		}
		y := vals[r] - base - last*delta
		w := weights[r]
		for j := 0; j < d; j++ {
			z := 0.0
			if mk[j] {
				z = 1
			}
			row[j] = z - last
		}
		for i := 0; i < d; i++ {
			if row[i] == 0 {
				continue
			}
			wi := w * row[i]
			atb.SetVec(i, atb.AtVec(i)+wi*y)
			for j := i; j < d; j++ {
				if row[j] != 0 {
					ata.SetSym(i, j, ata.At(i, j)+wi*row[j])
				}
			}
		}
	}
	beta := mat.NewVecDense(d, nil)
	var ch mat.Cholesky
	if ok := ch.Factorize(ata); ok {
		if err := ch.SolveVecTo(beta, atb); err != nil {
			ok = false
		}
		if ok {
			return finishPhi(beta, d, delta), nil
		}
	}
	// Rank-deficient: minimum-norm least squares through the SVD.
	var svd mat.SVD
	if !svd.Factorize(ata, mat.SVDThin) {
		return nil, errors.New("weighted least squares: SVD did not converge")
	}
	sv := svd.Values(nil)
	rank := 0
	for _, s := range sv {
		if s > 1e-12*sv[0] {
			rank++
		}
	}
	var sol mat.Dense
	svd.SolveTo(&sol, atb, rank)
	for i := 0; i < d; i++ {
		beta.SetVec(i, sol.At(i, 0))
	}
	return finishPhi(beta, d, delta), nil
}

func finishPhi(beta *mat.VecDense, d int, delta float64) []float64 {
	phi := make([]float64, d+1)
	var s float64
	for i := 0; i < d; i++ {
		phi[i] = beta.AtVec(i)
		s += phi[i]
	}
	phi[d] = delta - s
	return phi
}

// Permutation estimates Shapley values from sampled orders of the groups,
// each with its reverse (antithetic sampling). Each order costs M−1
// coalition evaluations.
type Permutation struct {
	// Permutations is the number of orders, rounded up to even (default 10).
	Permutations int
	// Seed seeds the order sampler.
	Seed int64
	// MaxBackground caps the background windows used for coalition values
	// (evenly spaced; 0 uses all). The chains then telescope to f(x)
	// minus the mean f of those windows; its difference to the baseline
	// (over the whole background) is spread over the groups as described
	// under Rotate, so that efficiency holds and null players keep φ = 0.
	MaxBackground int
	// Workers is the number of concurrent Predict calls (default GOMAXPROCS).
	Workers int
	// Rotate evaluates each order and its reverse on a single background
	// window, cycling through the background (MaxBackground still caps
	// it): Štrumbelj–Kononenko sampling with the background drawn per
	// order, M−1 model evaluations per order instead of (M−1)·B. The
	// chain of an order on window b telescopes to f(x) − f(b); whatever
	// the mean of f(b) over the orders differs from the baseline (zero
	// when the orders cover the background evenly) is the share of
	// f(x) − baseline owed to the background windows the orders missed.
	// It is spread over the groups in proportion to their mean absolute
	// marginal contribution along the chains, so that efficiency holds
	// exactly and a group that never moved the prediction (a null player:
	// its cells equal the background's, e.g. a counter that is 0
	// throughout) keeps φ = 0. When no group moved it, the gap goes
	// equally to the groups whose cells differ from some background
	// window (else equally to all).
	Rotate bool
}

// Explain implements [Explainer].
func (pe Permutation) Explain(ctx context.Context, p Predictor, x []float32, background [][]float32, groups []Group) (Attribution, error) {
	if pe.Permutations < 0 || pe.MaxBackground < 0 {
		return Attribution{}, errors.New("explain: permutation: negative Permutations or MaxBackground")
	}
	pr, err := newProblem(ctx, p, x, background, groups, pe.MaxBackground, pe.Workers)
	if err != nil {
		return Attribution{}, err
	}
	m := len(pr.groups)
	np := pe.Permutations
	if np == 0 {
		np = 10
	}
	np += np % 2
	rng := rand.New(rand.NewPCG(uint64(pe.Seed), 0x7065726d))
	orders := make([][]int, np)
	for i := 0; i < np; i += 2 {
		o := rng.Perm(m)
		r := make([]int, m)
		for j := range o {
			r[m-1-j] = o[j]
		}
		orders[i], orders[i+1] = o, r
	}
	masks := make([]bool, 0, np*(m-1)*m)
	for _, o := range orders {
		mask := make([]bool, m)
		for k := 0; k < m-1; k++ {
			mask[o[k]] = true
			masks = append(masks, mask...)
		}
	}
	var vals []float64
	if pe.Rotate {
		vals, err = pr.chainValues(ctx, masks, m-1)
	} else {
		vals, err = pr.values(ctx, masks)
	}
	if err != nil {
		return Attribution{}, fmt.Errorf("permutation shapley: %w", err)
	}
	phi := make([]float64, m)
	moved := make([]float64, m) // Σ|marginal contribution| per group
	var startSum float64
	// Without Rotate the coalition values average over pr.bg; when
	// MaxBackground subsamples it, the chains start at the subsample's
	// mean f (the value of the empty coalition in that game), not at the
	// baseline over the whole background, so that a null player's
	// marginal contributions are exactly 0. The gap between the two is
	// spread after the loop as for Rotate.
	start := pr.baseline
	if len(pr.bg) < len(pr.allBg) {
		var s float64
		for _, v := range pr.fbg {
			s += v
		}
		start = s / float64(len(pr.fbg))
	}
	for pi, o := range orders {
		prev := start
		if pe.Rotate {
			prev = pr.fbg[(pi/2)%len(pr.bg)]
			startSum += prev
		}
		for k := 0; k < m; k++ {
			cur := pr.value
			if k < m-1 {
				cur = vals[pi*(m-1)+k]
			}
			phi[o[k]] += cur - prev
			moved[o[k]] += math.Abs(cur - prev)
			prev = cur
		}
	}
	for i := range phi {
		phi[i] /= float64(np)
	}
	if pe.Rotate {
		pr.spreadGap(phi, moved, startSum/float64(np)-pr.baseline)
	} else {
		pr.spreadGap(phi, moved, start-pr.baseline)
	}
	return pr.result("permutation", phi, np*(m-1)), nil
}

// spreadGap adds gap (Σφ's shortfall to f(x) − baseline) to φ in
// proportion to weight (each group's absolute marginal contributions), or,
// when every weight is 0, equally over the groups whose cells differ
// between x and some background window (all groups when none does). A
// null player (equal cells everywhere, so zero contributions) gets none.
func (pr *problem) spreadGap(phi, weight []float64, gap float64) {
	if gap == 0 {
		return
	}
	var tot float64
	for _, w := range weight {
		tot += w
	}
	if tot == 0 {
		weight = make([]float64, len(phi))
		for i := range weight {
			if pr.differs(i) {
				weight[i], tot = 1, tot+1
			}
		}
		if tot == 0 {
			for i := range weight {
				weight[i] = 1
			}
			tot = float64(len(weight))
		}
	}
	for i := range phi {
		phi[i] += gap * weight[i] / tot
	}
}

// differs tells whether group gi's cells in x differ from those of any
// window of the whole background (NaN equals NaN): a group that does not
// differ is a null player of the interventional game.
func (pr *problem) differs(gi int) bool {
	for _, b := range pr.allBg {
		for _, c := range pr.groups[gi].Cells {
			if v, w := b[c], pr.x[c]; v != w && !(v != v && w != w) {
				return true
			}
		}
	}
	return false
}
