package training

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/omen-sre/omen/internal/tty"
)

// Learner is what the training loop drives; *model.Trainer satisfies it.
// x holds n windows of W×F raw values back to back (time-major), next the
// n×F forecast targets and label the n failure labels (NaN = masked).
// Step updates the weights, Loss only evaluates. Neither is called
// concurrently.
type Learner interface {
	Step(x, next, label []float32, n int) (loss, forecastLoss, bceLoss float64, err error)
	Loss(x, next, label []float32, n int) (loss, forecastLoss, bceLoss float64, err error)
}

// Snapshotter is optionally implemented by a Learner whose weights can be
// saved and restored, so early stopping can return the best epoch's
// weights instead of the last.
type Snapshotter interface {
	Snapshot() ([]byte, error)
	Restore([]byte) error
}

// WeightAverager is optionally implemented by a Learner whose weights can
// be read and replaced, so that Fit can average them over epochs
// (LoopOptions.AverageFrom).
type WeightAverager interface {
	Weights() []float32
	SetWeights([]float32) error
}

// LoopOptions configure Fit.
type LoopOptions struct {
	// Epochs is the maximum number of passes over the training windows
	// (default 10).
	Epochs int
	// BatchSize is the minibatch size (default 64).
	BatchSize int
	// Patience stops training after this many epochs without a better
	// validation score (default 3; negative disables early stopping).
	Patience int
	// MaxWindowsPerEpoch, when > 0, draws at most this many training
	// windows (a fresh random subset) per epoch.
	MaxWindowsPerEpoch int
	// MaxValWindows, when > 0, evaluates on at most this many validation
	// windows (evenly spaced, the same ones every epoch).
	MaxValWindows int
	// Seed fixes the shuffling.
	Seed int64
	// AverageFrom, when > 0, averages the weights after every epoch from
	// this one to the last (stochastic weight averaging, Izmailov et al.
	// 2018) and returns the average instead of the best epoch: early
	// stopping is then off, every epoch runs, and History.Best describes
	// the averaged weights (validation loss and score computed once more).
	// The Learner must be a WeightAverager.
	AverageFrom int
	// ValScore, when set, scores the model after each epoch (higher is
	// better) and drives early stopping; by default the score is the
	// negated validation loss.
	ValScore func() (float64, error)
	// Progress receives a progress bar (terminal) or log lines; nil is
	// silent.
	Progress io.Writer
	// Label prefixes progress lines (e.g. the entity).
	Label string
	// Logger receives one debug record per epoch (default discard).
	Logger *slog.Logger
}

