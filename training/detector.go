package training

import (
	"context"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/omen-sre/omen/training/dataset"

	"github.com/omen-sre/omen/model"
)

// Scorer computes forecast-residual anomaly scores: for n windows x
// (W×F raw values each, time-major) and their actual next steps next (n×F),
// score[i] is the window's total score and perFeature[i*F+f] the share of
// feature f (both ≥ 0, higher is more anomalous; perFeature may be nil).
// *model.Model satisfies it.
type Scorer interface {
	AnomalyScores(x, next []float32, n int, score []float64, perFeature []float32) error
}

// DimensionRanker attributes the anomaly at the step after each window to
// the features: for n windows x and next steps next (as for Scorer) it
// writes n×F non-negative responsibilities into out (higher = more likely
// the cause). The evaluation ranks features by them for HitRate/NDCG. The
// default is the per-feature forecast residual; package explain plugs its
// attributions in through EvalOptions.NewRanker. Implementations need not
// be safe for concurrent use.
type DimensionRanker interface {
	RankScores(x, next []float32, n int, out []float32) error
}

// residualRanker ranks by the Scorer's per-feature residuals.
type residualRanker struct{ s Scorer }

func (r residualRanker) RankScores(x, next []float32, n int, out []float32) error {
	score := make([]float64, n)
	return r.s.AnomalyScores(x, next, n, score, out)
}

// trainerLearner adapts *model.Trainer. Snapshots are model files;
// Restore decodes the best one into restored, which the caller uses in place
// of the trained model.
type trainerLearner struct {
	*model.Trainer
	m        *model.Model
	restored *model.Model
}

func (t *trainerLearner) Snapshot() ([]byte, error) { return t.m.MarshalBinary() }

// Weights and SetWeights make the learner a WeightAverager.
func (t *trainerLearner) Weights() []float32 { return t.m.Weights() }

// SetWeights replaces the trained model's weights (after training).
func (t *trainerLearner) SetWeights(w []float32) error {
	t.restored = nil
	return t.m.SetWeights(w)
}

func (t *trainerLearner) Restore(b []byte) error {
	m, err := model.Unmarshal(b)
	if err != nil {
		return err
	}
	t.restored = m
	return nil
}

// result returns the model to keep: the restored best one, if any.
func (t *trainerLearner) result() *model.Model {
	if t.restored != nil {
		return t.restored
	}
	return t.m
}

// fitNormalization sets m's normalisation from the whole training series
// (viewed as consecutive non-overlapping windows).
func fitNormalization(m *model.Model, w *Windows) error {
	n := w.steps / w.W
	if n == 0 {
		return fmt.Errorf("fit normalisation: %d steps shorter than a window of %d", w.steps, w.W)
	}
	return m.FitNormalization(w.data[:n*w.W*w.F], n)
}

// arModel is a ridge-regularised linear autoregressive forecaster: the next
// step is a linear function of the last Lags steps (z-scored per feature).
// It is the "ar" baseline detector of EvalDataset; its scores are the
// squared z-scored residuals like the LSTM's.
type arModel struct {
	lags, f   int
	mean, std []float64
	coef      *mat.Dense // (lags·F+1) × F
}

func fitAR(ctx context.Context, w *Windows, lags int, ridge float64, maxWindows int) (*arModel, error) {
	if lags > w.W {
		lags = w.W
	}
	f := w.F
	a := &arModel{lags: lags, f: f, mean: make([]float64, f), std: make([]float64, f)}
	for t := 0; t < w.steps; t++ {
		for j := range f {
			a.mean[j] += float64(w.data[t*f+j])
		}
	}
	for j := range f {
		a.mean[j] /= float64(w.steps)
	}
	for t := 0; t < w.steps; t++ {
		for j := range f {
			d := float64(w.data[t*f+j]) - a.mean[j]
			a.std[j] += d * d
		}
	}
	for j := range f {
		a.std[j] = math.Sqrt(a.std[j] / float64(w.steps))
		if a.std[j] < 1e-6 {
			a.std[j] = 1
		}
	}
	idx := spaced(w.N(), maxWindows)
	p := lags*f + 1
	xtx := mat.NewSymDense(p, nil)
	xty := mat.NewDense(p, f, nil)
	row := make([]float64, p)
	x := make([]float32, w.W*f)
	next := make([]float32, f)
	for k, i := range idx {
		if k%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("fit ar: %w", err)
			}
		}
		w.Gather([]int{i}, x, next, nil)
		a.features(x, w.W, row)
		xtx.SymRankOne(xtx, 1, mat.NewVecDense(p, row))
		for j := range f {
			y := (float64(next[j]) - a.mean[j]) / a.std[j]
			for r := range p {
				xty.Set(r, j, xty.At(r, j)+row[r]*y)
			}
		}
	}
	for r := range p - 1 {
		xtx.SetSym(r, r, xtx.At(r, r)+ridge*float64(len(idx)))
	}
	var ch mat.Cholesky
	if !ch.Factorize(xtx) {
		return nil, fmt.Errorf("fit ar: normal equations are not positive definite")
	}
	a.coef = mat.NewDense(p, f, nil)
	if err := ch.SolveTo(a.coef, xty); err != nil {
		return nil, fmt.Errorf("fit ar: %w", err)
	}
	return a, nil
}

