package training

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/training/dataset"
	"github.com/omen-sre/omen/training/metrics"
	"github.com/omen-sre/omen/training/threshold"
)

// Detectors of EvalDataset.
const (
	DetectorLSTM = "lstm" // model.Model forecast residuals (default)
	DetectorAR   = "ar"   // ridge linear autoregression, a baseline
)

// Aggregations of EvalOptions.Aggregate.
const (
	AggregateMean = "mean" // mean over features of the scaled residuals
	AggregateMax  = "max"  // the largest scaled residual
	// AggregateSecond is the second-largest scaled residual: a step counts
	// as anomalous only when at least two features are far off, so the
	// isolated spikes of one (near-constant, spike-prone) feature do not.
	AggregateSecond = "second"
)

// Tail models of EvalOptions.Tail.
const (
	// TailGPD is POT: a generalized Pareto tail fitted by maximum
	// likelihood (threshold.POT).
	TailGPD = "gpd"
	// TailRobustExp is an exponential tail scaled by the median excess
	// (threshold.RobustPOT), insensitive to a few abnormal stretches in
	// the calibration scores.
	TailRobustExp = "robust-exp"
)

// Transforms of EvalOptions.RankTransform.
const (
	RankLinear = "linear" // rank by the per-feature ranking score r
	RankLog    = "log"    // rank by ln(1+r)
)

// Calibration sets of EvalOptions.Calibration.
const (
	CalibrateTrain = "train"
	CalibrateVal   = "val"
)

// EvalOptions configure EvalDataset. Zero values take the defaults named.
type EvalOptions struct {
	// Kind is "smd", "asd" or "" (any folder in the same format); it only
	// selects defaults and names the report.
	Kind string
	// Dir holds E.train.csv.gz, E.test.csv.gz and E.interpretation.txt.
	Dir string
	// Entities to evaluate (default: every entity found in Dir).
	Entities []string
	// Detector is DetectorLSTM (default) or DetectorAR.
	Detector string
	// Window is the input window W (default 16).
	Window int
	// Gap makes the LSTM forecast step t from the window ending at
	// t−1−Gap (multi-step-ahead; default 0 = next step), so a sustained
	// shift keeps a large residual for Gap more steps before the window
	// catches up with it.
	Gap int
	// Hidden and Layers size the LSTM (defaults 32 and 1).
	Hidden, Layers int
	// Members, above 1, trains that many LSTMs from different seeds
	// (member r: Seed + r × 1,000,003, as training.Train's Members) and
	// scores their averaged forecast (model.NewEnsemble); the scale,
	// threshold and ranking are computed on the ensemble's residuals.
	// It costs Members times the training. Default 1; LSTM only.
	Members int
	// Loss is the LSTM's forecast loss in training: model.LossMSE
	// (default) or model.LossHuber (pseudo-Huber, δ = 1 training standard
	// deviation). The score and ranking use squared residuals either way.
	Loss string
	// Epochs, BatchSize and Patience drive the training loop (defaults
	// 20, 64, 3).
	Epochs, BatchSize, Patience int
	// LearningRate is Adam's step (default 2e-3).
	LearningRate float64
	// MaxWindowsPerEpoch limits the windows per epoch (0 = all).
	MaxWindowsPerEpoch int
	// ValFraction is the held-out tail of each training file used for
	// early stopping and threshold calibration (default 0.2).
	ValFraction float64
	// Scale is the unit of the per-feature residuals that make the score
	// and the ranking: ScaleValMedian (default; the feature's median
	// squared validation residual), ScaleVal (its mean), ScaleMinMax (the
	// training range, the published preprocessing of SMD/ASD) or ScaleZ
	// (the training std).
	Scale string
	// Aggregate turns the per-feature residuals into one score per step:
	// AggregateMean (default), AggregateMax (a single feature far off is
	// enough) or AggregateSecond (two features far off are needed; not
	// with ScaleValTail, which aggregates by mean or max: an error). With
	// AggregateMax/Second and ScaleZ the z residuals are aggregated
	// unweighted.
	Aggregate string
	// Smooth, when > 0, is the span of a causal exponentially weighted
	// moving average (α = 2/(Smooth+1)) applied over time to the scores,
	// calibration scores included (error smoothing as in LSTM-NDT, Hundman
	// et al. KDD 2018). 0 = off.
	Smooth int
	// RankSmooth is the span of the same causal average applied to the
	// per-feature ranking scores before features are ranked (default 20;
	// negative = off), so a feature's rank reflects its recent residuals,
	// not one step's.
	RankSmooth int
	// RankTransform is applied to the per-feature ranking scores before
	// RankSmooth: RankLinear (default: r) or RankLog (ln(1+r), so one very
	// large residual does not dominate the smoothed ranking for long).
	RankTransform string
	// RankHold, when > 0, is the half-life in steps of a peak-hold
	// envelope applied to the smoothed ranking scores: each feature's
	// ranking score is the larger of its current value and its previous
	// envelope decayed by 2^(−1/RankHold), so the features that moved most
	// at an anomaly's onset keep their rank while their one-step residuals
	// fade during a sustained shift. 0 (default) = off.
	RankHold int
	// Inspect, when set, is called once per entity with the threshold, the
	// test scores and the per-feature ranking scores (n×F, before rank
	// smoothing) for development diagnostics; it must not keep the slices.
	Inspect func(entity string, threshold float64, score []float64, rank []float32)
	// Calibration names the scores the threshold is fitted to:
	// CalibrateTrain (default: every step of the training file, as
	// OmniAnomaly and TranAD initialise POT on training scores) or
	// CalibrateVal (the held-out tail of the training file only,
	// out-of-sample for the model). Test data is never used.
	Calibration string
	// Clean, when > 0, keeps detected anomalies out of the LSTM's context
	// while scoring the test file: a step that reaches the threshold is
	// replaced by the model's forecast of it in later windows, for at most
	// Clean consecutive steps; see scoreCleaned. 0 (default) scores every
	// window from the actual values. LSTM detector only (ignored for AR).
	Clean int
	// Stream makes the threshold streaming (SPOT, threshold.SPOT): it
	// starts from the calibration fit and is refitted with every test score
	// that is not an alarm, in time order, so it follows the level of the
	// unflagged test scores (no labels). Default false: fixed threshold.
	Stream bool
	// Tail is the tail model of the threshold: TailRobustExp (default) or
	// TailGPD (POT).
	Tail string
	// Risk is the threshold's false-alarm risk per minute of data
	// (default 1e-3) and Level the POT initial quantile (default 0.98).
	// The POT risk q of one step is Risk × Step / 1 min, at most
	// (1 − Level)/2 (StepRisk): the false-alarm budget is per unit of
	// time, so a series sampled every 5 minutes gets the same alarm rate
	// per day as one sampled every minute.
	Risk, Level float64
	// Step is the files' sampling interval. Default by Kind: 1 minute for
	// "smd" and "" (any folder), 5 minutes for "asd" (the intervals the
	// data sets document).
	Step time.Duration
	// MaxTrainSteps and MaxTestSteps, when > 0, keep only the first that
	// many rows of each file (for smoke tests).
	MaxTrainSteps, MaxTestSteps int
	// NewRanker, when set, builds a DimensionRanker for the trained
	// detector (e.g. package explain's Shapley attributions of the
	// anomaly score, explain.FeatureRanker) that replaces the default
	// ranking (each feature's scaled forecast residual) where the
	// interpretation scores read it: at the test steps with labelled
	// causes and the 3 × RankSmooth steps before each (so that the
	// ranking's smoothing has forgotten the default ranking, to 0.3 %,
	// when a segment starts). Such rankers cost hundreds of model
	// evaluations a step, so the other steps keep the default. RankHold's
	// envelope, with its longer memory, can still carry a peak of the
	// default ranking into a segment, and with Clean the ranker sees the
	// raw windows, not the cleaned ones.
	NewRanker func(RankerInput) (DimensionRanker, error)
	// RankerName names NewRanker's ranker in the report's options
	// ("ranker"; default "custom" when NewRanker is set; "residual",
	// the default ranking, when it is not).
	RankerName string
	// Progress receives training progress (nil: silent).
	Progress io.Writer
	// Logger (default discard).
	Logger *slog.Logger
	// Seed fixes initialisation and shuffling.
	Seed int64
}

