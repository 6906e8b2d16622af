// Package model is omen's LSTM forecaster: the network definition, its fast
// inference and training paths, streaming per-entity state and the model
// file format.
//
// A Model is a stacked LSTM over a window of Config.Window steps of
// len(Config.Features) features with two heads on the last hidden state:
// a linear next-step forecast of every feature (its residual is an anomaly
// score for failures never seen in training) and a sigmoid P(failure within
// Config.Horizon steps). A Trainer with PosWeight w fits odds w times too
// high; ShiftFailureLogit(−ln w) corrects them, as training.Train does
// (which then fits the intercept on validation windows too), so
// that the output is a probability. Per-feature normalisation (mean/std from training
// data; NaN inputs become the mean) is part of the model and is stored in
// the model file.
//
// A Trainer's forecast loss is the mean squared error of the normalised
// forecast (LossMSE) or, with TrainOptions.Loss LossHuber, the mean
// pseudo-Huber loss 2δ²(√(1 + (d/δ)²) − 1), whose gradient is bounded for
// large errors d (abnormal stretches in the training data pull the fit
// less); both engines and the gradient checks cover either.
//
// The gorgonia graph (see Graph) is the reference definition of the network.
// The product uses hand-written float32 paths that are tested to agree with
// it: batch inference (Predict, Forecast, AnomalyScores), back-propagation
// through time with Adam (Trainer with Engine "fast") and a streaming mode
// (State, Step) that advances one step per new feature vector.
//
// The fast paths multiply with two kernels: internal/linalg's packed Sgemm
// (SgemmSerial; the weight-gradient products with long k) and gemmAcc, an
// unpacked AVX2/FMA kernel in this package for the products by a weight
// matrix that stays in cache (input projection, recurrent step, heads,
// streaming). Gate nonlinearities and the cell update use linalg's fused
// LSTM cell. Batch calls split the windows over SetParallelism goroutines.
// Bench measures them the way the PyTorch peer does.
//
// Concurrency: Predict, Forecast, AnomalyScores and Step (on distinct
// States) are safe for concurrent use. Setters (SetNormalization,
// FitNormalization, ShiftFailureLogit, SetThresholds, SetMeta,
// SetParallelism) and Trainer.Step mutate the model and must not run
// concurrently with anything else on the same Model.
//
// Tests: go test -count=1 ./model (a few seconds; -tags purego covers the
// pure-Go kernels). Benchmarks: go test -run XXX -bench . ./model, and the
// peer-shaped measurement: omen bench lstm --json (Bench).
package model
