package training

import (
	"fmt"
	"math"
	"slices"

	"github.com/omen-sre/omen/training/dataset"
)

// WindowOptions shape the training examples cut from a series.
type WindowOptions struct {
	// Window is the number of steps per input window (W ≥ 1).
	Window int
	// Stride is the step between consecutive window starts (default 1).
	Stride int
	// Horizon H: the failure label of a window ending at step t is true
	// when any step in (t, t+H] is labelled. With H = 0 the label is the
	// label of step t+1 (the forecast step). Windows whose horizon runs past
	// the end of the series get a masked (NaN) label, unless the series
	// Ended (the entity is gone: the remaining steps decide).
	Horizon int
	// Onset makes the label predict failure onsets: a window whose last
	// step is already failing gets a masked (NaN) label, so the model is
	// trained only on whether a failure starts within the horizon — on
	// precursors — and not on recognising a failure under way. Failing
	// steps with at most EpisodeGap non-failing steps between them are
	// one failure (FailureEpisodes): the steps between them are failing
	// too, so a failure whose label blinks (an event-based label, set at
	// each BackOff event of a crash loop) has one onset, not one per
	// event.
	Onset bool
	// EpisodeGap is the longest run of non-failing steps between two
	// failing steps that Onset takes for one failure (default 0: Horizon).
	// Train passes the model's Horizon for the training windows too,
	// whose Horizon is the LabelHorizon, so that both parts merge alike.
	EpisodeGap int
	// Gap skips steps between a window and its forecast target: the target
	// of a window ending at step t is step t+1+Gap (default 0, the next
	// step). A forecaster trained with a gap predicts further ahead, so its
	// residual at a step does not yet reflect the steps just before it.
	Gap int
	// MaskBeyond, when in [1, Horizon), masks (NaN) the positive windows
	// whose first labelled step lies beyond t+MaskBeyond: they are neither
	// positives nor negatives.
	MaskBeyond int
}

func (o *WindowOptions) defaults() error {
	if o.Stride == 0 {
		o.Stride = 1
	}
	if o.Window < 1 || o.Stride < 1 || o.Horizon < 0 || o.Gap < 0 || o.EpisodeGap < 0 {
		return fmt.Errorf("window options %+v: want window ≥ 1, stride ≥ 1, horizon ≥ 0, gap ≥ 0, episode gap ≥ 0", *o)
	}
	if o.EpisodeGap == 0 {
		o.EpisodeGap = o.Horizon
	}
	return nil
}

// Windows are the sliding windows of one series, kept as views into a
// single float32 copy of the series so that even long series cost only
// their own size. Window i covers steps [End[i]−W+1, End[i]]; its forecast
// target is step End[i]+1+Gap.
type Windows struct {
	W, F int
	// Gap is the number of steps between a window's end and its target.
	Gap int
	// data is the series, time-major, float32.
	data []float32
	// steps is the number of rows in data.
	steps int
	// entity is the series' entity (MakeWindows; empty once joined).
	entity string
	// End is the last step of each window.
	End []int
	// Label is the failure label per window: 1, 0 or NaN (masked).
	Label []float32
	// NoTarget, when not nil, marks the windows whose forecast target is
	// a step the daemon does not score (Series.Present): Gather gives them
	// a NaN target, and their anomaly scores are no example of the
	// daemon's.
	NoTarget []bool
	// Unscored, when not nil, marks the windows that end at a step the
	// daemon does not score (Series.Present): it has no failure
	// probability there, so their probabilities are no example of the
	// daemon's (their labels are NaN).
	Unscored []bool
}

// HasTarget reports whether window i's forecast target is a step the
// daemon scores (always, for a series without Series.Present).
func (w *Windows) HasTarget(i int) bool { return w.NoTarget == nil || !w.NoTarget[i] }

// Scored reports whether window i ends at a step the daemon scores
// (always, for a series without Series.Present).
func (w *Windows) Scored(i int) bool { return w.Unscored == nil || !w.Unscored[i] }

// ScoredSteps returns, for a series with Series.Present, whether the
// daemon scores each step: the entity has a vector there and the
// daemon's window of it holds the W+1 rows it needs (the window ending at
// the step, and the one before for the forecast residual). The daemon
// places an entity's vectors on the step grid, a missing step a row of
// NaN, and starts its window afresh when more than W steps are missing
// (app's scorer); the history before the series' first step counts as
// continuing up to it, unless the series is Born (the entity's first
// vector: the daemon's window starts at its first step with a vector, and
// is first scored W steps later). nil when s has no Present.
func ScoredSteps(s *dataset.Series, w int) []bool {
	if s.Present == nil {
		return nil
	}
	out := make([]bool, len(s.Present))
	// The step the window last started afresh at (none: as if W steps
	// before the first), and the last step with a vector (as if the one
	// before the first; born: none within the window, so that the first
	// starts it afresh).
	reset, last := -w, -1
	if s.Born {
		last = -w - 2
	}
	for t, p := range s.Present {
		if !p {
			continue
		}
		if t-last > w+1 {
			reset = t
		}
		last = t
		out[t] = t-reset >= w
	}
	return out
}