func (o *EvalOptions) defaults() error {
	if o.Dir == "" {
		return errors.New("eval: no data set directory")
	}
	switch o.Kind {
	case "", "smd", "asd":
	default:
		return fmt.Errorf("eval: unknown data set kind %q (want smd, asd or empty)", o.Kind)
	}
	if o.Detector == "" {
		o.Detector = DetectorLSTM
	}
	if o.Detector != DetectorLSTM && o.Detector != DetectorAR {
		return fmt.Errorf("eval: unknown detector %q (want %s or %s)", o.Detector, DetectorLSTM, DetectorAR)
	}
	setDefault(&o.Members, 1)
	if o.Members < 1 || (o.Members > 1 && o.Detector != DetectorLSTM) {
		return fmt.Errorf("eval: members %d: want 1 or more, and more than 1 only with detector %s", o.Members, DetectorLSTM)
	}
	if o.Loss == "" {
		o.Loss = model.LossMSE
	}
	if (o.Loss != model.LossMSE && o.Loss != model.LossHuber) || (o.Loss != model.LossMSE && o.Detector != DetectorLSTM) {
		return fmt.Errorf("eval: loss %q: want %s or %s, and %s only with detector %s", o.Loss, model.LossMSE, model.LossHuber, model.LossHuber, DetectorLSTM)
	}
	if o.Scale == "" {
		o.Scale = ScaleValMedian
	}
	if o.Scale != ScaleMinMax && o.Scale != ScaleZ && o.Scale != ScaleVal && o.Scale != ScaleValMedian && o.Scale != ScaleValTail {
		return fmt.Errorf("eval: unknown residual scale %q (want %s, %s, %s, %s or %s)", o.Scale, ScaleValMedian, ScaleValTail, ScaleVal, ScaleMinMax, ScaleZ)
	}
	if o.Tail == "" {
		o.Tail = TailRobustExp
	}
	if o.Tail != TailRobustExp && o.Tail != TailGPD {
		return fmt.Errorf("eval: unknown tail %q (want %s or %s)", o.Tail, TailRobustExp, TailGPD)
	}
	setDefault(&o.RankSmooth, 20)
	if o.RankHold < 0 {
		return fmt.Errorf("eval: negative rank hold %d", o.RankHold)
	}
	if o.RankTransform == "" {
		o.RankTransform = RankLinear
	}
	if o.RankTransform != RankLog && o.RankTransform != RankLinear {
		return fmt.Errorf("eval: unknown rank transform %q (want %s or %s)", o.RankTransform, RankLog, RankLinear)
	}
	if o.Aggregate == "" {
		o.Aggregate = AggregateMean
	}
	if o.Aggregate != AggregateMean && o.Aggregate != AggregateMax && o.Aggregate != AggregateSecond {
		return fmt.Errorf("eval: unknown aggregation %q (want %s, %s or %s)", o.Aggregate, AggregateMean, AggregateMax, AggregateSecond)
	}
	if o.Aggregate == AggregateSecond && o.Scale == ScaleValTail {
		// The tail scorer aggregates by mean or max only: it ran the
		// mean while the report said "second".
		return fmt.Errorf("eval: aggregation %q does not work with residual scale %q, which aggregates by %s or %s: use %s or %s, or another scale",
			AggregateSecond, ScaleValTail, AggregateMean, AggregateMax, AggregateMean, AggregateMax)
	}
	if o.Calibration == "" {
		o.Calibration = CalibrateTrain
	}
	if o.Calibration != CalibrateTrain && o.Calibration != CalibrateVal {
		return fmt.Errorf("eval: unknown calibration %q (want %s or %s)", o.Calibration, CalibrateTrain, CalibrateVal)
	}
	setDefault(&o.Window, 16)
	setDefault(&o.Hidden, 32)
	setDefault(&o.Layers, 1)
	setDefault(&o.Epochs, 20)
	setDefault(&o.BatchSize, 64)
	setDefault(&o.Patience, 3)
	if o.LearningRate == 0 {
		o.LearningRate = 2e-3
	}
	if o.ValFraction == 0 {
		o.ValFraction = 0.2
	}
	if !(o.ValFraction > 0 && o.ValFraction < 1) {
		return fmt.Errorf("eval: validation fraction %v outside (0, 1)", o.ValFraction)
	}
	o.Risk, o.Level, o.Step = o.thresholdDefaults()
	if o.Step < 0 || !(o.Risk > 0) || math.IsInf(o.Risk, 1) || !(o.Level > 0 && o.Level < 1) {
		return fmt.Errorf("eval: invalid threshold options (step %v, risk %g, level %g)", o.Step, o.Risk, o.Level)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Smooth < 0 {
		return fmt.Errorf("eval: negative smoothing span %d", o.Smooth)
	}
	for _, c := range []struct {
		name     string
		v, least int
	}{
		{"Window", o.Window, 2}, {"Hidden", o.Hidden, 1}, {"Layers", o.Layers, 1}, {"Epochs", o.Epochs, 1},
		{"Gap", o.Gap, 0}, {"Clean", o.Clean, 0}, {"MaxTrainSteps", o.MaxTrainSteps, 0}, {"MaxTestSteps", o.MaxTestSteps, 0},
	} {
		if c.v < c.least {
			return fmt.Errorf("eval: %s %d, want at least %d", c.name, c.v, c.least)
		}
	}
	return nil
}

// thresholdDefaults returns Risk, Level and Step with their defaults
// filled in.
func (o EvalOptions) thresholdDefaults() (risk, level float64, step time.Duration) {
	risk, level, step = o.Risk, o.Level, o.Step
	if risk == 0 {
		risk = 1e-3
	}
	if level == 0 {
		level = 0.98
	}
	if step == 0 {
		step = time.Minute
		if o.Kind == "asd" {
			step = 5 * time.Minute
		}
	}
	return risk, level, step
}

// StepRisk returns the POT risk q of one step (zero options take their
// defaults): Risk per minute times the step in minutes, capped at half the
// tail fraction 1 − Level. POT needs q below the tail fraction; at half of
// it the threshold stays above the initial quantile (by about σ·ln 2 for
// the exponential tail).
func (o EvalOptions) StepRisk() float64 {
	risk, level, step := o.thresholdDefaults()
	return min(risk*step.Minutes(), (1-level)/2)
}

func setDefault(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

// EntityReport holds the figures of one entity (or their mean). Metrics
// that cannot be computed are 0: the detection figures without anomalous
// test rows (AnomalousPoints 0), HitRate/NDCG without interpretation
// labels (InterpretedPoints 0).
type EntityReport struct {
	Entity            string  `json:"entity"`
	PrecisionPA       float64 `json:"precision_pa"`
	RecallPA          float64 `json:"recall_pa"`
	F1PA              float64 `json:"f1_pa"`
	Precision         float64 `json:"precision"`
	Recall            float64 `json:"recall"`
	F1                float64 `json:"f1"`
	F1Event           float64 `json:"f1_event"`
	AUCPR             float64 `json:"auc_pr"`
	ROCAUC            float64 `json:"roc_auc"`
	HitRate100        float64 `json:"hitrate_100"`
	HitRate150        float64 `json:"hitrate_150"`
	NDCG100           float64 `json:"ndcg_100"`
	NDCG150           float64 `json:"ndcg_150"`
	TrainSeconds      float64 `json:"train_seconds"`
	Threshold         float64 `json:"threshold,omitempty"`
	Epochs            int     `json:"epochs,omitempty"`
	TestPoints        int     `json:"test_points,omitempty"`
	AnomalousPoints   int     `json:"anomalous_points"`
	InterpretedPoints int     `json:"interpreted_points"`
	// The same interpretation scores under the protocol of the published
	// figures (InterFusion's cal_IPS, after OmniAnomaly): only labelled
	// points the detector flagged, each ranked by its segment's
	// per-dimension maximum over the flagged points
	// (metrics.DetectedRankings, over the interpretation file's
	// intervals). An entity with interpretation labels and no flagged
	// labelled point scores 0.
	HitRateTP100        float64 `json:"hitrate_tp_100"`
	HitRateTP150        float64 `json:"hitrate_tp_150"`
	NDCGTP100           float64 `json:"ndcg_tp_100"`
	NDCGTP150           float64 `json:"ndcg_tp_150"`
	InterpretedPointsTP int     `json:"interpreted_points_tp"`
	// TestRowsLeftOut is the number of rows of the test file after its
	// first MaxTestSteps, not evaluated, and AnomalousRowsLeftOut how
	// many of them are labelled anomalous: an entity without anomalous
	// points may have them there. Not in the JSON report.
	TestRowsLeftOut, AnomalousRowsLeftOut int `json:"-"`
}

// Report is the result of EvalDataset.
type Report struct {
	Kind     string         `json:"kind,omitempty"`
	Dir      string         `json:"dir,omitempty"`
	Detector string         `json:"detector"`
	Options  map[string]any `json:"options,omitempty"`
	Entities []EntityReport `json:"entities"`
	// Mean averages the figures over the entities where they are
	// measured: the detection figures (precision … ROC-AUC) over the
	// MeanEntities entities whose test file has labelled anomalous rows,
	// HitRate/NDCG over the MeanInterpretedEntities with interpretation
	// labels; a figure averaged over no entity is 0. The point counts are
	// sums, TrainSeconds the mean over every entity.
	Mean EntityReport `json:"mean"`
	// MeanEntities is the number of entities the mean's detection figures
	// average (those with anomalous test rows; an entity without them has
	// no detection figures: its 0s are not results).
	MeanEntities int `json:"mean_entities"`
	// MeanInterpretedEntities is the number of entities the mean's
	// HitRate and NDCG figures average (interpreted_points > 0).
	MeanInterpretedEntities int `json:"mean_interpreted_entities"`
	// Errors lists the entities that failed during the run, which are
	// not in Entities nor in the mean (EvalDataset then returns the
	// report and an error).
	Errors []EntityError `json:"errors,omitempty"`
}

// EvalDataset trains one detector per entity on its training file (last
// ValFraction held out for early stopping and the per-feature residual
// scale), scores every test step by its forecast residual, thresholds with
// a tail fit to the training file's scores (never the test labels) and
// reports detection and root-cause ranking quality.
//
// Every entity's files are read and checked before any training; a
// problem there returns an error (naming every bad entity) and no
// figures. An entity that fails later is recorded in Report.Errors and the
// others go on: the report then holds the entities that finished, with
// their mean, and the error is returned with it.
func EvalDataset(ctx context.Context, opts EvalOptions) (Report, error) {
	if err := opts.defaults(); err != nil {
		return Report{}, err
	}
	if q := opts.Risk * opts.Step.Minutes(); q > opts.StepRisk() {
		opts.Logger.Warn("threshold risk per step capped", "risk_per_minute", opts.Risk, "step", opts.Step, "risk_per_step", q, "cap", opts.StepRisk())
	}
	names := opts.Entities
	if len(names) == 0 {
		var trainOnly []string
		var err error
		if names, trainOnly, err = dataset.FindEntities(opts.Dir); err != nil {
			return Report{}, err
		}
		for _, e := range trainOnly {
			opts.Logger.Warn("training file without a test file: entity skipped", "entity", e, "missing", e+".test.csv.gz (or .csv)")
		}
	}
	rep := Report{Kind: opts.Kind, Dir: opts.Dir, Detector: opts.Detector, Options: map[string]any{
		"window": opts.Window, "gap": opts.Gap, "hidden": opts.Hidden, "layers": opts.Layers, "epochs": opts.Epochs,
		"batch_size": opts.BatchSize, "patience": opts.Patience, "learning_rate": opts.LearningRate,
		"max_windows_per_epoch": opts.MaxWindowsPerEpoch, "val_fraction": opts.ValFraction,
		"pot_risk": opts.Risk, "step_s": opts.Step.Seconds(), "pot_risk_per_step": opts.StepRisk(), "scale": opts.Scale, "aggregate": opts.Aggregate, "calibration": opts.Calibration, "tail": opts.Tail, "smooth": opts.Smooth, "rank_smooth": opts.RankSmooth, "clean": opts.Clean, "stream": opts.Stream, "pot_level": opts.Level, "seed": opts.Seed,
	}}
	// Options added later appear only when set, so the default report
	// keeps its keys (except step_s and pot_risk_per_step, always present
	// since pot_risk became a risk per minute: a report without them
	// used pot_risk per step).
	if opts.Members > 1 {
		rep.Options["members"] = opts.Members
	}
	if opts.Loss != model.LossMSE {
		rep.Options["loss"] = opts.Loss
	}
	if opts.RankHold > 0 {
		rep.Options["rank_hold"] = opts.RankHold
	}
	if opts.RankTransform != RankLinear {
		rep.Options["rank_transform"] = opts.RankTransform
	}
	if opts.NewRanker != nil {
		rep.Options["ranker"] = cmp.Or(opts.RankerName, "custom")
	} else {
		rep.Options["ranker"] = "residual"
	}
	if err := checkEntities(ctx, opts, names); err != nil {
		return rep, err
	}
	// An entity that still fails (a file changed since the check, a
	// training or threshold error) does not stop the others: it is
	// listed in rep.Errors, and the mean covers the entities that
	// finished. A cancelled ctx stops the run.
	var errs []error
	for _, name := range names {
		er, err := evalEntity(ctx, opts, name)
		if err != nil {
			err = fmt.Errorf("entity %q: %w", name, err)
			if ctx.Err() != nil {
				return rep, err
			}
			opts.Logger.Error("entity failed: continuing with the others", "entity", name, "err", err)
			rep.Errors = append(rep.Errors, EntityError{Entity: name, Error: err.Error()})
			errs = append(errs, err)
			continue
		}
		opts.Logger.Info("evaluated entity", "entity", name, "f1_pa", er.F1PA, "f1", er.F1, "hitrate_150", er.HitRate150, "train_seconds", er.TrainSeconds)
		rep.Entities = append(rep.Entities, er)
	}
	rep.Mean, rep.MeanEntities, rep.MeanInterpretedEntities = meanReport(rep.Entities)
	return rep, errors.Join(errs...)
}

// meanReport averages the entities' figures where they are measured (see
// Report.Mean) and returns the number of entities averaged for detection
// and for ranking.
func meanReport(es []EntityReport) (EntityReport, int, int) {
	m := EntityReport{Entity: "mean"}
	nt, n, ni := 0.0, 0.0, 0.0
	for _, e := range es {
		nt++
		m.TrainSeconds += e.TrainSeconds
		m.TestPoints += e.TestPoints
		m.AnomalousPoints += e.AnomalousPoints
		m.InterpretedPoints += e.InterpretedPoints
		m.InterpretedPointsTP += e.InterpretedPointsTP
		if e.AnomalousPoints == 0 {
			// No anomalous test rows: precision, recall, F1 and the
			// areas are undefined, not 0.
			continue
		}
		n++
		m.PrecisionPA += e.PrecisionPA
		m.RecallPA += e.RecallPA
		m.F1PA += e.F1PA
		m.Precision += e.Precision
		m.Recall += e.Recall
		m.F1 += e.F1
		m.F1Event += e.F1Event
		m.AUCPR += e.AUCPR
		m.ROCAUC += e.ROCAUC
		if e.InterpretedPoints > 0 {
			ni++
			m.HitRate100 += e.HitRate100
			m.HitRate150 += e.HitRate150
			m.NDCG100 += e.NDCG100
			m.NDCG150 += e.NDCG150
			m.HitRateTP100 += e.HitRateTP100
			m.HitRateTP150 += e.HitRateTP150
			m.NDCGTP100 += e.NDCGTP100
			m.NDCGTP150 += e.NDCGTP150
		}
	}
	if nt > 0 {
		m.TrainSeconds /= nt
	}
	if n > 0 {
		for _, p := range []*float64{&m.PrecisionPA, &m.RecallPA, &m.F1PA, &m.Precision, &m.Recall, &m.F1, &m.F1Event, &m.AUCPR, &m.ROCAUC} {
			*p /= n
		}
	}
	if ni > 0 {
		for _, p := range []*float64{&m.HitRate100, &m.HitRate150, &m.NDCG100, &m.NDCG150, &m.HitRateTP100, &m.HitRateTP150, &m.NDCGTP100, &m.NDCGTP150} {
			*p /= ni
		}
	}
	return m, int(n), int(ni)
}

// minCalibrationScores is the fewest calibration scores the threshold's
// tail fit takes (threshold.POT and RobustPOT: 20 finite scores).
const minCalibrationScores = 20

// minTrainRows is the fewest training rows evalEntity works with (the
// defaults applied): SplitTime's cut at 1 − ValFraction must leave a
// window of Window+Gap steps and its target on each side (the training
// and the validation windows), and the calibration set (the whole file,
// or the validation tail with CalibrateVal) minCalibrationScores scores
// after its first Window+Gap steps of context.
func (o EvalOptions) minTrainRows() int {
	ctx := o.Window + o.Gap
	// Start below the bounds that rounding the cut cannot beat (a part of
	// n·f rows gets at most n·f + 0.5), so that a small ValFraction does
	// not take billions of steps.
	v, side := o.ValFraction, float64(ctx)+0.5
	lower := max(side/v, side/(1-v), float64(ctx+minCalibrationScores))
	if o.Calibration == CalibrateVal {
		lower = max(lower, (float64(ctx+minCalibrationScores)-0.5)/v)
	}
	for n := max(2, int(lower)-2); ; n++ {
		cut := int(math.Round(float64(n) * (1 - o.ValFraction)))
		if cut < max(2, ctx+1) || n-cut < max(2, ctx+1) {
			continue
		}
		cal := n
		if o.Calibration == CalibrateVal {
			cal = n - cut
		}
		if cal-ctx >= minCalibrationScores {
			return n
		}
	}
}

// RankerInput is what EvalOptions.NewRanker builds a ranker from.
type RankerInput struct {
	// Scorer is the entity's anomaly scorer (residuals scaled and
	// aggregated as EvalOptions say); safe for concurrent use.
	Scorer Scorer
	// Model is the trained LSTM (nil for the AR baseline).
	Model *model.Model
	// W and F are the window length and the number of features.
	W, F int
	// BackgroundX (k×W×F) and BackgroundNext (k×F) are k windows of the
	// validation part and their next steps, spread evenly over it:
	// normal behaviour to explain against.
	BackgroundX, BackgroundNext []float32
}

// rankerBackground is how many validation windows RankerInput carries.
const rankerBackground = 16

// trained is a fitted detector.
type trained struct {
	scorer  Scorer
	ranker  DimensionRanker
	model   *model.Model // nil for the AR baseline
	history History
}

func evalEntity(ctx context.Context, opts EvalOptions, name string) (EntityReport, error) {
	er := EntityReport{Entity: name}
	ent, err := dataset.LoadEntity(opts.Dir, name)
	if err != nil {
		return er, err
	}
	train, err := trainRows(opts, ent)
	if err != nil {
		return er, err
	}
	test := ent.Test
	if opts.MaxTestSteps > 0 && test.Steps() > opts.MaxTestSteps {
		er.TestRowsLeftOut = test.Steps() - opts.MaxTestSteps
		if len(test.Labels) == test.Steps() {
			for _, l := range test.Labels[opts.MaxTestSteps:] {
				if l {
					er.AnomalousRowsLeftOut++
				}
			}
		}
		test = test.Slice(0, opts.MaxTestSteps)
	}
	// Segments beyond the test file (not beyond MaxTestSteps, a choice)
	// say the files do not belong together: they were dropped silently.
	if beyond := dataset.BeyondRows(ent.Interpretation, ent.Test.Steps()); len(beyond) > 0 {
		opts.Logger.Warn("interpretation segments beyond the test file's rows ignored", "file", ent.InterpretationFile,
			"segments", len(beyond), "of", len(ent.Interpretation), "first_line", ent.InterpretationLines[beyond[0]],
			"test_file", ent.TestFile, "test_rows", ent.Test.Steps())
	}
	// Missing values (empty or NaN cells) are filled with the feature's
	// last value; a feature with none at all becomes zeros, which is
	// worth a word.
	for _, f := range []struct {
		s    *dataset.Series
		path string
	}{{train, ent.TrainFile}, {test, ent.TestFile}} {
		if empty := f.s.EmptyFeatures(); len(empty) > 0 {
			opts.Logger.Warn("features without a single value (every cell empty or NaN): scored as constant 0", "file", f.path, "rows", f.s.Steps(), "features", empty)
		}
	}
	train.FillMissing()
	test.FillMissing()
	tr, va, err := SplitTime(train, opts.ValFraction)
	if err != nil {
		return er, err
	}
	start := time.Now()
	det, err := fitDetector(ctx, opts, name, train.Features, tr, va)
	if err != nil {
		return er, err
	}
	er.TrainSeconds = time.Since(start).Seconds()
	er.Epochs = len(det.history.Epochs)

	// Calibration: scores of the training file (no test data).
	cal := va
	if opts.Calibration == CalibrateTrain {
		cal = train
	}
	vw, err := ScoringWindowsGap(cal, opts.Window, opts.Gap, opts.Window+opts.Gap)
	if err != nil {
		return er, fmt.Errorf("validation windows: %w", err)
	}
	valScore, _, err := scoreWindows(ctx, det.scorer, nil, vw)
	if err != nil {
		return er, err
	}
	ewma(valScore, 1, opts.Smooth)
	thr := threshold.RobustPOT
	if opts.Tail == TailGPD {
		thr = threshold.POT
	}
	pot, err := thr(valScore, threshold.POTOptions{Risk: opts.StepRisk(), Level: opts.Level})
	if err != nil {
		return er, fmt.Errorf("threshold: %w", err)
	}
	er.Threshold = pot.Threshold
	opts.Logger.Debug("pot threshold", "entity", name, "threshold", pot.Threshold, "initial", pot.Initial, "peaks", pot.Peaks, "n", pot.N,
		"gamma", pot.Fit.Gamma, "sigma", pot.Fit.Sigma, "fit", pot.Fit.Method, "max", threshold.Quantile(valScore, 1))

	// Test: the last W training rows give the first test step its context.
	ctxRows := min(opts.Window+opts.Gap, train.Steps())
	joined := concat(train.Slice(train.Steps()-ctxRows, train.Steps()), test)
	tw, err := ScoringWindowsGap(joined, opts.Window, opts.Gap, ctxRows)
	if err != nil {
		return er, fmt.Errorf("test windows: %w", err)
	}
	var score []float64
	var rank []float32
	if opts.Clean > 0 && det.model != nil {
		score, rank, err = scoreCleaned(ctx, det.scorer, det.ranker, det.model, tw, pot.Threshold, opts.Smooth, opts.Clean)
	} else {
		score, rank, err = scoreWindows(ctx, det.scorer, det.ranker, tw)
	}
	if err != nil {
		return er, err
	}
	ewma(score, 1, opts.Smooth)
	if opts.NewRanker != nil && test.Causes != nil {
		if err := rankInterpreted(ctx, opts, det, va, tw, test.Causes, rank); err != nil {
			return er, err
		}
	}
	if opts.Inspect != nil {
		opts.Inspect(name, pot.Threshold, score, rank)
	}
	if opts.RankTransform == RankLog {
		for i, v := range rank {
			rank[i] = float32(math.Log1p(float64(v)))
		}
	}
	ewma(rank, len(test.Features), opts.RankSmooth)
	peakHold(rank, len(test.Features), opts.RankHold)
	labels := test.Labels
	pred := metrics.Threshold(score, pot.Threshold)
	if opts.Stream {
		sp, err := threshold.SPOT(valScore, score, threshold.POTOptions{Risk: opts.StepRisk(), Level: opts.Level}, opts.Tail == TailRobustExp)
		if err != nil {
			return er, fmt.Errorf("threshold: %w", err)
		}
		pred = sp.Alarm
		opts.Logger.Debug("spot threshold", "entity", name, "first", sp.Threshold[0], "last", sp.Threshold[len(sp.Threshold)-1])
	}
	pw := metrics.PointWise(pred, labels)
	pa := metrics.Adjusted(pred, labels)
	ev := metrics.Event(pred, labels)
	er.Precision, er.Recall, er.F1 = pw.Precision, pw.Recall, pw.F1
	er.PrecisionPA, er.RecallPA, er.F1PA = pa.Precision, pa.Recall, pa.F1
	er.F1Event = ev.F1
	er.AUCPR = metrics.AveragePrecision(score, labels)
	if auc := metrics.ROCAUC(score, labels); !math.IsNaN(auc) {
		er.ROCAUC = auc
	}
	er.TestPoints = len(score)
	for _, l := range labels {
		if l {
			er.AnomalousPoints++
		}
	}
	if test.Causes != nil {
		f := len(test.Features)
		rank64 := make([]float64, len(rank))
		for i, v := range rank {
			rank64[i] = float64(v)
		}
		ranks := make([][]int, len(score))
		for t := range ranks {
			if len(test.Causes[t]) == 0 {
				continue
			}
			ranks[t] = metrics.RankDims(rank64[t*f : (t+1)*f])
		}
		var n int
		er.HitRate100, n = metrics.HitRate(ranks, test.Causes, 100)
		er.HitRate150, _ = metrics.HitRate(ranks, test.Causes, 150)
		er.NDCG100, _ = metrics.NDCG(ranks, test.Causes, 100)
		er.NDCG150, _ = metrics.NDCG(ranks, test.Causes, 150)
		er.InterpretedPoints = n
		if n == 0 {
			er.HitRate100, er.HitRate150, er.NDCG100, er.NDCG150 = 0, 0, 0, 0
		}
		tp := make([]bool, len(pred))
		for t := range tp {
			tp[t] = pred[t] && labels[t]
		}
		intervals := make([]metrics.Interval, len(ent.Interpretation))
		for k, seg := range ent.Interpretation {
			intervals[k] = metrics.Interval(seg)
		}
		tpRanks, tpCauses := metrics.DetectedRankings(rank64, f, tp, intervals)
		er.HitRateTP100, n = metrics.HitRate(tpRanks, tpCauses, 100)
		er.HitRateTP150, _ = metrics.HitRate(tpRanks, tpCauses, 150)
		er.NDCGTP100, _ = metrics.NDCG(tpRanks, tpCauses, 100)
		er.NDCGTP150, _ = metrics.NDCG(tpRanks, tpCauses, 150)
		er.InterpretedPointsTP = n
		if n == 0 {
			er.HitRateTP100, er.HitRateTP150, er.NDCGTP100, er.NDCGTP150 = 0, 0, 0, 0
		}
	}
	return er, nil
}

// rankInterpreted overwrites the rows of rank (n×F, one row per test step)
// at the steps with labelled causes, and the 3 × RankSmooth steps before each,
// with the ranking of the ranker opts.NewRanker builds.
func rankInterpreted(ctx context.Context, opts EvalOptions, det *trained, va *dataset.Series, tw *Windows, causes [][]int, rank []float32) error {
	vaw, err := MakeWindows(va, WindowOptions{Window: opts.Window, Gap: opts.Gap})
	if err != nil {
		return fmt.Errorf("ranker background: %w", err)
	}
	w, f := tw.W, tw.F
	k := min(rankerBackground, vaw.N())
	if k == 0 {
		return errors.New("ranker background: no validation windows")
	}
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i * vaw.N() / k
	}
	in := RankerInput{Scorer: det.scorer, Model: det.model, W: w, F: f, BackgroundX: make([]float32, k*w*f), BackgroundNext: make([]float32, k*f)}
	vaw.Gather(idx, in.BackgroundX, in.BackgroundNext, nil)
	ranker, err := opts.NewRanker(in)
	if err != nil {
		return fmt.Errorf("ranker: %w", err)
	}
	lead := 3 * max(opts.RankSmooth, 0)
	var steps []int
	for t := range tw.N() {
		for u := t; u <= min(t+lead, len(causes)-1); u++ {
			if len(causes[u]) > 0 {
				steps = append(steps, t)
				break
			}
		}
	}
	const chunk = 64
	x := make([]float32, chunk*w*f)
	next := make([]float32, chunk*f)
	out := make([]float32, chunk*f)
	start := time.Now()
	for b := 0; b < len(steps); b += chunk {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ranking: %w", err)
		}
		c := steps[b:min(b+chunk, len(steps))]
		n := len(c)
		tw.Gather(c, x[:n*w*f], next[:n*f], nil)
		if err := ranker.RankScores(x[:n*w*f], next[:n*f], n, out[:n*f]); err != nil {
			return fmt.Errorf("rank dimensions: %w", err)
		}
		for i, t := range c {
			copy(rank[t*f:(t+1)*f], out[i*f:(i+1)*f])
		}
	}
	opts.Logger.Debug("ranked interpreted steps", "steps", len(steps), "seconds", time.Since(start).Seconds())
	return nil
}

