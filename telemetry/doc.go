// Package telemetry defines the data that flows from omen's sources (package
// stream) to its feature extractor (package features) and store: samples of
// Prometheus-style series and discrete events about entities.
//
// The types are plain values. A Batch is the unit of delivery and of
// acknowledgement: a source hands a whole Batch to an Appender and
// acknowledges it upstream only after the Appender has committed it.
package telemetry