// features writes the z-scored last lags steps of window x plus a bias.
func (a *arModel) features(x []float32, w int, row []float64) {
	k := 0
	for t := w - a.lags; t < w; t++ {
		for j := range a.f {
			row[k] = (float64(x[t*a.f+j]) - a.mean[j]) / a.std[j]
			k++
		}
	}
	row[k] = 1
}

func (a *arModel) AnomalyScores(x, next []float32, n int, score []float64, perFeature []float32) error {
	p := a.lags*a.f + 1
	w := len(x) / max(n, 1) / a.f
	row := make([]float64, p)
	for i := range n {
		a.features(x[i*w*a.f:(i+1)*w*a.f], w, row)
		sum, cnt := 0.0, 0
		for j := range a.f {
			pred := 0.0
			for r := range p {
				pred += row[r] * a.coef.At(r, j)
			}
			v := next[i*a.f+j]
			r := 0.0
			if v == v {
				d := (float64(v)-a.mean[j])/a.std[j] - pred
				r = d * d
				sum += r
				cnt++
			}
			if perFeature != nil {
				perFeature[i*a.f+j] = float32(r)
			}
		}
		if cnt > 0 {
			score[i] = sum / float64(cnt)
		} else {
			score[i] = 0
		}
	}
	return nil
}

// scoreWindows runs s over all windows of w in chunks and returns the total
// scores (n) and, when ranker is not nil, the ranking scores (n×F).
func scoreWindows(ctx context.Context, s Scorer, ranker DimensionRanker, w *Windows) ([]float64, []float32, error) {
	const chunk = 512
	n := w.N()
	score := make([]float64, n)
	var rank []float32
	if ranker != nil {
		rank = make([]float32, n*w.F)
	}
	wf := w.W * w.F
	x := make([]float32, chunk*wf)
	next := make([]float32, chunk*w.F)
	idx := make([]int, 0, chunk)
	for b := 0; b < n; b += chunk {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("scoring: %w", err)
		}
		e := min(b+chunk, n)
		idx = idx[:0]
		for i := b; i < e; i++ {
			idx = append(idx, i)
		}
		k := len(idx)
		w.Gather(idx, x[:k*wf], next[:k*w.F], nil)
		if err := s.AnomalyScores(x[:k*wf], next[:k*w.F], k, score[b:e], nil); err != nil {
			return nil, nil, fmt.Errorf("anomaly scores: %w", err)
		}
		if ranker != nil {
			if err := ranker.RankScores(x[:k*wf], next[:k*w.F], k, rank[b*w.F:e*w.F]); err != nil {
				return nil, nil, fmt.Errorf("rank dimensions: %w", err)
			}
		}
	}
	return score, rank, nil
}

// Residual scales of EvalOptions.Scale.
const (
	ScaleZ      = "z"      // squared residual in units of the training std
	ScaleMinMax = "minmax" // squared residual in units of the training range
	// ScaleVal divides each feature's squared residual by its mean over the
	// validation windows (floored at 1 % of the mean over features), so
	// every feature's normal error level is 1.
	ScaleVal = "val"
	// ScaleValMedian divides each feature's squared residual by its median
	// over the validation windows (floored at 1 % of the mean of the
	// medians over features): a robust (MAD-like) per-feature scale that a
	// few large validation errors do not inflate.
	ScaleValMedian = "val-median"
)

