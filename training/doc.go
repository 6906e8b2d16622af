// Package training turns history into omen models and measures them.
//
// # Data
//
// A Source (dataset.CSVSource, dataset.PrometheusSource,
// storesource.Source) yields one dataset.Series per entity: a dense
// time-major matrix on a fixed step plus optional per-step failure labels.
// MakeWindows cuts a series into sliding windows of W steps (Stride apart)
// whose forecast target is the next step; the failure label of a window
// ending at step t is "any failing step in (t, t+H]" (H = Horizon), so the
// model learns precursors, and is masked (NaN) where the horizon runs past
// the data; with Onset (omen train, whatever the source, and the demo)
// also where the window's last step is already failing, so that the model
// learns the precursors of failure onsets, not the failures under way (the
// daemon's alert resolves once one is), failing steps with at most H
// non-failing steps between them being one failure (FailureEpisodes: an
// event-based label blinks through a crash loop, set at each of its
// events; Train merges each part of its split after the cut, with the
// model's H as the gap in both). Train's time split cuts every
// entity at one time, before which 80 % of all steps lie (ValFraction 20 %
// by default; with entities that span the same times that is SplitTime's
// cut of each); windows are cut from each part separately, so nothing
// crosses the boundary, and no time validates one entity while another
// trains on it.
//
// # Training
//
// Fit drives a Learner (*model.Trainer) over shuffled minibatches (fixed
// seed) for up to Epochs epochs, evaluates on the validation windows after
// each epoch and stops after Patience epochs without improvement, restoring
// the best epoch's weights. Progress is a redrawn bar on a terminal
// (epoch, loss, windows/s, ETA) and one plain line per epoch otherwise
// (golang.org/x/term decides). Train wires it all: normalisation from the
// training windows, the positive class weight negatives/positives (capped
// by MaxPosWeight), early stopping on the failure head's validation
// average precision when validation has failures (validation loss
// otherwise), thresholds and metadata. The class weight w multiplies the
// fitted odds of failure by w, so every trained network's failure bias is
// then shifted by −ln w (prior correction, model.ShiftFailureLogit), and,
// when the validation windows hold at least MinCalibrationPositives
// failures and as many non-failures, by the intercept that makes the mean
// probability on them their failure rate (maximum likelihood with Platt's
// smoothed targets; on pods the model never saw the prior correction alone
// left it 7× too low). The metadata say which (failure_calibration prior
// or prior+validation-intercept). Its output is a calibrated P(failure
// within the horizon), the thresholds are chosen on it, and Calibrate
// measures it on held-out data (omen eval sim prints it for the evaluated
// fleet).
//
// # Thresholds without test labels
//
// No threshold ever looks at test labels (package threshold):
//
//   - Anomaly threshold of Train: POT (peaks over threshold with a generalized
//     Pareto tail fitted by maximum likelihood, Siffer et al. KDD 2017) on
//     the anomaly scores of the validation windows, risk q = 1e-3 (Risk),
//     initial level 0.98 (Level). Validation is what ValSplit holds out: the
//     last ValFraction of every entity's history ("time", the default), or
//     whole entities the model never saw ("entity": about a ValFraction of
//     them by a hash of their names; "after": those whose history starts at
//     or after ValFrom).
//   - Failure threshold of Train, from the validation part only: 1 when the
//     training history has no failure (the untrained head never alerts).
//     With validation failures and TrainOptions.Alerts (omen train
//     --source store|prometheus, omen demo, omen eval sim), the daemon's alert
//     rule is played over each validation entity's probability series and
//     the threshold is the lowest candidate whose worst episode F1 within
//     AlertRule.Margin is within 0.01 of the best (EpisodeThreshold), then
//     lowered to the highest candidate whose median lead reaches
//     AlertRule.MinLead when it falls short (LeadFloor; not when the F1
//     choice predicts fewer than MinLeadFloorOnsets onsets). Without Alerts,
//     or when no onset is predicted, the probability maximising the F1 of
//     single validation windows; with failures in training but none in
//     validation, POT on the validation probabilities (their maximum when
//     too few for a tail). A threshold chosen on fewer than
//     MinLeadFloorOnsets validation onsets, none included, is logged as
//     uncertain, and says so in its method, TrainReport.ThresholdWarning and
//     the metadata (ThresholdWarningKey). docs/EVALUATION.md
//     ("Thresholds without test labels") gives the details.
//
// # Evaluation (SMD, ASD and any folder in their format)
//
// EvalDataset trains one forecaster per entity on E.train.csv.gz (which
// has no labels: unsupervised), scores every test step by its forecast
// residual and thresholds it with a tail fitted to the scores of the whole
// training file. By default (Scale "val-median") each feature's squared
// one-step forecast residual is divided by its median over the held-out
// validation tail, the score of a step is the mean over features, and the
// threshold is threshold.RobustPOT (exponential tail scaled by the median
// excess; Tail "robust-exp"). Other scales (the feature's training range,
// "minmax"; its std, "z"; its mean validation residual, "val"), POT with a
// GPD tail, validation-only calibration, max aggregation and multi-step
// (Gap) forecasts are options. Root-cause dimensions are ranked by their
// scaled per-feature residual smoothed over time (RankSmooth; optionally
// log-transformed first, RankTransform, and held at its recent peak with a
// slow decay, RankHold), or by a DimensionRanker plugged in through
// EvalOptions.NewRanker (package explain's Shapley attributions:
// explain.FeatureRanker, `omen eval`'s default since 2026-11-27; run at
// the interpreted steps only). The Report carries point-wise,
// point-adjusted and event-wise (composite) F1, AUC-PR, ROC-AUC,
// HitRate@100/150 % and NDCG@100/150 % per entity and their mean; see
// package metrics for the definitions and docs/EVALUATION.md for results.
package training