// N returns the number of windows.
func (w *Windows) N() int { return len(w.End) }

// MakeWindows cuts s into windows that all have a forecast target inside
// s (so the last window ends at step Steps−2−Gap at the latest: earlier
// when the stride does not land on it). Labels come from s.Labels shifted
// by the horizon (all NaN when s has no labels). For a series with
// Present, the windows follow the daemon's scoring (ScoredSteps): a
// window ending at a step the daemon does not score has a NaN label, one
// whose target is such a step has no target (NoTarget), and a window with
// neither is left out; Unscored marks the former.
func MakeWindows(s *dataset.Series, opts WindowOptions) (*Windows, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	n := s.Steps()
	w := &Windows{W: opts.Window, F: len(s.Features), Gap: opts.Gap, steps: n, data: toFloat32(s.Values), entity: s.Entity}
	scored := ScoredSteps(s, opts.Window)
	labels := s.Labels
	if opts.Onset {
		labels = FailureEpisodes(labels, opts.EpisodeGap)
	}
	for end := opts.Window - 1; end+1+opts.Gap < n; end += opts.Stride {
		if scored != nil && !scored[end] && !scored[end+1+opts.Gap] {
			continue // neither scored nor forecast by the daemon
		}
		w.End = append(w.End, end)
		if scored != nil {
			w.NoTarget = append(w.NoTarget, !scored[end+1+opts.Gap])
			w.Unscored = append(w.Unscored, !scored[end])
		}
		l := horizonLabel(labels, end, opts.Horizon, s.Ended)
		if scored != nil && !scored[end] {
			l = float32(math.NaN()) // the daemon never scores this window
		}
		if opts.MaskBeyond > 0 && opts.MaskBeyond < opts.Horizon && l == 1 && horizonLabel(labels, end, opts.MaskBeyond, s.Ended) != 1 {
			l = float32(math.NaN())
		}
		if opts.Onset && labels != nil && labels[end] {
			l = float32(math.NaN())
		}
		w.Label = append(w.Label, l)
	}
	return w, nil
}

// ScoringWindows returns one window per step t of s in [from, Steps): the
// window ends at t−1 and its target is step t. Steps before from provide
// context only (e.g. the tail of the training series prepended to a test
// series). It is an error when from < Window.
func ScoringWindows(s *dataset.Series, window, from int) (*Windows, error) {
	return ScoringWindowsGap(s, window, 0, from)
}

// ScoringWindowsGap is ScoringWindows for a forecaster trained with a gap:
// the window for step t ends at t−1−gap. It is an error when
// from < window+gap.
func ScoringWindowsGap(s *dataset.Series, window, gap, from int) (*Windows, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if gap < 0 {
		return nil, fmt.Errorf("negative gap %d", gap)
	}
	if from < window+gap {
		return nil, fmt.Errorf("scoring from step %d needs %d steps of context", from, window+gap)
	}
	n := s.Steps()
	w := &Windows{W: window, F: len(s.Features), Gap: gap, steps: n, data: toFloat32(s.Values)}
	for t := from; t < n; t++ {
		w.End = append(w.End, t-1-gap)
		w.Label = append(w.Label, float32(math.NaN()))
	}
	return w, nil
}

// horizonLabel is 1 when a step in (end, end+h] is labelled, 0 when none
// is, NaN when the horizon runs past the series and the entity may live on
// (ended: it did not, so the steps that exist decide).
func horizonLabel(labels []bool, end, h int, ended bool) float32 {
	if labels == nil {
		return float32(math.NaN())
	}
	if h == 0 {
		h = 1
	}
	if end+h >= len(labels) {
		if !ended {
			return float32(math.NaN())
		}
		h = len(labels) - 1 - end
	}
	for t := end + 1; t <= end+h; t++ {
		if labels[t] {
			return 1
		}
	}
	return 0
}