func (o *LoopOptions) defaults() error {
	if o.Epochs == 0 {
		o.Epochs = 10
	}
	if o.BatchSize == 0 {
		o.BatchSize = 64
	}
	if o.Patience == 0 {
		o.Patience = 3
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.AverageFrom > o.Epochs {
		return fmt.Errorf("loop options: averaging from epoch %d of %d", o.AverageFrom, o.Epochs)
	}
	if o.Epochs < 1 || o.BatchSize < 1 || o.MaxWindowsPerEpoch < 0 || o.MaxValWindows < 0 {
		return fmt.Errorf("loop options: want epochs ≥ 1, batch size ≥ 1, non-negative limits (got %d, %d, %d, %d)", o.Epochs, o.BatchSize, o.MaxWindowsPerEpoch, o.MaxValWindows)
	}
	return nil
}

// EpochStats are the figures of one epoch.
type EpochStats struct {
	Epoch        int     `json:"epoch"`
	Loss         float64 `json:"loss"`
	ValLoss      float64 `json:"val_loss"`
	ValScore     float64 `json:"val_score"`
	WindowsPerS  float64 `json:"windows_per_second"`
	DurationSecs float64 `json:"duration_seconds"`
}

// History is the outcome of Fit.
type History struct {
	Epochs    []EpochStats `json:"epochs"`
	BestEpoch int          `json:"best_epoch"`
	Best      EpochStats   `json:"best"`
	// Stopped says why training ended: "epochs", "early-stopping".
	Stopped string `json:"stopped"`
	// Averaged is how many epochs' weights were averaged into the result
	// (LoopOptions.AverageFrom; 0: none, the best epoch's weights).
	Averaged int `json:"averaged,omitempty"`
}

// Fit trains l on the training windows in shuffled minibatches for up to
// opts.Epochs epochs, evaluating on val after each epoch and stopping early
// when the validation score has not improved for opts.Patience epochs. If l
// is a Snapshotter the best epoch's weights are restored at the end. It
// returns ctx.Err() (wrapped) when the context ends.
func Fit(ctx context.Context, l Learner, train, val *Windows, opts LoopOptions) (History, error) {
	return fit(ctx, l, train, val, opts, tty.IsTerminal(opts.Progress))
}

// fit is Fit with the progress drawn as a bar (terminal) or not.
func fit(ctx context.Context, l Learner, train, val *Windows, opts LoopOptions, terminal bool) (History, error) {
	var h History
	if err := opts.defaults(); err != nil {
		return h, err
	}
	if train.N() == 0 {
		return h, errors.New("fit: no training windows")
	}
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x6f6d656e))
	perm := make([]int, train.N())
	for i := range perm {
		perm[i] = i
	}
	per := train.N()
	if opts.MaxWindowsPerEpoch > 0 {
		per = min(per, opts.MaxWindowsPerEpoch)
	}
	var valIdx []int
	if val != nil {
		valIdx = spaced(val.N(), opts.MaxValWindows)
	}
	bs := opts.BatchSize
	wf := train.W * train.F
	x := make([]float32, bs*wf)
	next := make([]float32, bs*train.F)
	label := make([]float32, bs)
	pb := newProgress(opts.Progress, opts.Label, per*opts.Epochs, terminal)
	// Whatever ends the training (an error, an interrupt) ends the bar's
	// line first: the caller's message is not glued onto it.
	defer pb.end()
	snap, canSnap := l.(Snapshotter)
	avg, canAvg := l.(WeightAverager)
	if opts.AverageFrom > 0 && !canAvg {
		return h, errors.New("fit: weight averaging needs a learner whose weights can be read and set")
	}
	var sum64 []float64 // running sum of the averaged epochs' weights
	var bestWeights []byte
	bestScore := math.Inf(-1)
	sinceBest := 0
	h.Stopped = "epochs"
	for epoch := 1; epoch <= opts.Epochs; epoch++ {
		start := time.Now()
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		sum, cnt := 0.0, 0
		for b := 0; b < per; b += bs {
			if err := ctx.Err(); err != nil {
				return h, fmt.Errorf("training interrupted in epoch %d: %w", epoch, err)
			}
			idx := perm[b:min(b+bs, per)]
			n := len(idx)
			train.Gather(idx, x[:n*wf], next[:n*train.F], label[:n])
			loss, _, _, err := l.Step(x[:n*wf], next[:n*train.F], label[:n], n)
			if err != nil {
				return h, fmt.Errorf("training step in epoch %d: %w", epoch, err)
			}
			if !math.IsNaN(loss) {
				sum += loss * float64(n)
				cnt += n
			}
			pb.advance(n, epoch, opts.Epochs, sum/float64(max(cnt, 1)))
		}
		if cnt == 0 {
			return h, fmt.Errorf("epoch %d: every training loss was NaN", epoch)
		}
		es := EpochStats{Epoch: epoch, Loss: sum / float64(cnt)}
		vl, err := meanLoss(l, val, valIdx, bs)
		if err != nil {
			return h, fmt.Errorf("validation loss in epoch %d: %w", epoch, err)
		}
		es.ValLoss = vl
		es.ValScore = -vl
		if opts.ValScore != nil {
			if es.ValScore, err = opts.ValScore(); err != nil {
				return h, fmt.Errorf("validation score in epoch %d: %w", epoch, err)
			}
		}
		if math.IsNaN(es.ValScore) {
			es.ValScore = -es.Loss
		}
		es.DurationSecs = time.Since(start).Seconds()
		es.WindowsPerS = float64(per) / max(es.DurationSecs, 1e-9)
		h.Epochs = append(h.Epochs, es)
		if opts.AverageFrom > 0 && epoch >= opts.AverageFrom {
			w := avg.Weights()
			if sum64 == nil {
				sum64 = make([]float64, len(w))
			}
			for i, v := range w {
				sum64[i] += float64(v)
			}
			h.Averaged++
		}
		improved := es.ValScore > bestScore
		if improved {
			bestScore = es.ValScore
			h.BestEpoch, h.Best = epoch, es
			sinceBest = 0
			if canSnap && opts.AverageFrom == 0 {
				if bestWeights, err = snap.Snapshot(); err != nil {
					return h, fmt.Errorf("snapshot weights: %w", err)
				}
			}
		} else {
			sinceBest++
		}
		pb.epoch(epoch, opts.Epochs, es.Loss, es.ValLoss, es.ValScore, improved)
		opts.Logger.Debug("epoch", "label", opts.Label, "epoch", epoch, "loss", es.Loss, "val_loss", es.ValLoss, "val_score", es.ValScore, "windows_per_second", es.WindowsPerS)
		if opts.AverageFrom == 0 && opts.Patience > 0 && sinceBest >= opts.Patience && epoch < opts.Epochs {
			h.Stopped = "early-stopping"
			pb.finish(fmt.Sprintf("early stop after epoch %d (best %d)", epoch, h.BestEpoch))
			break
		}
	}
	if h.Averaged > 0 {
		return h, useAverage(l, avg, sum64, h.Averaged, val, valIdx, bs, opts, &h)
	}
	if canSnap && bestWeights != nil && h.BestEpoch != len(h.Epochs) {
		if err := snap.Restore(bestWeights); err != nil {
			return h, fmt.Errorf("restore best weights: %w", err)
		}
	}
	return h, nil
}

