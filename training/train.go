package training

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omen-sre/omen/internal/words"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/training/dataset"
	"github.com/omen-sre/omen/training/metrics"
	"github.com/omen-sre/omen/training/threshold"
)

// Source yields the history to train on: one series per entity, all with
// the same features in the same order, Labels marking failing steps (nil
// when the source has no failure definitions). dataset.CSVSource,
// dataset.PrometheusSource and storesource.Source implement it.
type Source interface {
	Load(ctx context.Context) ([]*dataset.Series, error)
}

// TrainOptions configure Train. Zero values take the defaults named.
type TrainOptions struct {
	// Source provides the history (required).
	Source Source
	// Step is the history's sampling interval, recorded in the model
	// (model.Config.Step) so that a daemon of another step refuses it;
	// 0 when unknown (CSV files), which any daemon accepts.
	Step time.Duration
	// Window W (default 32), Horizon H in steps (default 10: the failure
	// label of a window ending at t is "any failing step in (t, t+H]").
	Window, Horizon int
	// LabelHorizon, when above Horizon, is the horizon of the training
	// labels only: a window is a positive example when a failing step
	// follows within LabelHorizon steps, while the model's horizon, the
	// validation alert episodes and the threshold keep Horizon. A
	// precursor that builds for longer than Horizon then no longer teaches
	// the model that its early part is normal (a window 11 minutes before
	// a failure is a negative under a 10-minute horizon, although nothing
	// in it tells it from one 9 minutes before), so the probability rises
	// earlier on long precursors. Default Horizon.
	LabelHorizon int
	// MaskEarly, with LabelHorizon above Horizon, masks the windows whose
	// failure lies between Horizon and LabelHorizon steps ahead instead of
	// making them positives: early alarms are not penalised, not taught.
	MaskEarly bool
	// Onset masks the windows whose last step is already failing (see
	// WindowOptions.Onset): the model learns to predict failure onsets.
	Onset bool
	// Hidden (default 64), Layers (default 1) and Dropout size the LSTM.
	Hidden, Layers int
	Dropout        float64
	// Epochs (default 10), BatchSize (64), Patience (3) drive the loop.
	Epochs, BatchSize, Patience int
	// MaxWindowsPerEpoch limits the windows per epoch (0 = all).
	MaxWindowsPerEpoch int
	// LearningRate is Adam's step (default 1e-3).
	LearningRate float64
	// MaxPosWeight caps the positive class weight negatives/positives
	// (default 100).
	MaxPosWeight float64
	// ValFraction is the held-out tail of every entity (default 0.2), or
	// with ValSplit "entity" the fraction of entities held out.
	ValFraction float64
	// ValSplit chooses what validation holds out: "time" (default) the
	// last ValFraction of the history by calendar: one cut time for every
	// entity, before which ValFraction of all steps lie (the last
	// ValFraction of each entity's history when all span the same times;
	// an entity that ends before the cut only trains, one born after it
	// only validates); "entity" whole entities,
	// about a ValFraction of them chosen by a hash of their names, so that
	// the early stopping and the thresholds are judged on entities the
	// model never saw, as a new pod or a new fleet is; "after" whole
	// entities whose history starts at or after ValFrom (the fleets or
	// clusters recorded last: validation then shares no incident with
	// training, as a new fleet would not). When that leaves no entity for
	// training or none for validation (very few entities), Train logs a
	// warning and uses the time split.
	ValSplit string
	// ValFrom, in ms since the Unix epoch, is the start of validation for
	// ValSplit "after".
	ValFrom int64
	// Risk and Level are the POT parameters for the anomaly threshold
	// (defaults 1e-3, 0.98).
	Risk, Level float64
	// Version and TrainedOn go into the model metadata.
	Version, TrainedOn string
	// Progress receives the progress bar or log lines (nil: silent).
	Progress io.Writer
	// Logger (default discard).
	Logger *slog.Logger
	// Seed fixes initialisation, shuffling and dropout.
	Seed int64
	// Restarts, above 1, trains that many models from different seeds
	// (Seed, Seed+1000003, …) and keeps the one with the best validation
	// score (the failure head's validation average precision): the
	// spread between seeds is large when the history holds only a few
	// hundred failures. Default 1.
	Restarts int
	// AverageFrom, when > 0, returns the average of the weights after
	// epochs AverageFrom…Epochs instead of the best epoch's
	// (LoopOptions.AverageFrom; no early stopping then). Default 0.
	AverageFrom int
	// Members, above 1, trains that many networks from different seeds
	// (Seed, Seed+1000003, …) and returns their ensemble
	// (model.NewEnsemble: outputs averaged), with the thresholds chosen on
	// the ensemble's validation output. It costs Members times the
	// training and inference; in the simulated-fleet lab three members
	// kept precision ≥ 0.9 on every development fleet where single seeds
	// missed it on 4 of 28 (docs/EVALUATION.md). Default 1. Not with
	// Restarts.
	Members int
	// Ensemble (experimental, for the sim lab's diagnostics) lists models
	// trained on the same history and split; with Alerts, the failure
	// threshold is then chosen on the mean probability of the trained
	// model and these, as for an ensemble of them. The returned model is
	// still the one trained, so its threshold only fits the ensemble.
	Ensemble []*model.Model
	// Alerts, when set and the validation part has failures, chooses the
	// failure threshold by the event-level F1 of this alert rule on the
	// validation series (EpisodeThreshold) instead of the F1 of single
	// windows.
	Alerts *AlertRule
}