// ewma smooths x, a time-major series of f values a step, in place with a
// causal exponentially weighted moving average of the given span (no-op
// when span ≤ 0). A value that is not finite stays as it is at its own step
// and does not enter the average: +Inf (a residual too large to hold) is
// an alarm at that step, NaN and -Inf are not, and the steps after it are
// smoothed from the value before it (its size is unknown, so it cannot be
// weighed against them; before, one +Inf made every later value +Inf).
func ewma[T float32 | float64](x []T, f, span int) {
	if span <= 0 || len(x) < 2*f {
		return
	}
	a := T(2.0 / float64(span+1))
	state := make([]T, f) // the last smoothed finite value per feature
	seen := make([]bool, f)
	for i, v := range x {
		j := i % f
		if v-v != 0 { // NaN or ±Inf
			continue
		}
		if seen[j] {
			v = a*v + (1-a)*state[j]
			x[i] = v
		}
		state[j], seen[j] = v, true
	}
}

// peakHold replaces x, a time-major series of f values a step, in place by
// its peak-hold envelope with the given half-life in steps (no-op when
// halfLife ≤ 0): e[t] = max(x[t], e[t−1]·2^(−1/halfLife)).
func peakHold(x []float32, f, halfLife int) {
	if halfLife <= 0 {
		return
	}
	d := float32(math.Pow(0.5, 1/float64(halfLife)))
	for i := f; i < len(x); i++ {
		x[i] = max(x[i], d*x[i-f])
	}
}

