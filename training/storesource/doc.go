// Package storesource reads training series from omen's Badger store
// (package store): the feature vectors of each entity between two times,
// placed on a fixed step grid, with a step labelled as failing when any of
// the vector's failure labels is set. The series follow the current
// schema's layout; vectors stored under older schema versions (a config
// reload that added, removed, renamed or reordered features or labels) are
// mapped into it by name, as the daemon's scorer maps them. A version
// sharing no feature, or no failure label (say, one renamed since), with
// the current schema is skipped, and the progress line says why: its
// failures would train as "not failing". A label the current schema
// added is "not failing" in older vectors.
//
// It is a separate package so that package training and its data set code
// build and test without the store.
package storesource
