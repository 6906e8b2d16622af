package explain

import (
	"context"
	"errors"
	"fmt"
)

// AnomalyScorer scores how anomalous the step after each window is: for n
// windows x (W×F values each, time-major) and their actual next steps next
// (n×F), score[i] is window i's anomaly score; perFeature may be nil.
// training.Scorer and *model.Model have this method. It must be safe for
// concurrent use.
type AnomalyScorer interface {
	AnomalyScores(x, next []float32, n int, score []float64, perFeature []float32) error
}

// FeatureRanker attributes anomaly scores to features with Shapley values:
// the explained input is a window together with the step it forecasts
// ((W+1)×F cells), one group per feature (its W past values and its actual
// next value), the prediction is the anomaly score, and the background is
// normal windows (e.g. validation windows) with their next steps. It
// satisfies training.DimensionRanker, so that `omen eval` can rank the
// dimensions of a data set's anomalies with package explain's attributions
// instead of the per-feature residuals.
//
// Unlike a residual, an attribution also credits a feature whose history
// throws the forecasts of other features off. It costs the explainer's
// budget of model evaluations per window (256 with [Fast]).
//
// A FeatureRanker is safe for concurrent use when its scorer is.
type FeatureRanker struct {
	scorer    AnomalyScorer
	w, f      int
	bg        [][]float32
	groups    []Group
	explainer Explainer
}

// NewFeatureRanker returns a FeatureRanker for windows of w steps of f
// features. bgX (k×W×F) and bgNext (k×F) are k ≥ 1 background windows and
// their next steps; they are copied. A nil explainer means [Fast] with its
// default budget.
func NewFeatureRanker(s AnomalyScorer, w, f int, bgX, bgNext []float32, e Explainer) (*FeatureRanker, error) {
	if s == nil {
		return nil, errors.New("feature ranker: nil scorer")
	}
	if err := checkShape(w, f); err != nil {
		return nil, fmt.Errorf("feature ranker: %w", err)
	}
	k := len(bgNext) / f
	if k == 0 || len(bgNext) != k*f || len(bgX) != k*w*f {
		return nil, fmt.Errorf("feature ranker: background of %d window and %d next-step values is not k×%d and k×%d with k ≥ 1", len(bgX), len(bgNext), w*f, f)
	}
	if e == nil {
		e = Fast{}
	}
	r := &FeatureRanker{scorer: s, w: w, f: f, explainer: e, bg: make([][]float32, k)}
	for i := range k {
		r.bg[i] = r.join(bgX[i*w*f:(i+1)*w*f], bgNext[i*f:(i+1)*f], nil)
	}
	r.groups = make([]Group, f)
	for j := range f {
		cells := make([]int, w+1)
		for t := range cells {
			cells[t] = t*f + j
		}
		r.groups[j] = Group{Name: fmt.Sprintf("dim %d", j), Kind: KindMetric, Cells: cells}
	}
	return r, nil
}

// join appends a window and its next step into dst ((W+1)×F values).
func (r *FeatureRanker) join(x, next, dst []float32) []float32 {
	dst = append(dst[:0], x...)
	return append(dst, next...)
}

// Predict scores n joined windows ((W+1)×F each): the explained function.
func (r *FeatureRanker) Predict(z []float32, n int, out []float64) error {
	wf, f := r.w*r.f, r.f
	if len(z) != n*(wf+f) || len(out) < n {
		return fmt.Errorf("feature ranker: %d windows need %d values and %d outputs, have %d and %d", n, n*(wf+f), n, len(z), len(out))
	}
	x := make([]float32, n*wf)
	next := make([]float32, n*f)
	for i := range n {
		row := z[i*(wf+f) : (i+1)*(wf+f)]
		copy(x[i*wf:], row[:wf])
		copy(next[i*f:], row[wf:])
	}
	return r.scorer.AnomalyScores(x, next, n, out[:n], nil)
}

// RankScores writes, for each of the n windows x (W×F) and next steps
// next (F), the features' Shapley values of the anomaly score times F into
// out (n×F), negative values as 0: for a score that is the mean of the
// features' scaled residuals, a feature whose own residual explains the
// score gets about that residual (less its background level), the unit of
// the default residual ranking.
func (r *FeatureRanker) RankScores(x, next []float32, n int, out []float32) error {
	wf, f := r.w*r.f, r.f
	if len(x) != n*wf || len(next) != n*f || len(out) < n*f {
		return fmt.Errorf("feature ranker: %d windows need %d, %d and %d values, have %d, %d and %d", n, n*wf, n*f, n*f, len(x), len(next), len(out))
	}
	var z []float32
	for i := range n {
		z = r.join(x[i*wf:(i+1)*wf], next[i*f:(i+1)*f], z)
		a, err := r.explainer.Explain(context.Background(), r, z, r.bg, r.groups)
		if err != nil {
			return fmt.Errorf("feature ranker: window %d: %w", i, err)
		}
		for j := range f {
			out[i*f+j] = float32(max(a.Groups[j].Phi, 0) * float64(f))
		}
	}
	return nil
}