// concat joins two series with the same features (labels and causes are
// dropped: the result only feeds scoring windows).
func concat(a, b *dataset.Series) *dataset.Series {
	v := make([]float64, 0, len(a.Values)+len(b.Values))
	v = append(append(v, a.Values...), b.Values...)
	return &dataset.Series{Entity: b.Entity, Features: b.Features, Values: v}
}

func fitDetector(ctx context.Context, opts EvalOptions, name string, features []string, tr, va *dataset.Series) (*trained, error) {
	trw, err := MakeWindows(tr, WindowOptions{Window: opts.Window, Gap: opts.Gap})
	if err != nil {
		return nil, fmt.Errorf("training windows: %w", err)
	}
	vaw, err := MakeWindows(va, WindowOptions{Window: opts.Window, Gap: opts.Gap})
	if err != nil {
		return nil, fmt.Errorf("validation windows: %w", err)
	}
	if opts.Detector == DetectorAR {
		ar, err := fitAR(ctx, trw, opts.Window, 1e-3, 0)
		if err != nil {
			return nil, err
		}
		switch opts.Scale {
		case ScaleMinMax:
			sc := scaledScorer{s: ar, weight: minMaxWeights(tr, ar.std), max: opts.Aggregate == AggregateMax, second: opts.Aggregate == AggregateSecond}
			return &trained{scorer: sc, ranker: sc}, nil
		case ScaleValTail:
			sc, err := newTailScorer(ctx, ar, vaw, opts.Level, opts.Aggregate == AggregateMax)
			if err != nil {
				return nil, err
			}
			return &trained{scorer: sc, ranker: sc}, nil
		case ScaleVal, ScaleValMedian:
			w, err := valWeights(ctx, ar, vaw, opts.Scale == ScaleValMedian)
			if err != nil {
				return nil, err
			}
			sc := scaledScorer{s: ar, weight: w, max: opts.Aggregate == AggregateMax, second: opts.Aggregate == AggregateSecond}
			return &trained{scorer: sc, ranker: sc}, nil
		}
		if opts.Aggregate == AggregateMax || opts.Aggregate == AggregateSecond {
			sc := scaledScorer{s: ar, weight: ones(len(features)), max: true, second: opts.Aggregate == AggregateSecond}
			return &trained{scorer: sc, ranker: sc}, nil
		}
		return &trained{scorer: ar, ranker: residualRanker{ar}}, nil
	}
	ms := make([]*model.Model, 0, opts.Members)
	var h History
	for r := range opts.Members {
		label := name
		if opts.Members > 1 {
			label = fmt.Sprintf("%s %d/%d", name, r+1, opts.Members)
		}
		mr, hr, err := fitForecaster(ctx, opts, opts.Seed+int64(r)*1_000_003, label, features, trw, vaw)
		if err != nil {
			return nil, err
		}
		ms = append(ms, mr)
		if r == 0 {
			h = hr
		}
	}
	m := ms[0]
	if len(ms) > 1 {
		if m, err = model.NewEnsemble(ms...); err != nil {
			return nil, err
		}
	}
	var scorer Scorer = m
	var ranker DimensionRanker = residualRanker{m}
	if opts.Scale == ScaleMinMax {
		_, std32 := m.Normalization()
		std := make([]float64, len(std32))
		for i, v := range std32 {
			std[i] = float64(v)
		}
		sc := scaledScorer{s: m, weight: minMaxWeights(tr, std), max: opts.Aggregate == AggregateMax, second: opts.Aggregate == AggregateSecond}
		scorer, ranker = sc, sc
	}
	if opts.Scale == ScaleZ && (opts.Aggregate == AggregateMax || opts.Aggregate == AggregateSecond) {
		sc := scaledScorer{s: m, weight: ones(len(features)), max: true, second: opts.Aggregate == AggregateSecond}
		scorer, ranker = sc, sc
	}
	if opts.Scale == ScaleVal || opts.Scale == ScaleValMedian {
		w, err := valWeights(ctx, m, vaw, opts.Scale == ScaleValMedian)
		if err != nil {
			return nil, err
		}
		sc := scaledScorer{s: m, weight: w, max: opts.Aggregate == AggregateMax, second: opts.Aggregate == AggregateSecond}
		scorer, ranker = sc, sc
	}
	if opts.Scale == ScaleValTail {
		sc, err := newTailScorer(ctx, m, vaw, opts.Level, opts.Aggregate == AggregateMax)
		if err != nil {
			return nil, err
		}
		scorer, ranker = sc, sc
	}
	return &trained{scorer: scorer, ranker: ranker, model: m, history: h}, nil
}