// validationResiduals scores up to 20,000 evenly spaced windows of w
// with s and returns how many, their next-step targets and their
// per-feature residuals (n×F each).
func validationResiduals(ctx context.Context, s Scorer, w *Windows) (n int, next, per []float32, err error) {
	idx := spaced(w.N(), 20000)
	n = len(idx)
	x := make([]float32, n*w.W*w.F)
	next = make([]float32, n*w.F)
	w.Gather(idx, x, next, nil)
	if err := ctx.Err(); err != nil {
		return 0, nil, nil, err
	}
	score := make([]float64, n)
	per = make([]float32, n*w.F)
	if err := s.AnomalyScores(x, next, n, score, per); err != nil {
		return 0, nil, nil, fmt.Errorf("validation residuals: %w", err)
	}
	return n, next, per, nil
}

// valWeights returns 1/mean (or, with median, 1/median) validation
// squared residual per feature of s over w.
func valWeights(ctx context.Context, s Scorer, w *Windows, median bool) ([]float32, error) {
	n, _, per, err := validationResiduals(ctx, s, w)
	if err != nil {
		return nil, err
	}
	f := w.F
	sum := make([]float64, f)
	for i := range n {
		for j := range f {
			sum[j] += float64(per[i*f+j])
		}
	}
	for j := range f {
		sum[j] /= float64(max(n, 1))
	}
	if median && n > 0 {
		col := make([]float64, n)
		for j := range f {
			for i := range n {
				col[i] = float64(per[i*f+j])
			}
			slices.Sort(col)
			sum[j] = col[len(col)/2]
		}
	}
	total := 0.0
	for j := range f {
		total += sum[j]
	}
	floor := 0.01 * total / float64(f)
	if floor <= 0 {
		floor = 1e-12
	}
	out := make([]float32, f)
	for j := range f {
		out[j] = float32(1 / max(sum[j], floor))
	}
	return out, nil
}

// scaledScorer reweighs the per-feature residuals of a Scorer by weight[f]
// and recomputes the total as their mean (or, with max set, their maximum)
// over the features with a value.
type scaledScorer struct {
	s      Scorer
	weight []float32
	max    bool
	second bool // the second-largest scaled residual (AggregateSecond)
}

func (c scaledScorer) AnomalyScores(x, next []float32, n int, score []float64, perFeature []float32) error {
	f := len(c.weight)
	if perFeature == nil {
		perFeature = make([]float32, n*f)
	}
	if err := c.s.AnomalyScores(x, next, n, score, perFeature); err != nil {
		return err
	}
	for i := range n {
		sum, hi, hi2, cnt := 0.0, 0.0, 0.0, 0
		for j := range f {
			// In float64: a residual near the float32 maximum times a
			// weight above 1 would be +Inf in float32. The per-feature
			// residual is capped there, the score keeps the product.
			p := float64(perFeature[i*f+j]) * float64(c.weight[j])
			perFeature[i*f+j] = float32(min(p, math.MaxFloat32))
			if v := next[i*f+j]; v == v {
				r := float64(perFeature[i*f+j])
				if p > math.MaxFloat32 {
					r = p
				}
				sum += r
				if r > hi {
					hi, hi2 = r, hi
				} else if r > hi2 {
					hi2 = r
				}
				cnt++
			}
		}
		score[i] = 0
		switch {
		case c.second:
			score[i] = hi2
		case c.max:
			score[i] = hi
		case cnt > 0:
			score[i] = sum / float64(cnt)
		}
	}
	return nil
}

func (c scaledScorer) RankScores(x, next []float32, n int, out []float32) error {
	score := make([]float64, n)
	return c.AnomalyScores(x, next, n, score, out)
}

// minMaxWeights returns std_f² / range_f² per feature, converting squared
// z-scored residuals into squared residuals in units of the training range
// (range 0 counts as 1).
func minMaxWeights(s *dataset.Series, std []float64) []float32 {
	f := len(s.Features)
	lo := make([]float64, f)
	hi := make([]float64, f)
	for j := range f {
		lo[j], hi[j] = math.Inf(1), math.Inf(-1)
	}
	for t := range s.Steps() {
		for j, v := range s.Row(t) {
			if v == v {
				lo[j] = min(lo[j], v)
				hi[j] = max(hi[j], v)
			}
		}
	}
	w := make([]float32, f)
	for j := range f {
		r := hi[j] - lo[j]
		if !(r > 1e-12) || math.IsInf(r, 0) {
			r = 1
		}
		w[j] = float32(std[j] * std[j] / (r * r))
	}
	return w
}

