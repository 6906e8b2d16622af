// Package trainrun runs "omen train" as an embeddable step: it picks the
// history source (CSV files, omen's store offline or a running daemon's,
// or a Prometheus server), reads the settings the model is for (the
// step its history is read at, the alert rule its threshold is chosen
// for, the features that make a stored vector a row of the daemon's
// windows: the configuration's, else what the store records or the
// daemon says; the features the model is for, the configuration file's
// when one is given, which the history is read into by name; the
// prometheus source refuses one with event features, which Prometheus
// does not serve, and warns of the built-in ones), trains
// the model with training.Train and registers it
// in the store's or the daemon's model registry.
//
// The command (cmd/omen) parses the flags, writes the model file and
// prints the results; Train's errors are the command's messages, and
// UsageError marks those of a wrong combination of options.
package trainrun
