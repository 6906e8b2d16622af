package training

import (
	"context"
	"fmt"

	"github.com/omen-sre/omen/model"
)

// scoreCleaned scores the windows of w in time order like scoreWindows,
// but keeps detected anomalies out of the forecaster's context: when a
// step's score (EWMA-smoothed with span smooth, as the caller will) reaches
// thr, the model's forecast of that step replaces its actual values in the
// windows of the steps after it. A sustained shift then keeps being
// compared with the normal behaviour that preceded it instead of becoming
// the context the next forecasts start from, so its residual does not fade
// and no false alarm follows when the metric returns to normal. After
// maxRun consecutive replaced steps the actual values are used again (the
// shift is accepted as the new normal) until a step scores below thr. The windows of w must be consecutive steps (ScoringWindows).
func scoreCleaned(ctx context.Context, s Scorer, ranker DimensionRanker, m *model.Model, w *Windows, thr float64, smooth, maxRun int) ([]float64, []float32, error) {
	n, f, wl := w.N(), w.F, w.W
	clean := append([]float32(nil), w.data...)
	score := make([]float64, n)
	var rank []float32
	if ranker != nil {
		rank = make([]float32, n*f)
	}
	x := make([]float32, wl*f)
	fc := make([]float32, f)
	a := 0.0
	if smooth > 0 {
		a = 2 / float64(smooth+1)
	}
	prev, run := 0.0, 0
	for i := range n {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, fmt.Errorf("scoring: %w", err)
			}
		}
		end := w.End[i]
		tgt := end + 1 + w.Gap
		copy(x, clean[(end-wl+1)*f:(end+1)*f])
		next := w.data[tgt*f : (tgt+1)*f]
		if err := s.AnomalyScores(x, next, 1, score[i:i+1], nil); err != nil {
			return nil, nil, fmt.Errorf("anomaly scores: %w", err)
		}
		if ranker != nil {
			if err := ranker.RankScores(x, next, 1, rank[i*f:(i+1)*f]); err != nil {
				return nil, nil, fmt.Errorf("rank dimensions: %w", err)
			}
		}
		sm := score[i]
		if a > 0 && i > 0 {
			sm = a*score[i] + (1-a)*prev
		}
		prev = sm
		if sm < thr {
			run = 0
			continue
		}
		run++
		if run > maxRun {
			continue
		}
		if err := m.Forecast(x, 1, nil, fc); err != nil {
			return nil, nil, fmt.Errorf("forecast: %w", err)
		}
		copy(clean[tgt*f:(tgt+1)*f], fc)
	}
	return score, rank, nil
}