// ScaleValTail turns each feature's residual into its surprise under that
// feature's own validation residual distribution: −ln of the empirical
// probability of a residual at least as large, with an exponential tail
// (scale from the median excess over the feature's Level quantile, as
// threshold.RobustPOT) beyond that quantile. A feature whose forecasts are
// rarely far off counts a given miss more than a spiky one, in the tail as
// well as at the median (ScaleValMedian equalises only the median).
const ScaleValTail = "val-tail"

// tailScorer is the ScaleValTail scorer: per-feature surprises of the
// wrapped Scorer's residuals, aggregated by their mean (or maximum).
type tailScorer struct {
	s      Scorer
	sorted [][]float32 // per feature: validation residuals up to the Level quantile, ascending
	n      []int       // per feature: number of validation residuals
	u      []float64   // per feature: the Level quantile
	sigma  []float64   // per feature: exponential tail scale
	level  float64
	max    bool
}

// newTailScorer fits the per-feature residual distributions of s on the
// validation windows w.
func newTailScorer(ctx context.Context, s Scorer, w *Windows, level float64, useMax bool) (*tailScorer, error) {
	n, next, per, err := validationResiduals(ctx, s, w)
	if err != nil {
		return nil, err
	}
	f := w.F
	ts := &tailScorer{s: s, sorted: make([][]float32, f), n: make([]int, f), u: make([]float64, f), sigma: make([]float64, f), level: level, max: useMax}
	col := make([]float32, 0, n)
	var sigmas []float64
	for j := range f {
		col = col[:0]
		for i := range n {
			if v := next[i*f+j]; v == v {
				col = append(col, per[i*f+j])
			}
		}
		slices.Sort(col)
		ts.n[j] = len(col)
		if len(col) == 0 {
			continue
		}
		k := min(int(level*float64(len(col))), len(col)-1)
		ts.u[j] = float64(col[k])
		ts.sorted[j] = slices.Clone(col[:k+1])
		ex := make([]float64, 0, len(col)-k)
		for _, v := range col[k:] {
			if d := float64(v) - ts.u[j]; d > 0 {
				ex = append(ex, d)
			}
		}
		if len(ex) > 0 {
			slices.Sort(ex)
			ts.sigma[j] = ex[len(ex)/2] / math.Ln2
			sigmas = append(sigmas, ts.sigma[j])
		}
	}
	// Features whose validation residuals have no tail (constant or nearly
	// so) get a small tail scale: a fraction of the median scale of the
	// others, so any miss on them is very surprising but finite.
	floor := 1e-12
	if len(sigmas) > 0 {
		slices.Sort(sigmas)
		floor = max(0.01*sigmas[len(sigmas)/2], 1e-12)
	}
	for j := range f {
		ts.sigma[j] = max(ts.sigma[j], floor)
	}
	return ts, nil
}

// surprise is −ln P(residual ≥ r) for feature j.
func (c *tailScorer) surprise(j int, r float64) float64 {
	if c.n[j] == 0 {
		return 0
	}
	if r > c.u[j] {
		return -math.Log(1-c.level) + (r-c.u[j])/c.sigma[j]
	}
	// Number of validation residuals < r: the probability of one ≥ r.
	below, _ := slices.BinarySearch(c.sorted[j], float32(r))
	return -math.Log(1 - float64(below)/float64(c.n[j]))
}

func (c *tailScorer) AnomalyScores(x, next []float32, n int, score []float64, perFeature []float32) error {
	f := len(c.n)
	if perFeature == nil {
		perFeature = make([]float32, n*f)
	}
	if err := c.s.AnomalyScores(x, next, n, score, perFeature); err != nil {
		return err
	}
	for i := range n {
		sum, hi, cnt := 0.0, 0.0, 0
		for j := range f {
			if v := next[i*f+j]; v == v {
				s := c.surprise(j, float64(perFeature[i*f+j]))
				perFeature[i*f+j] = float32(s)
				sum += s
				hi = max(hi, s)
				cnt++
			} else {
				perFeature[i*f+j] = 0
			}
		}
		score[i] = 0
		switch {
		case c.max:
			score[i] = hi
		case cnt > 0:
			score[i] = sum / float64(cnt)
		}
	}
	return nil
}

func (c *tailScorer) RankScores(x, next []float32, n int, out []float32) error {
	score := make([]float64, n)
	return c.AnomalyScores(x, next, n, score, out)
}
