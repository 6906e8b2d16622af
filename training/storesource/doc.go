// Package storesource reads training series from omen's Badger store
// (package store): the feature vectors of each entity between two times,
// placed on a fixed step grid, with a step labelled as failing when any of
// the vector's failure labels is set.
//
// It is a separate package so that package training and its data set code
// build and test without the store.
package storesource