// useAverage sets the learner's weights to sum/n and records their
// validation figures as h.Best.
func useAverage(l Learner, avg WeightAverager, sum []float64, n int, val *Windows, valIdx []int, bs int, opts LoopOptions, h *History) error {
	w := make([]float32, len(sum))
	for i, v := range sum {
		w[i] = float32(v / float64(n))
	}
	if err := avg.SetWeights(w); err != nil {
		return fmt.Errorf("set averaged weights: %w", err)
	}
	last := h.Epochs[len(h.Epochs)-1]
	// Loss stays the last epoch's training loss (the averaged weights
	// are not run over the training windows again).
	es := EpochStats{Epoch: last.Epoch, Loss: last.Loss}
	vl, err := meanLoss(l, val, valIdx, bs)
	if err != nil {
		return fmt.Errorf("validation loss of the averaged weights: %w", err)
	}
	es.ValLoss, es.ValScore = vl, -vl
	if opts.ValScore != nil {
		if es.ValScore, err = opts.ValScore(); err != nil {
			return fmt.Errorf("validation score of the averaged weights: %w", err)
		}
	}
	if math.IsNaN(es.ValScore) {
		es.ValScore = -es.Loss
	}
	h.BestEpoch, h.Best = last.Epoch, es
	opts.Logger.Debug("averaged weights", "label", opts.Label, "epochs", n, "val_loss", es.ValLoss, "val_score", es.ValScore)
	return nil
}

// spaced returns min(n, limit) evenly spaced indices in [0, n) (all when
// limit is 0).
func spaced(n, limit int) []int {
	k := n
	if limit > 0 && limit < n {
		k = limit
	}
	out := make([]int, k)
	for i := range out {
		out[i] = int(int64(i) * int64(n) / int64(k))
	}
	return out
}

// meanLoss is the mean loss of l over the windows idx of w (NaN when idx
// is empty).
func meanLoss(l Learner, w *Windows, idx []int, bs int) (float64, error) {
	if w == nil || len(idx) == 0 {
		return math.NaN(), nil
	}
	wf := w.W * w.F
	x := make([]float32, bs*wf)
	next := make([]float32, bs*w.F)
	label := make([]float32, bs)
	sum, cnt := 0.0, 0
	for b := 0; b < len(idx); b += bs {
		part := idx[b:min(b+bs, len(idx))]
		n := len(part)
		w.Gather(part, x[:n*wf], next[:n*w.F], label[:n])
		loss, _, _, err := l.Loss(x[:n*wf], next[:n*w.F], label[:n], n)
		if err != nil {
			return 0, err
		}
		if !math.IsNaN(loss) {
			sum += loss * float64(n)
			cnt += n
		}
	}
	if cnt == 0 {
		return math.NaN(), nil
	}
	return sum / float64(cnt), nil
}
