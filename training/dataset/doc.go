// Package dataset loads labelled multivariate time series for training and
// evaluation: the SMD/ASD CSV format (E.train.csv.gz, E.test.csv.gz,
// E.interpretation.txt), Prometheus range queries and (in package
// training/storesource) omen's Badger store.
//
// The common in-memory form is Series: a dense row-major matrix of float64
// values (Steps × Features), an optional per-step anomaly/failure label and
// optional per-step sets of labelled cause dimensions (0-based).
//
// Files are read as streams (gzip is detected by the ".gz" suffix); errors
// name the file and the 1-based line. Missing values are NaN.
package dataset