// fitForecaster trains one LSTM forecaster seeded seed on trw, early
// stopping on vaw; label names it in the progress output.
func fitForecaster(ctx context.Context, opts EvalOptions, seed int64, label string, features []string, trw, vaw *Windows) (*model.Model, History, error) {
	m, err := model.New(model.Config{Features: features, Window: opts.Window, Horizon: 1, Hidden: opts.Hidden, Layers: opts.Layers, Seed: seed})
	if err != nil {
		return nil, History{}, fmt.Errorf("new model: %w", err)
	}
	if err := fitNormalization(m, trw); err != nil {
		return nil, History{}, err
	}
	// Unlabelled data: the failure head is masked (labels NaN), only the
	// forecast is learned.
	t, err := model.NewTrainer(m, model.TrainOptions{LearningRate: opts.LearningRate, ForecastWeight: 1, PosWeight: 1, ClipNorm: 5, Seed: seed, Loss: opts.Loss})
	if err != nil {
		return nil, History{}, fmt.Errorf("new trainer: %w", err)
	}
	tl := &trainerLearner{Trainer: t, m: m}
	h, err := Fit(ctx, tl, trw, vaw, LoopOptions{
		Epochs: opts.Epochs, BatchSize: opts.BatchSize, Patience: opts.Patience,
		MaxWindowsPerEpoch: opts.MaxWindowsPerEpoch, Seed: seed,
		Progress: opts.Progress, Label: label, Logger: opts.Logger,
	})
	if err != nil {
		return nil, History{}, err
	}
	return tl.result(), h, nil
}

func ones(n int) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = 1
	}
	return w
}