func (o *TrainOptions) defaults() error {
	if o.Source == nil {
		return errors.New("no source")
	}
	setDefault(&o.Window, 32)
	setDefault(&o.Horizon, 10)
	o.LabelHorizon = max(o.LabelHorizon, o.Horizon)
	setDefault(&o.Hidden, 64)
	setDefault(&o.Layers, 1)
	setDefault(&o.Epochs, 10)
	setDefault(&o.BatchSize, 64)
	setDefault(&o.Patience, 3)
	if o.LearningRate == 0 {
		o.LearningRate = 1e-3
	}
	if o.MaxPosWeight == 0 {
		o.MaxPosWeight = 100
	}
	if o.ValFraction == 0 {
		o.ValFraction = 0.2
	}
	if o.Risk == 0 {
		o.Risk = 1e-3
	}
	if o.Level == 0 {
		o.Level = 0.98
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ValSplit == "" {
		o.ValSplit = "time"
	}
	if o.Window < 2 || o.Horizon < 1 || o.MaxPosWeight < 1 || !(o.ValFraction > 0 && o.ValFraction < 1) || (o.ValSplit != "time" && o.ValSplit != "entity" && o.ValSplit != "after") {
		return fmt.Errorf("invalid options (window %d, horizon %d, max pos weight %v, val fraction %v, val split %q)", o.Window, o.Horizon, o.MaxPosWeight, o.ValFraction, o.ValSplit)
	}
	if o.Restarts < 0 || o.AverageFrom < 0 || o.AverageFrom > o.Epochs || o.Members < 0 || (o.Members > 1 && o.Restarts > 1) {
		return fmt.Errorf("invalid options (restarts %d, members %d, averaging from epoch %d of %d)", o.Restarts, o.Members, o.AverageFrom, o.Epochs)
	}
	return nil
}

// maskBeyond is the WindowOptions.MaskBeyond of MaskEarly.
func (o *TrainOptions) maskBeyond() int {
	if o.MaskEarly && o.LabelHorizon > o.Horizon {
		return o.Horizon
	}
	return 0
}

// TrainReport describes a Train run.
type TrainReport struct {
	Entities     int      `json:"entities"`
	Features     []string `json:"features"`
	TrainWindows int      `json:"train_windows"`
	ValWindows   int      `json:"val_windows"`
	// TrainDataWindows and ValDataWindows are the windows whose input
	// holds at least one value (not every one missing).
	TrainDataWindows int `json:"train_data_windows"`
	ValDataWindows   int `json:"val_data_windows"`
	Positives        int `json:"train_positives"`
	// Members is the number of networks of the returned model.
	Members int `json:"members"`
	// ValSplit is the validation split used: TrainOptions.ValSplit, or
	// "time" when that split left no entity on one side.
	ValSplit string `json:"val_split"`
	// ValPositives are the validation windows labelled positive (over
	// the model's Horizon).
	ValPositives int     `json:"val_positives"`
	PosWeight    float64 `json:"pos_weight"`
	// History is the training history; of an ensemble (Members > 1), its
	// first member's (the model's metadata holds the members' mean losses).
	History    History          `json:"history"`
	Thresholds model.Thresholds `json:"thresholds"`
	// ValAUCPR and ValF1 are the failure head's average precision and F1
	// at the chosen threshold on the validation windows (0 without
	// validation positives).
	ValAUCPR float64 `json:"val_auc_pr"`
	ValF1    float64 `json:"val_f1"`
	// ValCalibration compares the failure head's probabilities with the
	// failures on the validation windows (nil without validation
	// positives).
	ValCalibration *Calibration `json:"val_calibration,omitempty"`
	// Episodes is the alert rule's event-level result on the validation
	// series at the chosen threshold (TrainOptions.Alerts).
	Episodes *EpisodeStats `json:"val_episodes,omitempty"`
	// EpisodeCurve is the alert rule's result on the validation series at
	// every candidate threshold, in increasing order of threshold.
	EpisodeCurve []EpisodeStats `json:"val_episode_curve,omitempty"`
	// ValOnsets is the number of failure onsets in the validation series
	// (a failing step after a non-failing one, or a series' first step),
	// which a failure threshold chosen on validation failures rests on (0
	// without validation positives).
	ValOnsets int `json:"val_onsets"`
	// FailingSteps is the number of steps of the history (both parts)
	// its failure labels mark failing; FailureOnsets, those of them after
	// a step not failing: failures that start inside the history, not
	// under way at a series' first step. With failing steps and no
	// positive window (Positives and ValPositives 0), no window precedes
	// an onset: each failure is under way at its series' first step or
	// starts before a window of Window steps has ended.
	FailingSteps  int `json:"failing_steps"`
	FailureOnsets int `json:"failure_onsets"`
	// ThresholdWarning, when not empty, says that the failure threshold
	// is uncertain: it was chosen from fewer than MinLeadFloorOnsets
	// validation onsets, or none (failures in training only). The
	// model's threshold method and its metadata (ThresholdWarningKey)
	// carry it too.
	ThresholdWarning string  `json:"threshold_warning,omitempty"`
	TrainSeconds     float64 `json:"train_seconds"`
}

// Train loads the history from opts.Source, splits it into training and
// validation parts (opts.ValSplit: the last ValFraction of every entity's
// series, or whole held-out entities: "entity", "after"), trains an LSTM on the windows of
// all entities, sets its normalisation, thresholds and metadata, and
// returns it. The anomaly threshold is POT on the validation anomaly
// scores. The failure threshold, when the validation windows contain
// failures, is the alert rule's event-level choice plus the lead floor
// with opts.Alerts (EpisodeThreshold, LeadFloor), or the F1-best one on
// single validation windows without; with failures only in training it
// is POT on the validation failure probabilities (alert only on the
// extreme tail); with no failure at all it is 1 (never alerts). See
// docs/EVALUATION.md, "Thresholds without test labels".
func Train(ctx context.Context, opts TrainOptions) (*model.Model, TrainReport, error) {
	var rep TrainReport
	if err := opts.defaults(); err != nil {
		return nil, rep, err
	}
	start := time.Now()
	series, err := opts.Source.Load(ctx)
	if err != nil {
		return nil, rep, fmt.Errorf("load training history: %w", err)
	}
	if len(series) == 0 {
		return nil, rep, errors.New("the source returned no series")
	}
	rep.FailingSteps, rep.FailureOnsets = failureSteps(series)
	features := series[0].Features
	for _, s := range series {
		if !equalStrings(s.Features, features) {
			hint := ""
			if a, b := slices.Sorted(slices.Values(s.Features)), slices.Sorted(slices.Values(features)); equalStrings(a, b) {
				hint = " (the same ones in another order: omen train --source csv with --config.file reads every file's columns by name, in the order of the configuration's features)"
			}
			return nil, rep, fmt.Errorf("entity %s has features %v, entity %s has %v: every entity needs the same features, in the same order%s", seriesName(s), s.Features, seriesName(series[0]), features, hint)
		}
	}
	trs, vas, vaSeries, err := splitWindows(series, opts, opts.ValSplit)
	if err != nil {
		return nil, rep, err
	}
	split := opts.ValSplit
	if split != "time" && (len(trs) == 0 || len(vas) == 0) && len(trs)+len(vas) > 0 {
		// Too few entities for a fraction of them to be held out whole
		// (or to be left for training): validate on the last part of
		// every entity's history instead.
		opts.Logger.Warn("the "+split+" split left no entity for training or validation; validating on the last part of every entity's history instead",
			"entities", len(trs)+len(vas), "val_fraction", opts.ValFraction)
		split = "time"
		if trs, vas, vaSeries, err = splitWindows(series, opts, split); err != nil {
			return nil, rep, err
		}
	}
	rep.ValSplit = split
	if len(trs) == 0 || len(vas) == 0 {
		if split == "time" {
			return nil, rep, fmt.Errorf("no entity has enough history: with window %d, horizon %d and the last %v of each history for validation, an entity needs at least %d steps (a training part of more than %d and a validation part of more than %d), and the anomaly threshold %d validation windows in all (one per validation step beyond the first %d): one entity alone needs at least %d steps%s",
				opts.Window, opts.Horizon, opts.ValFraction, MinTimeSplitSteps(opts.Window, opts.Horizon, opts.ValFraction), opts.Window+opts.Horizon, opts.Window+1,
				MinValWindows, opts.Window, MinHistorySteps(opts.Window, opts.Horizon, opts.ValFraction, 1), longest(series))
		}
		return nil, rep, fmt.Errorf("no entity has more than %d steps for training and validation%s", opts.Window+opts.Horizon, longest(series))
	}
	trw, err := JoinWindows(trs...)
	if err != nil {
		return nil, rep, err
	}
	vaw, err := JoinWindows(vas...)
	if err != nil {
		return nil, rep, err
	}
	// The anomaly threshold (POT) is fitted to the validation windows'
	// scores: too few fail after every epoch has run, so say it first.
	if n := vaw.N(); n < MinValWindows {
		if split == "time" {
			several := ""
			if len(series) > 1 {
				several = fmt.Sprintf(", %d of equal length at least %d each", len(series), MinHistorySteps(opts.Window, opts.Horizon, opts.ValFraction, len(series)))
			}
			return nil, rep, fmt.Errorf("%d validation windows, the anomaly threshold needs at least %d: with window %d, horizon %d and the last %v of each history for validation, an entity's validation part gives one window per step beyond the first %d, so one entity alone needs at least %d steps%s%s",
				n, MinValWindows, opts.Window, opts.Horizon, opts.ValFraction, opts.Window,
				MinHistorySteps(opts.Window, opts.Horizon, opts.ValFraction, 1), several, longest(series))
		}
		return nil, rep, fmt.Errorf("the %d held-out entities give %d validation windows, the anomaly threshold needs at least %d (one per step of an entity beyond the first %d): hold out more or longer histories", len(vas), n, MinValWindows, opts.Window)
	}
	rep.Entities, rep.Features = countEntities(trs, vas), features
	rep.TrainWindows, rep.ValWindows = trw.N(), vaw.N()
	rep.TrainDataWindows, rep.ValDataWindows = dataWindows(trs), dataWindows(vas)
	// Missing values (NaN) are the feature's training mean as inputs and
	// left out of the forecast loss and the anomaly score as targets: a
	// feature that never has a value in the training part would get mean
	// 0 and std 1, and the model would score its first real values as
	// enormous anomalies (and thresholds fitted on nothing would let
	// every one of them through unremarked).
	// Every such feature is named at once: a cluster that does not
	// collect several of the default features' metrics learns of them
	// all in one attempt.
	vaCount := finiteCounts(vas, len(features))
	var empty EmptyFeaturesError
	for j, c := range finiteCounts(trs, len(features)) {
		if c == 0 {
			e := &EmptyFeatureError{Feature: features[j], ValValues: vaCount[j], ValFraction: opts.ValFraction,
				TrainDataWindows: rep.TrainDataWindows, TrainWindows: rep.TrainWindows, ValDataWindows: rep.ValDataWindows, ValWindows: rep.ValWindows}
			switch opts.Source.(type) {
			case *dataset.CSVSource:
				e.Source = "csv"
			case *dataset.PrometheusSource:
				e.Source = "prometheus"
			}
			for _, s := range series {
				if !hasValue(s, j) {
					e.Empty = append(e.Empty, cmp.Or(s.Origin, strconv.Quote(s.Entity)))
				}
			}
			e.Series = len(series)
			empty.Features = append(empty.Features, e)
		}
	}
	if len(empty.Features) > 0 {
		return nil, rep, &empty
	}
	rep.Positives, _ = labelCounts(trw.Label)
	valPos, valNeg := labelCounts(vaw.Label)
	rep.ValPositives = valPos
	rep.PosWeight = PositiveWeight(trw.Label, opts.MaxPosWeight)

	valHasPos := hasPositive(vaw.Label)
	calibrateOnVal := valPos >= MinCalibrationPositives && valNeg >= MinCalibrationPositives
	// fit trains one model from the seed's initialisation and shuffling.
	fit := func(seed int64) (*model.Model, History, error) {
		m, err := model.New(model.Config{Features: features, Window: opts.Window, Horizon: opts.Horizon, Hidden: opts.Hidden, Layers: opts.Layers, Dropout: opts.Dropout, Seed: seed, Step: opts.Step})
		if err != nil {
			return nil, History{}, fmt.Errorf("new model: %w", err)
		}
		if err := fitNormalization(m, trw); err != nil {
			return nil, History{}, err
		}
		t, err := model.NewTrainer(m, model.TrainOptions{LearningRate: opts.LearningRate, PosWeight: rep.PosWeight, ForecastWeight: 1, ClipNorm: 5, Seed: seed})
		if err != nil {
			return nil, History{}, fmt.Errorf("new trainer: %w", err)
		}
		tl := &trainerLearner{Trainer: t, m: m}
		var valScore func() (float64, error)
		if valHasPos {
			// Early stopping on the failure head's validation average precision.
			valScore = func() (float64, error) {
				prob, err := predictAll(ctx, m, vaw)
				if err != nil {
					return 0, err
				}
				p, l := labelled(prob, vaw.Label)
				return metrics.AveragePrecision(p, l), nil
			}
		}
		h, err := Fit(ctx, tl, trw, vaw, LoopOptions{
			Epochs: opts.Epochs, BatchSize: opts.BatchSize, Patience: opts.Patience,
			MaxWindowsPerEpoch: opts.MaxWindowsPerEpoch, Seed: seed, ValScore: valScore,
			AverageFrom: opts.AverageFrom,
			Progress:    opts.Progress, Label: "train", Logger: opts.Logger,
		})
		if err != nil {
			return nil, h, err
		}
		// Prior correction: weighting the positives by PosWeight
		// multiplied the fitted odds by it; the failure head's bias
		// takes ln(PosWeight) back so that its output is a calibrated
		// P(failure within the horizon), before the thresholds are
		// chosen on it (the choices work on ranks, quantiles and logit
		// steps, so they move with the probabilities).
		fitted := tl.result()
		if err := fitted.ShiftFailureLogit(-math.Log(rep.PosWeight)); err != nil {
			return nil, h, err
		}
		if calibrateOnVal {
			// On entities or times the model never trained on, its
			// failures rank lower than on its training data, so the prior
			// correction leaves the probabilities too low (7× on held-out
			// simulated pods): the intercept that makes them right on the
			// validation windows follows it.
			prob, err := predictAll(ctx, fitted, vaw)
			if err != nil {
				return nil, h, err
			}
			if err := fitted.ShiftFailureLogit(interceptShift(labelled(prob, vaw.Label))); err != nil {
				return nil, h, err
			}
		}
		return fitted, h, nil
	}
	var m *model.Model
	var memberLoss, memberValLoss float64 // an ensemble's: its members' mean
	if opts.Members > 1 {
		// An ensemble of Members networks from different seeds; the
		// thresholds below are chosen on its mean output.
		ms := make([]*model.Model, 0, opts.Members)
		for r := range opts.Members {
			mr, h, err := fit(opts.Seed + int64(r)*1_000_003)
			if err != nil {
				return nil, rep, err
			}
			ms = append(ms, mr)
			if r == 0 {
				rep.History = h
			}
			memberLoss += h.Best.Loss / float64(opts.Members)
			memberValLoss += h.Best.ValLoss / float64(opts.Members)
		}
		if m, err = model.NewEnsemble(ms...); err != nil {
			return nil, rep, err
		}
	} else {
		for r := range max(opts.Restarts, 1) {
			// Restarts keep the model with the best validation score.
			mr, h, err := fit(opts.Seed + int64(r)*1_000_003)
			if err != nil {
				return nil, rep, err
			}
			if m == nil || h.Best.ValScore > rep.History.Best.ValScore {
				m, rep.History = mr, h
			}
		}
	}
	rep.Members = m.Members()

	// Thresholds from validation windows only.
	an, _, err := scoreWindows(ctx, m, nil, vaw)
	if err != nil {
		return nil, rep, err
	}
	if vaw.NoTarget != nil {
		// Only the residuals of steps the daemon scores (a step without a
		// vector scored 0).
		an = keepWindows(an, vaw.HasTarget)
	}
	th := model.Thresholds{}
	valScored := false // rep.ValAUCPR is the model's (the ensemble's)
	pot, err := threshold.POT(an, threshold.POTOptions{Risk: opts.Risk, Level: opts.Level})
	if err != nil {
		return nil, rep, fmt.Errorf("anomaly threshold: %w (from %d validation windows: train on a longer history, or more entities)", err, vaw.N())
	}
	th.Anomaly = pot.Threshold
	prob, err := predictAll(ctx, m, vaw)
	if err != nil {
		return nil, rep, err
	}
	switch {
	case rep.Positives == 0:
		// The failure head never saw a failure: it must not alert.
		th.Failure = 1
		th.Method = fmt.Sprintf("failure: disabled (no failure in the training history); anomaly: POT q=%g level=%g on validation scores", opts.Risk, opts.Level)
	case valHasPos:
		p, l := labelled(prob, vaw.Label)
		th.Failure, rep.ValF1 = bestF1Threshold(p, l)
		rep.ValAUCPR = metrics.AveragePrecision(p, l)
		rep.ValCalibration = calibration(p, l, 10)
		valScored = true
		failure := "failure: F1-max on validation windows"
		if opts.Alerts != nil {
			judged := m
			if len(opts.Ensemble) > 0 {
				// The threshold as for an ensemble of m and opts.Ensemble.
				if judged, err = model.NewEnsemble(append([]*model.Model{m}, opts.Ensemble...)...); err != nil {
					return nil, rep, err
				}
			}
			seqs, err := probSeqs(ctx, judged, vas, vaSeries)
			if err != nil {
				return nil, rep, err
			}
			rule := *opts.Alerts
			rule.defaults(opts.Horizon)
			rep.EpisodeCurve = EpisodeCurve(seqs, opts.Horizon, rule)
			if es, ok := chooseThreshold(rep.EpisodeCurve, rule); ok && es.Predicted > 0 {
				es, floor, tooFew := applyLeadFloor(rep.EpisodeCurve, es, rule.MinLead)
				if tooFew {
					opts.Logger.Info("too few validation failures for the lead floor; the threshold is not lowered", "predicted", es.Predicted, "min", MinLeadFloorOnsets)
				}
				th.Failure = es.Threshold
				// ValF1 is the windows' F1 at the threshold chosen,
				// not at the F1-max one it replaces.
				rep.ValF1 = metrics.PointWise(metrics.Threshold(p, th.Failure), l).F1
				rep.Episodes = &es
				failure = fmt.Sprintf("failure: alert-episode F1-max on validation series (for %d steps, resolve %.2g×%s; %s%s)",
					rule.For, rule.ResolveRatio, resolveForText(rule.ResolveFor), episodeText(es), floor)
			}
		}
		// A threshold chosen from a handful of failures is chance: the
		// same history gave 0.276, 0.039 and 0.183 with three seeds, each
		// from one onset at P 1.00 R 1.00 (reviewer's finding).
		rep.ValOnsets = countOnsets(vas, vaSeries)
		if rep.ValOnsets < MinLeadFloorOnsets {
			note := uncertainThreshold(rep.ValOnsets)
			failure += ", " + note
			rep.ThresholdWarning = "failure threshold " + note + ": train on a longer history, with more failures"
			opts.Logger.Warn("the failure threshold is uncertain: it was chosen from too few validation failures; train on a longer history, with more failures, for a steadier one",
				"onsets", rep.ValOnsets, "min", MinLeadFloorOnsets, "threshold", th.Failure)
		}
		th.Method = fmt.Sprintf("%s; anomaly: POT q=%g level=%g on validation scores", failure, opts.Risk, opts.Level)
	default:
		if vaw.Unscored != nil {
			// Only the probabilities at steps the daemon scores.
			prob = keepWindows(prob, vaw.Scored)
		}
		fp, err := threshold.POT(prob, threshold.POTOptions{Risk: opts.Risk, Level: opts.Level})
		how := fmt.Sprintf("POT q=%g on validation probabilities", opts.Risk)
		switch {
		case err != nil:
			th.Failure = threshold.Quantile(prob, 1-opts.Risk)
			how = fmt.Sprintf("the %g quantile of validation probabilities", 1-opts.Risk)
		case fp.Fit.Method == threshold.NoFit:
			// Too few excesses for a tail: POT's answer is the maximum.
			th.Failure = math.Min(fp.Threshold, 1)
			how = fmt.Sprintf("the highest of %d validation probabilities (too few for POT q=%g)", fp.N, opts.Risk)
		default:
			th.Failure = math.Min(fp.Threshold, 1)
		}
		// No validation failure: nothing the threshold could be judged
		// by, only a bound on the validation windows' false alarms, and
		// on a short history the maximum of a few probabilities (the same
		// history gave 0.021, 0.968 and 0.244; reviewer's finding). The
		// most uncertain case: warned of as loudly as a few onsets.
		note := noValOnsets(split, opts.ValFraction)
		rep.ThresholdWarning = "failure threshold " + note + ": " + noValOnsetsAdvice
		opts.Logger.Warn("the failure threshold is uncertain: the validation part of the history holds no failure to choose it from; "+noValOnsetsAdvice,
			"onsets", 0, "min", MinLeadFloorOnsets, "validation", valPartOf(split, opts.ValFraction), "threshold", th.Failure)
		th.Method = fmt.Sprintf("failure: %s, %s; anomaly: POT q=%g level=%g on validation scores", how, note, opts.Risk, opts.Level)
	}
	// The critical probability, midway between the failure threshold and
	// the highest validation probability (a short horizon's calibrated
	// probability may stay far below 1), but not closer to the threshold
	// than model.CriticalSeparation says.
	highest := 1.0
	if rep.ValCalibration != nil {
		highest = rep.ValCalibration.MaxProb
	}
	th.Critical = model.CriticalProbability(th.Failure, highest)
	m.SetThresholds(th)
	rep.Thresholds = th
	rep.TrainSeconds = time.Since(start).Seconds()
	best := rep.History.Best
	if opts.Members > 1 {
		// The history is the first member's; the losses recorded are the
		// members' mean (each at its best epoch), and the ensemble's own
		// validation score is its mean output's average precision.
		best.Loss, best.ValLoss = memberLoss, memberValLoss
		if valScored {
			best.ValScore = rep.ValAUCPR
		}
	}
	extra := map[string]string{
		"entities": strconv.Itoa(rep.Entities), "members": strconv.Itoa(rep.Members), "train_windows": strconv.Itoa(rep.TrainWindows),
		"val_windows": strconv.Itoa(rep.ValWindows), "pos_weight": strconv.FormatFloat(rep.PosWeight, 'g', 4, 64),
		"best_epoch": strconv.Itoa(rep.History.BestEpoch), "stopped": rep.History.Stopped,
		// The failure head's bias was shifted by −ln(pos_weight),
		// then by the validation intercept.
		"failure_calibration": calibrationMethod(calibrateOnVal),
	}
	if rep.Positives > 0 {
		// 0 when validation holds no failure (the threshold's warning
		// says so).
		extra["val_onsets"] = strconv.Itoa(rep.ValOnsets)
	}
	if rep.ThresholdWarning != "" {
		extra[ThresholdWarningKey] = rep.ThresholdWarning
	}
	m.SetMeta(model.Meta{
		Version: opts.Version, CreatedAt: time.Now().UTC(), TrainedOn: opts.TrainedOn,
		Epochs: len(rep.History.Epochs), TrainLoss: best.Loss, ValLoss: best.ValLoss, ValScore: best.ValScore,
		Extra: extra,
	})
	return m, rep, nil
}

// episodeText says what the alert rule did on the validation series at
// the chosen threshold, each figure with its unit: failure onsets
// predicted (recall), alert groups that predicted one (precision), and
// the median lead. Not windows: TrainReport.ValAUCPR and ValF1 are of
// single windows, and differ (one model had window F1 1.000 and 1 of 7
// onsets predicted).
func episodeText(es EpisodeStats) string {
	return fmt.Sprintf("failure onsets: %d of %d predicted, R %.2f; alert groups: %d of %d true, P %.2f; median lead %.0f steps",
		es.Predicted, es.Episodes, es.Recall, es.TruePositives, es.TruePositives+es.FalsePositives, es.Precision, es.LeadMedian)
}

// ThresholdWarningKey is the key of model.Meta.Extra under which Train
// records why the model's failure threshold is uncertain (too few
// validation failures, or none, to choose it from, TrainReport.ThresholdWarning);
// absent when it is not.
const ThresholdWarningKey = "threshold_warning"

// uncertainThreshold is the warning of a failure threshold chosen from
// onsets validation failure onsets, fewer than MinLeadFloorOnsets.
func uncertainThreshold(onsets int) string {
	s := "s"
	if onsets == 1 {
		s = ""
	}
	return fmt.Sprintf("uncertain: chosen from %d validation failure onset%s, fewer than %d", onsets, s, MinLeadFloorOnsets)
}

// failureSteps counts the steps of ss that their labels mark failing,
// and the onsets among them: failing steps after a step not failing (a
// series' first step is none, its failure may have started before).
func failureSteps(ss []*dataset.Series) (failing, onsets int) {
	for _, s := range ss {
		for i, l := range s.Labels {
			if l {
				failing++
				if i > 0 && !s.Labels[i-1] {
					onsets++
				}
			}
		}
	}
	return failing, onsets
}

// noValOnsetsAdvice is what to do about a failure threshold chosen
// without a validation failure onset.
const noValOnsetsAdvice = "train on a longer history (--history; of CSV files, longer files) whose validation part holds failures, 10 or more for a steady threshold"

// noValOnsets is the warning of a failure threshold chosen when the
// validation part (split, fraction) holds no failure onset.
func noValOnsets(split string, fraction float64) string {
	return fmt.Sprintf("uncertain: the validation part (%s) holds no failure onset to choose it from, so it bounds only false alarms", valPartOf(split, fraction))
}

// valPartOf says what the validation split holds out.
func valPartOf(split string, fraction float64) string {
	switch split {
	case "entity":
		return fmt.Sprintf("about %g %% of the entities, held out whole", 100*fraction)
	case "after":
		return "the entities whose history starts at or after the validation start"
	}
	return fmt.Sprintf("the last %g %% of the history", 100*fraction)
}

// countOnsets counts the failure onsets of the validation series ss (a
// failing step after a non-failing one, or the first step) over the steps
// their windows ws end at, as EpisodeScore counts them in probSeqs's
// sequences: every step from the first window's end to the last's for a
// series with Series.Present, the windows' ends otherwise.
func countOnsets(ws []*Windows, ss []*dataset.Series) int {
	n := 0
	for i, w := range ws {
		s := ss[i]
		if w.N() == 0 || s.Labels == nil {
			continue
		}
		steps := w.End
		if s.Present != nil {
			steps = nil
			for k := w.End[0]; k <= w.End[w.N()-1]; k++ {
				steps = append(steps, k)
			}
		}
		for j, e := range steps {
			if s.Labels[e] && (j == 0 || !s.Labels[steps[j-1]]) {
				n++
			}
		}
	}
	return n
}

// countEntities counts the entities the window sets were cut from (an
// entity of the time split has a set on both sides, or on one).
func countEntities(sets ...[]*Windows) int {
	seen := map[string]bool{}
	for _, ws := range sets {
		for _, w := range ws {
			seen[w.entity] = true
		}
	}
	return len(seen)
}

// MinCalibrationPositives is how many positive (and negative) validation
// windows Train needs to fit the failure head's intercept on them; with
// fewer it keeps the prior correction alone.
const MinCalibrationPositives = 10

// calibrationMethod names the failure head's calibration in the model's
// metadata (failure_calibration).
func calibrationMethod(onVal bool) string {
	if onVal {
		return "prior+validation-intercept"
	}
	return "prior"
}

// interceptShift returns the shift d of the logits of prob that maximises
// the likelihood of label, with Platt's smoothed targets ((k+1)/(n₊+2)
// for a positive, 1/(n₋+2) for a negative, so that few positives do not
// push it to an extreme): the d at which the shifted probabilities sum
// to the targets' sum. Newton's method on that sum, which increases with
// d, from d = 0; probabilities are clamped to [1e-9, 1−1e-9] so that every
// logit is finite. 0 without both classes or with a NaN probability.
func interceptShift(prob []float64, label []bool) float64 {
	var pos, neg float64
	for _, l := range label {
		if l {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return 0
	}
	target := pos*(pos+1)/(pos+2) + neg/(neg+2)
	z := make([]float64, len(prob))
	for i, p := range prob {
		if p != p {
			return 0 // a NaN probability: no fit (min and max keep NaN)
		}
		p = min(max(p, 1e-9), 1-1e-9)
		z[i] = math.Log(p / (1 - p))
	}
	d, lo, hi := 0.0, math.Inf(-1), math.Inf(1)
	for range 100 {
		var sum, slope float64
		for _, v := range z {
			q := 1 / (1 + math.Exp(-(v + d)))
			sum += q
			slope += q * (1 - q)
		}
		if math.Abs(sum-target) < 1e-9*float64(len(z)) {
			break
		}
		if sum > target {
			hi = d
		} else {
			lo = d
		}
		next := d - (sum-target)/slope
		if !(next > lo && next < hi) || slope == 0 {
			// Newton left the bracket: bisect it (or step out of it
			// while one side is still open).
			switch {
			case math.IsInf(lo, -1):
				next = hi - 4
			case math.IsInf(hi, 1):
				next = lo + 4
			default:
				next = (lo + hi) / 2
			}
		}
		d = next
	}
	return d
}

// keepWindows returns, in place, the values of xs (one per window) of
// the windows keep reports.
func keepWindows(xs []float64, keep func(i int) bool) []float64 {
	kept := xs[:0]
	for i, x := range xs {
		if keep(i) {
			kept = append(kept, x)
		}
	}
	return kept
}

// heldOut reports whether the entity belongs to the validation fraction
// frac of entities (FNV-1a hash of its name).
func heldOut(entity string, frac float64) bool {
	h := fnv.New64a()
	h.Write([]byte(entity))
	return float64(h.Sum64()%10000) < frac*10000
}

// splitWindows makes the training and validation windows of series split
// as valSplit says ("entity": whole entities held out; "after": whole
// entities starting at or after ValFrom; otherwise the last ValFraction
// of every entity). Entities too short for a window are skipped with a
// warning: the first maxSkipLogs one by one, the rest in one line that
// counts them by reason.
func splitWindows(series []*dataset.Series, opts TrainOptions, valSplit string) (trs, vas []*Windows, vaSeries []*dataset.Series, err error) {
	// Training windows are labelled over LabelHorizon (and masked as
	// MaskEarly says); validation windows over the model's Horizon, which
	// the thresholds, the validation score and early stopping judge.
	// With Onset, failing steps with at most Horizon non-failing steps
	// between them are one failure (FailureEpisodes), in each part after
	// the cut (a failure on one side of it neither extends nor masks one
	// on the other) and with the one gap, Horizon, in the training
	// windows, the validation windows and the validation series the
	// alerts are scored on alike.
	wo := WindowOptions{Window: opts.Window, Horizon: opts.LabelHorizon, Onset: opts.Onset, EpisodeGap: opts.Horizon, MaskBeyond: opts.maskBeyond()}
	vo := WindowOptions{Window: opts.Window, Horizon: opts.Horizon, Onset: opts.Onset, EpisodeGap: opts.Horizon}
	episodes := func(s *dataset.Series) *dataset.Series {
		if !opts.Onset {
			return s
		}
		l := FailureEpisodes(s.Labels, opts.Horizon)
		if slices.Equal(l, s.Labels) {
			return s
		}
		c := *s
		c.Labels = l
		return &c
	}
	skips := skipLog{log: opts.Logger}
	defer skips.flush()
	var cut int64
	useCut := false
	if valSplit != "entity" && valSplit != "after" {
		cut, useCut = calendarCut(series, opts.ValFraction)
	}
	for _, s := range series {
		if useCut {
			// One cut time for every entity: no time is validation
			// for one entity and training for another.
			k := stepsBefore(s, cut)
			tr, va := episodes(s.Slice(0, k)), episodes(s.Slice(k, s.Steps()))
			useTr, useVa := tr.Steps() > opts.Window+opts.Horizon, va.Steps() > opts.Window+1
			if !useTr && !useVa {
				skips.skip(skipShort, "skipping short entity", "entity", s.Entity, "steps", s.Steps())
				continue
			}
			if useTr {
				tw, err := MakeWindows(tr, wo)
				if err != nil {
					return nil, nil, nil, err
				}
				trs = append(trs, tw)
			}
			if useVa {
				vw, err := MakeWindows(va, vo)
				if err != nil {
					return nil, nil, nil, err
				}
				vas, vaSeries = append(vas, vw), append(vaSeries, va)
			}
			continue
		}
		if valSplit == "entity" || valSplit == "after" {
			var val bool
			if valSplit == "after" {
				val = s.Start >= opts.ValFrom
			} else {
				val = heldOut(s.Entity, opts.ValFraction)
			}
			if s.Steps() <= opts.Window+opts.Horizon {
				skips.skip(skipShort, "skipping short entity", "entity", s.Entity, "steps", s.Steps())
				continue
			}
			o := wo
			if val {
				o = vo
			}
			s = episodes(s)
			w, err := MakeWindows(s, o)
			if err != nil {
				return nil, nil, nil, err
			}
			if val {
				vas, vaSeries = append(vas, w), append(vaSeries, s)
			} else {
				trs = append(trs, w)
			}
			continue
		}
		tr, va, err := SplitTime(s, opts.ValFraction)
		if err != nil {
			skips.skip(skipSplit, "skipping entity", "entity", s.Entity, "err", err)
			continue
		}
		tr, va = episodes(tr), episodes(va)
		if tr.Steps() <= opts.Window+opts.Horizon || va.Steps() <= opts.Window+1 {
			skips.skip(skipShort, "skipping short entity", "entity", s.Entity, "steps", s.Steps())
			continue
		}
		tw, err := MakeWindows(tr, wo)
		if err != nil {
			return nil, nil, nil, err
		}
		vw, err := MakeWindows(va, vo)
		if err != nil {
			return nil, nil, nil, err
		}
		trs, vas = append(trs, tw), append(vas, vw)
		vaSeries = append(vaSeries, va)
	}
	return trs, vas, vaSeries, nil
}

// calendarCut returns the time (Unix ms) of the time split's cut when the
// series do not all span the same steps: the step time before which
// (1 − valFrac) of all their steps lie, so that every entity trains on its
// steps before it and validates on those from it (a pod born late is
// validated only on the fleet's last part, as the others are, and an
// incident is never validation for one pod and training for another).
// ok is false when the series share Start and length (each one's own cut
// is then that cut, SplitTime's) or one has no Step (times unknown).
func calendarCut(series []*dataset.Series, valFrac float64) (cut int64, ok bool) {
	if len(series) == 0 {
		return 0, false
	}
	same := true
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	total := 0
	for _, s := range series {
		if s.Step <= 0 {
			return 0, false
		}
		if s.Start != series[0].Start || s.Steps() != series[0].Steps() || s.Step != series[0].Step {
			same = false
		}
		lo, hi = min(lo, s.Start), max(hi, s.Start+int64(s.Steps())*s.Step)
		total += s.Steps()
	}
	if same {
		return 0, false
	}
	// before counts the steps at times < t.
	before := func(t int64) int {
		n := 0
		for _, s := range series {
			n += stepsBefore(s, t)
		}
		return n
	}
	want := int(math.Round(float64(total) * (1 - valFrac)))
	for lo < hi { // the earliest t with want steps before it
		mid := lo + (hi-lo)/2
		if before(mid) >= want {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, true
}

// stepsBefore counts the steps of s at times before t (Unix ms); 0
// without a Step.
func stepsBefore(s *dataset.Series, t int64) int {
	if s.Step <= 0 || t <= s.Start {
		return 0
	}
	return min(int((t-s.Start+s.Step-1)/s.Step), s.Steps())
}

// MinTimeSplitSteps is the fewest steps an entity's history needs for the
// time split (SplitTime at valFraction) to leave a training part longer
// than window + horizon and a validation part longer than window + 1, as
// Train requires of an entity it trains on; 0 when no length up to 2^24
// does (valFraction outside (0, 1)). The entities together need
// MinValWindows validation windows too (see MinHistorySteps).
func MinTimeSplitSteps(window, horizon int, valFraction float64) int {
	for n := 4; n <= 1<<24; n++ {
		cut := int(math.Round(float64(n) * (1 - valFraction)))
		if cut >= 2 && n-cut >= 2 && cut > window+horizon && n-cut > window+1 {
			return n
		}
	}
	return 0
}

// MinValWindows is the fewest validation windows Train accepts: the
// anomaly threshold is POT on their scores (threshold.MinScores).
const MinValWindows = threshold.MinScores

// MinHistorySteps is the fewest steps each of entities histories of equal
// length needs for Train with the time split: at least MinTimeSplitSteps,
// and together MinValWindows validation windows (an entity's validation
// part gives one per step beyond the first window). With the defaults
// (window 32, horizon 10, the last 0.2 for validation) one entity needs
// 258 steps; 0 when no length up to 2^24 does.
func MinHistorySteps(window, horizon int, valFraction float64, entities int) int {
	entities = max(entities, 1)
	for n := MinTimeSplitSteps(window, horizon, valFraction); n > 0 && n <= 1<<24; n++ {
		cut := int(math.Round(float64(n) * (1 - valFraction)))
		if entities*(n-cut-window) >= MinValWindows {
			return n
		}
	}
	return 0
}

// DefaultFeaturesFile is the built-in feature set as YAML in omen's
// repository, which the advice to drop a feature names: a configuration
// that lists features replaces the built-in set as a whole.
const DefaultFeaturesFile = "docs/features.default.yml"

// EmptyFeatureError is one feature of an EmptyFeaturesError: a feature
// with no value in the training part of the history; the model would
// normalise it with mean 0 and std 1 and score its first real values as
// enormous anomalies. Its message's advice fits the source, and tells a
// feature with no value at all in the history (Absent: its metric is not
// collected, drop it) from one with values only in the validation part or
// in entities too short to train on (a longer history).
type EmptyFeatureError struct {
	Feature string
	// Source is "csv" (a dataset.CSVSource), "prometheus" (a
	// dataset.PrometheusSource), or "" (another: the store).
	Source string
	// ValValues is how many of the feature's validation steps have a value.
	ValValues   int
	ValFraction float64
	// Empty names the series (their files, else their entities) in which
	// the feature has no value at all; Series is how many there are.
	Empty  []string
	Series int
	// The windows, and those of them that hold any value.
	TrainDataWindows, TrainWindows, ValDataWindows, ValWindows int
}

// Absent reports whether the feature has no value in any series, in
// the training part or the validation part: its metric is not collected
// (or its expression, or CSV column, matches nothing), so no longer
// history gives it one.
func (e *EmptyFeatureError) Absent() bool { return e.Series > 0 && len(e.Empty) == e.Series }

func (e *EmptyFeatureError) Error() string {
	return fmt.Sprintf("feature %q has no value in the training part of the history (%d of its validation steps have one; %d of %d training windows and %d of %d validation windows hold any data): %s",
		e.Feature, e.ValValues, e.TrainDataWindows, e.TrainWindows, e.ValDataWindows, e.ValWindows, e.advice(false))
}

// advice says why the feature has no value and what to do, for the
// source; plural words it for several features of the same advice
// (EmptyFeaturesError lists them together).
func (e *EmptyFeatureError) advice(plural bool) string {
	w := func(one, several string) string {
		if plural {
			return several
		}
		return one
	}
	trainPct, valPct := fmt.Sprintf("%.3g %%", (1-e.ValFraction)*100), fmt.Sprintf("%.3g %%", e.ValFraction*100)
	drop := w("drop the feature", "drop the features") + " from the configuration (" + DefaultFeaturesFile + " holds the built-in features to copy and trim: a configuration that lists features replaces them all)"
	switch {
	case e.Source == "csv":
		// Names the column: never grouped with another feature.
		msg := fmt.Sprintf("column %q has no value (empty or NaN) in the first %s of any file trained on", e.Feature, trainPct)
		if len(e.Empty) > 0 {
			msg += fmt.Sprintf(", and throughout %d of the %d: %s", len(e.Empty), e.Series, words.JoinSome(e.Empty, 5))
		}
		if len(e.Empty) < e.Series {
			msg += fmt.Sprintf("; the other files have values in it only in their last %s (validation) or are too short to train on", valPct)
		}
		return msg + ": give files with values in that column, or remove the column from every file"
	case e.Source == "prometheus" && e.Absent():
		return w("its query", "their queries") + " returned no sample in the range read (a metric that does not exist, or a selector that matches no series): check " +
			w("the feature's expr", "the features' exprs") + " against the server, or " + drop
	case e.Source == "prometheus":
		return fmt.Sprintf("%s returned samples only in the last %s of the range read (validation), or only for entities too short to train on: train again when the server holds more of %s, or %s from the configuration",
			w("its query", "their queries"), valPct, w("it", "them"), w("drop the feature", "drop the features"))
	case e.Absent():
		return w("it has", "they have") + " no value at all in the history, of any entity (" + w("its metric is", "their metrics are") + " not collected, or " +
			w("its expression matches", "their expressions match") + " no series; a longer history will not give " + w("it", "them") + " one): " + drop
	}
	if e.ValValues == 0 {
		return fmt.Sprintf("%s values only for entities too short to train on: train on a longer history, or %s from the configuration",
			w("it has", "they have"), w("drop the feature", "drop the features"))
	}
	// Values in the validation part: the feature may have begun to have
	// values late, everywhere at once (added to the configuration, or
	// given values where it had none by an omen upgrade), and then a
	// longer history only makes its empty part longer.
	return fmt.Sprintf("%s values only in the last %s of the history (validation), or only for entities too short to train on. "+
		"If %s began to have values recently (added to the configuration, or given values by an omen upgrade), train on the history since then "+
		"(omen train --history at most 1.25 times the time since) or wait for more of it; else train on a longer history; or %s from the configuration",
		w("it has", "they have"), valPct, w("it", "they"), w("drop the feature", "drop the features"))
}

// EmptyFeaturesError is Train's error when features have no value in the
// training part of the history: it names every one of them (Features, in
// the features' order), those of the same advice together.
type EmptyFeaturesError struct {
	Features []*EmptyFeatureError
}

func (e *EmptyFeaturesError) Error() string {
	if len(e.Features) == 1 {
		return e.Features[0].Error()
	}
	f0 := e.Features[0]
	var b strings.Builder
	fmt.Fprintf(&b, "%d features have no value in the training part of the history (%d of %d training windows and %d of %d validation windows hold any data):",
		len(e.Features), f0.TrainDataWindows, f0.TrainWindows, f0.ValDataWindows, f0.ValWindows)
	// Group by advice, in the order of each advice's first feature.
	var advice []string
	names := map[string][]string{}
	plural := map[string]string{}
	for _, f := range e.Features {
		a := f.advice(false)
		if _, ok := names[a]; !ok {
			advice = append(advice, a)
			plural[a] = f.advice(true)
		}
		n := strconv.Quote(f.Feature)
		if f.ValValues > 0 {
			n += fmt.Sprintf(" (%d of its validation steps have one)", f.ValValues)
		}
		names[a] = append(names[a], n)
	}
	for _, a := range advice {
		if len(names[a]) > 1 {
			fmt.Fprintf(&b, "\n  %s: %s", strings.Join(names[a], ", "), plural[a])
			continue
		}
		fmt.Fprintf(&b, "\n  %s: %s", names[a][0], a)
	}
	return b.String()
}

// Unwrap returns the features' errors, for errors.As.
func (e *EmptyFeaturesError) Unwrap() []error {
	out := make([]error, len(e.Features))
	for i, f := range e.Features {
		out[i] = f
	}
	return out
}

// seriesName names a series in messages: its entity, and its file when
// the source says (two folders can hold files of the same name).
func seriesName(s *dataset.Series) string {
	if s.Origin != "" {
		return fmt.Sprintf("%q (%s)", s.Entity, s.Origin)
	}
	return strconv.Quote(s.Entity)
}

// hasValue reports whether feature j of s has a finite value.
func hasValue(s *dataset.Series, j int) bool {
	f := len(s.Features)
	for i := j; i < len(s.Values); i += f {
		if v := s.Values[i]; v-v == 0 {
			return true
		}
	}
	return false
}

// longest describes the series with the most steps, for the error that
// none is long enough: a source that holds only minutes of history says
// so.
func longest(series []*dataset.Series) string {
	var l *dataset.Series
	for _, s := range series {
		if l == nil || s.Steps() > l.Steps() {
			l = s
		}
	}
	if l == nil {
		return ""
	}
	if l.Step <= 0 {
		return fmt.Sprintf(" (the longest, %q, has %d)", l.Entity, l.Steps())
	}
	return fmt.Sprintf(" (the longest, %q, has %d at a %v step: %v of history)", l.Entity, l.Steps(), time.Duration(l.Step)*time.Millisecond,
		time.Duration(int64(l.Steps())*l.Step)*time.Millisecond)
}

// finiteCounts returns, per feature, how many steps of the series of ws
// hold a finite value.
func finiteCounts(ws []*Windows, f int) []int {
	cnt := make([]int, f)
	for _, w := range ws {
		for i, v := range w.data {
			if v-v == 0 {
				cnt[i%f]++
			}
		}
	}
	return cnt
}

// dataWindows returns how many windows of ws hold at least one finite
// input value.
func dataWindows(ws []*Windows) int {
	n := 0
	for _, w := range ws {
		// has[t+1]: the number of steps ≤ t with a finite value.
		has := make([]int, w.steps+1)
		for t := range w.steps {
			has[t+1] = has[t]
			for _, v := range w.data[t*w.F : (t+1)*w.F] {
				if v-v == 0 {
					has[t+1]++
					break
				}
			}
		}
		for _, end := range w.End {
			if has[end+1]-has[end+1-w.W] > 0 {
				n++
			}
		}
	}
	return n
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func hasPositive(l []float32) bool {
	for _, v := range l {
		if v > 0.5 {
			return true
		}
	}
	return false
}

// labelled keeps the entries whose label is not masked.
func labelled(prob []float64, label []float32) ([]float64, []bool) {
	var p []float64
	var l []bool
	for i, v := range label {
		if v == v {
			p = append(p, prob[i])
			l = append(l, v > 0.5)
		}
	}
	return p, l
}

// probSeqs scores each entity's validation windows in time order, with
// the failing flag of each window's last step. For a series with
// Series.Present the sequence has one entry per step from the first
// window's end to the last's, as the daemon's alert rule sees the entity
// (stepSeq): a step the daemon scores has its window's probability; a
// step it does not score has a NaN one and keeps its failing flag, and is
// held (ProbSeq.Held) when the daemon has a vector of the entity there,
// else a missing prediction (EpisodeScore).
func probSeqs(ctx context.Context, m *model.Model, ws []*Windows, ss []*dataset.Series) ([]ProbSeq, error) {
	out := make([]ProbSeq, len(ws))
	for i, w := range ws {
		prob, err := predictAll(ctx, m, w)
		if err != nil {
			return nil, err
		}
		if ss[i].Present != nil {
			out[i] = stepSeq(w, prob, ss[i])
			continue
		}
		failing := make([]bool, w.N())
		if ss[i].Labels != nil {
			for j, e := range w.End {
				failing[j] = ss[i].Labels[e]
			}
		}
		out[i] = ProbSeq{Prob: prob, Failing: failing}
	}
	return out, nil
}

// stepSeq puts the probabilities prob of w's windows, cut from s (with
// Series.Present), on the steps they end at, from the first window's end
// to the last's: NaN where a window ends at a step the daemon does not
// score, or none does. Of those steps, the ones where the daemon has a
// vector of the entity hand its alert rule the entity unscored, which
// keeps the alert's state (package alert; app's evaluator): a present
// vector whose window is still filling, and a vector stored for an absent
// entity's failure label (not Present, labelled). They are Held; the
// others, without a vector, are missing predictions.
func stepSeq(w *Windows, prob []float64, s *dataset.Series) ProbSeq {
	if w.N() == 0 {
		return ProbSeq{}
	}
	first := w.End[0]
	n := w.End[w.N()-1] - first + 1
	seq := ProbSeq{Prob: make([]float64, n), Failing: make([]bool, n), Held: make([]bool, n)}
	for k := range seq.Prob {
		seq.Prob[k] = math.NaN()
		labelled := s.Labels != nil && s.Labels[first+k]
		seq.Failing[k] = labelled
		seq.Held[k] = s.Present[first+k] || labelled
	}
	for j, e := range w.End {
		if w.Scored(j) {
			seq.Prob[e-first], seq.Held[e-first] = prob[j], false
		}
	}
	return seq
}

// predictAll returns the failure probability of every window of w.
func predictAll(ctx context.Context, m *model.Model, w *Windows) ([]float64, error) {
	const chunk = 512
	n := w.N()
	prob := make([]float64, n)
	wf := w.W * w.F
	x := make([]float32, chunk*wf)
	idx := make([]int, 0, chunk)
	for b := 0; b < n; b += chunk {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		e := min(b+chunk, n)
		idx = idx[:0]
		for i := b; i < e; i++ {
			idx = append(idx, i)
		}
		w.Gather(idx, x[:len(idx)*wf], nil, nil)
		if err := m.Predict(x[:len(idx)*wf], len(idx), prob[b:e]); err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
	}
	return prob, nil
}

// bestF1Threshold returns the score threshold with the highest point-wise
// F1 (ties: the higher threshold) and that F1.
func bestF1Threshold(score []float64, label []bool) (float64, float64) {
	idx := metrics.RankDims(score) // decreasing order
	pos := 0
	for _, l := range label {
		if l {
			pos++
		}
	}
	bestT, bestF := 1.0, 0.0
	tp, fp := 0, 0
	for k := 0; k < len(idx); {
		j := k
		for j < len(idx) && score[idx[j]] == score[idx[k]] {
			if label[idx[j]] {
				tp++
			} else {
				fp++
			}
			j++
		}
		if j == k {
			j = k + 1
		}
		f := metrics.Harmonic(float64(tp)/float64(tp+fp), float64(tp)/float64(max(pos, 1)))
		if f > bestF {
			bestF, bestT = f, score[idx[k]]
		}
		k = j
	}
	return bestT, bestF
}

// Calibration compares predicted probabilities with outcomes: the mean
// probability against the rate of positives, overall and by bins of
// equal size in increasing order of probability (a reliability table).
type Calibration struct {
	MeanProb float64 `json:"mean_prob"`
	// MaxProb is the highest probability: omen train warns when it stays
	// under alerting.critical_probability (no alert would be critical).
	MaxProb float64          `json:"max_prob"`
	Rate    float64          `json:"rate"`
	Bins    []CalibrationBin `json:"bins"`
}

// CalibrationBin is one bin of a Calibration.
type CalibrationBin struct {
	Windows  int     `json:"windows"`
	MinProb  float64 `json:"min_prob"`
	MeanProb float64 `json:"mean_prob"`
	Rate     float64 `json:"rate"`
}

// Calibrate measures the calibration of m's failure probability on the
// series of src (held-out data: a fleet or a period the model never saw),
// in up to bins bins: every window MakeWindows cuts with opts (m's window
// and horizon, Onset as in training), its label masked where opts masks
// it. nil without a labelled window.
func Calibrate(ctx context.Context, m *model.Model, src Source, opts WindowOptions, bins int) (*Calibration, error) {
	series, err := src.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("calibrate: load: %w", err)
	}
	var prob []float64
	var label []bool
	for _, s := range series {
		if s.Steps() <= opts.Window {
			continue
		}
		w, err := MakeWindows(s, opts)
		if err != nil {
			return nil, fmt.Errorf("calibrate: entity %s: %w", seriesName(s), err)
		}
		pr, err := predictAll(ctx, m, w)
		if err != nil {
			return nil, fmt.Errorf("calibrate: entity %s: %w", seriesName(s), err)
		}
		p, l := labelled(pr, w.Label)
		prob, label = append(prob, p...), append(label, l...)
	}
	return calibration(prob, label, bins), nil
}

// calibration returns the calibration of probabilities prob against
// labels in up to bins bins of equal size (nil without probabilities).
func calibration(prob []float64, label []bool, bins int) *Calibration {
	n := len(prob)
	if n == 0 || bins < 1 {
		return nil
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(prob[a], prob[b]) })
	c := &Calibration{}
	for b := range min(bins, n) {
		lo, hi := b*n/min(bins, n), (b+1)*n/min(bins, n)
		bin := CalibrationBin{Windows: hi - lo, MinProb: prob[idx[lo]]}
		for _, i := range idx[lo:hi] {
			bin.MeanProb += prob[i]
			if label[i] {
				bin.Rate++
			}
		}
		c.MeanProb += bin.MeanProb
		c.Rate += bin.Rate
		bin.MeanProb /= float64(bin.Windows)
		bin.Rate /= float64(bin.Windows)
		c.Bins = append(c.Bins, bin)
	}
	c.MeanProb /= float64(n)
	c.Rate /= float64(n)
	c.MaxProb = prob[idx[n-1]]
	return c
}

// resolveForText is how the threshold method names AlertRule.ResolveFor:
// nothing for 1 (the first step below resolves, as before it was kept).
func resolveForText(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" for %d steps", n)
}
