package dataset

import (
	"fmt"
	"math"
)

// Series is a labelled multivariate time series on a fixed step.
//
// Values holds Steps×len(Features) numbers, time-major:
// Values[t*len(Features)+f]. NaN marks a missing value.
type Series struct {
	// Entity names the series' owner (machine, pod, module).
	Entity string
	// Features names the columns.
	Features []string
	// Start is the time of step 0 in milliseconds since the Unix epoch
	// (0 when the data set has only row indices).
	Start int64
	// Step is the time between rows in milliseconds (0 when unknown).
	Step int64
	// Values are the observations, time-major.
	Values []float64
	// Labels, when not nil, has one entry per step: true inside an anomaly
	// segment or at a failure.
	Labels []bool
	// Causes, when not nil, has one entry per step: the 0-based feature
	// indices labelled as the cause at that step (nil for unlabelled steps).
	Causes [][]int
	// Present, when not nil, has one entry per step: whether the entity
	// had a vector there that the daemon puts in its windows (see
	// training.MakeWindows). A step without one is a row of NaN that the
	// daemon never scores (its label may still be set: a failure stored
	// for an absent entity, a vector the daemon hands its alerts
	// unscored, keeping their state, where a step without any vector
	// counts as a missing prediction). nil: every step has one (CSV and
	// Prometheus sources).
	Present []bool
	// Born reports that the entity came into existence at the series'
	// first step (a pod created within the history read), rather than
	// that the history starts there: the daemon's window of it starts
	// empty, so with Present its first W steps are not scored (see
	// training.ScoredSteps). A slice keeps it only from step 0.
	Born bool
	// Ended reports that the entity ceased to exist after its last step
	// (a deleted pod), rather than that the history stops there: nothing
	// can happen to it later, so a failure horizon that runs past its end
	// is known to hold no failure.
	Ended bool
	// Origin says where the series was read from, for messages: the file
	// of a CSVSource series ("" when the source does not say).
	Origin string
}

// MaxValue is the largest magnitude of a value the models can hold: they
// compute in float32, where a larger value (and ±Inf) becomes ±Inf, which
// they read as missing. ReadCSV refuses such a value; PrometheusSource and
// the store source read it as missing and say how many they met.
const MaxValue = math.MaxFloat32

// InRange reports whether v is a value the models can hold: NaN (missing)
// or a number of magnitude at most MaxValue.
func InRange(v float64) bool { return !(math.Abs(v) > MaxValue) }

// Steps returns the number of rows.
func (s *Series) Steps() int {
	if len(s.Features) == 0 {
		return 0
	}
	return len(s.Values) / len(s.Features)
}

// Row returns the values at step t (a sub-slice, not a copy).
func (s *Series) Row(t int) []float64 {
	f := len(s.Features)
	return s.Values[t*f : (t+1)*f]
}

// Validate checks that the dimensions agree.
func (s *Series) Validate() error {
	f := len(s.Features)
	if f == 0 {
		return fmt.Errorf("series %q has no features", s.Entity)
	}
	if len(s.Values)%f != 0 {
		return fmt.Errorf("series %q: %d values are not a multiple of %d features", s.Entity, len(s.Values), f)
	}
	n := len(s.Values) / f
	if s.Labels != nil && len(s.Labels) != n {
		return fmt.Errorf("series %q: %d labels for %d steps", s.Entity, len(s.Labels), n)
	}
	if s.Present != nil && len(s.Present) != n {
		return fmt.Errorf("series %q: %d presence flags for %d steps", s.Entity, len(s.Present), n)
	}
	if s.Causes != nil && len(s.Causes) != n {
		return fmt.Errorf("series %q: %d cause sets for %d steps", s.Entity, len(s.Causes), n)
	}
	return nil
}

// Slice returns the steps [from, to) as a new Series sharing storage.
func (s *Series) Slice(from, to int) *Series {
	f := len(s.Features)
	out := &Series{
		Entity:   s.Entity,
		Features: s.Features,
		Start:    s.Start + int64(from)*s.Step,
		Step:     s.Step,
		Values:   s.Values[from*f : to*f],
		Origin:   s.Origin,
	}
	if s.Labels != nil {
		out.Labels = s.Labels[from:to]
	}
	if s.Causes != nil {
		out.Causes = s.Causes[from:to]
	}
	if s.Present != nil {
		out.Present = s.Present[from:to]
	}
	out.Born = s.Born && from == 0
	out.Ended = s.Ended && to == s.Steps()
	return out
}

// FillMissing replaces NaN values by the last observed value of the same
// feature (or 0 before the first observation) and returns how many values
// it replaced.
func (s *Series) FillMissing() int {
	f := len(s.Features)
	last := make([]float64, f)
	replaced := 0
	for i, v := range s.Values {
		j := i % f
		if math.IsNaN(v) {
			s.Values[i] = last[j]
			replaced++
			continue
		}
		last[j] = v
	}
	return replaced
}