// FailureEpisodes returns labels with the runs of at most gap non-failing
// steps between two failing steps set failing too: failing steps with at
// most gap non-failing steps between them are one failure. An event-based failure label is set at the
// steps its events come at (a crash loop's BackOff every few minutes), not
// at every step of the failure; as onsets, each event after a gap would be
// a failure beginning, and the windows in the gaps, well into the failure,
// examples of its precursor (a model trained so alerts during failures).
// labels itself when it has no such gap (nil stays nil).
func FailureEpisodes(labels []bool, gap int) []bool {
	var out []bool
	last := -1 // the last failing step
	for i, l := range labels {
		if !l {
			continue
		}
		if last >= 0 && i-last > 1 && i-last-1 <= gap {
			if out == nil {
				out = slices.Clone(labels)
			}
			for k := last + 1; k < i; k++ {
				out[k] = true
			}
		}
		last = i
	}
	if out == nil {
		return labels
	}
	return out
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// Gather writes the windows idx into x (len(idx)·W·F, time-major per
// window), their forecast targets into next (len(idx)·F, NaN past the end)
// and labels into label (len(idx)); nil destinations are skipped.
func (w *Windows) Gather(idx []int, x, next, label []float32) {
	wf := w.W * w.F
	for k, i := range idx {
		end := w.End[i]
		start := end - w.W + 1
		if x != nil {
			copy(x[k*wf:(k+1)*wf], w.data[start*w.F:(end+1)*w.F])
		}
		if next != nil {
			dst := next[k*w.F : (k+1)*w.F]
			if tg := end + 1 + w.Gap; tg < w.steps && w.HasTarget(i) {
				copy(dst, w.data[tg*w.F:(tg+1)*w.F])
			} else {
				for j := range dst {
					dst[j] = float32(math.NaN())
				}
			}
		}
		if label != nil {
			label[k] = w.Label[i]
		}
	}
}

// SplitTime splits s in time order: the first (1−valFrac) of the steps
// train, the rest validate. Windows cut from either part never cross the
// boundary, so no validation value leaks into training.
func SplitTime(s *dataset.Series, valFrac float64) (train, val *dataset.Series, err error) {
	if !(valFrac > 0 && valFrac < 1) {
		return nil, nil, fmt.Errorf("validation fraction %v outside (0, 1)", valFrac)
	}
	n := s.Steps()
	cut := int(math.Round(float64(n) * (1 - valFrac)))
	if cut < 2 || n-cut < 2 {
		return nil, nil, fmt.Errorf("series %q of %d steps too short to split at %v", s.Entity, n, valFrac)
	}
	return s.Slice(0, cut), s.Slice(cut, n), nil
}

// PositiveWeight returns negatives/positives over the unmasked labels,
// capped at maxWeight (1 when there are no positives).
func PositiveWeight(labels []float32, maxWeight float64) float64 {
	pos, neg := labelCounts(labels)
	if pos == 0 {
		return 1
	}
	return min(float64(neg)/float64(pos), maxWeight)
}

// labelCounts counts the positive and the negative labels (masked ones,
// NaN, are neither).
func labelCounts(labels []float32) (pos, neg int) {
	for _, l := range labels {
		switch {
		case l != l:
		case l > 0.5:
			pos++
		default:
			neg++
		}
	}
	return pos, neg
}

// JoinWindows concatenates window sets of the same shape (e.g. one per
// entity) into one; windows keep their own series' context and targets.
func JoinWindows(ws ...*Windows) (*Windows, error) {
	if len(ws) == 0 {
		return nil, fmt.Errorf("join windows: nothing to join")
	}
	out := &Windows{W: ws[0].W, F: ws[0].F, Gap: ws[0].Gap}
	for _, w := range ws {
		if w.W != out.W || w.F != out.F || w.Gap != out.Gap {
			return nil, fmt.Errorf("join windows: shape %d×%d with gap %d differs from %d×%d with gap %d", w.W, w.F, w.Gap, out.W, out.F, out.Gap)
		}
		off := out.steps
		out.data = append(out.data, w.data...)
		out.steps += w.steps
		for _, e := range w.End {
			out.End = append(out.End, e+off)
		}
		before := len(out.Label)
		out.Label = append(out.Label, w.Label...)
		out.NoTarget = joinFlags(out.NoTarget, w.NoTarget, before, len(w.Label))
		out.Unscored = joinFlags(out.Unscored, w.Unscored, before, len(w.Label))
	}
	return out, nil
}

// joinFlags appends the per-window flags add of n windows to out, which
// holds those of the before windows joined so far; nil stands for all
// false, and the result stays nil while every part is.
func joinFlags(out, add []bool, before, n int) []bool {
	if add != nil && out == nil {
		out = make([]bool, before)
	}
	if out == nil {
		return nil
	}
	if add != nil {
		return append(out, add...)
	}
	return append(out, make([]bool, n)...)
}
