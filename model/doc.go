// Package model is omen's LSTM forecaster: the network definition, its fast
// inference and training paths, streaming per-entity state and the model
// file format.
//
// A Model is a stacked LSTM over a window of Config.Window steps of
// len(Config.Features) features with two heads on the last hidden state:
// a linear next-step forecast of every feature (its residual is an anomaly
// score for failures never seen in training) and a sigmoid P(failure within
// Config.Horizon steps). Per-feature normalisation (mean/std from training
// data; NaN inputs become the mean) is part of the model and is stored in
// the model file.
//
// The gorgonia graph (see Graph) is the reference definition of the network.
// The product uses hand-written float32 paths that are tested to agree with
// it: batch inference (Predict, Forecast, AnomalyScores), back-propagation
// through time with Adam (Trainer with Engine "fast") and a streaming mode
// (State, Step) that advances one step per new feature vector.
//
// Concurrency: Predict, Forecast, AnomalyScores and Step (on distinct
// States) are safe for concurrent use. Setters (SetNormalization,
// SetThresholds, SetMeta) and Trainer.Step mutate the model and must not run
// concurrently with anything else on the same Model.
package model
