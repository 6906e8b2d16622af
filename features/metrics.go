package features

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons for omen_feature_dropped_total.
const (
	// ReasonCardinality: a sample would create a series beyond MaxSeries.
	ReasonCardinality = "cardinality"
	// ReasonOutOfOrder: a sample at a time the series already has with a
	// different value.
	ReasonOutOfOrder = "out_of_order"
	// ReasonDuplicate: a sample identical to one already held (redelivery).
	ReasonDuplicate = "duplicate"
	// ReasonTooOld: a sample or event older than the window.
	ReasonTooOld = "too_old"
	// ReasonInvalid: a sample without labels or without a metric name (NaN
	// and ±Inf are values).
	ReasonInvalid = "invalid"
	// ReasonMissingLabels: an event or a feature result lacks an entity label.
	ReasonMissingLabels = "missing_labels"
	// ReasonDuplicateEntity: a feature returned several series for one entity
	// (the largest value is kept).
	ReasonDuplicateEntity = "duplicate_entity"
	// ReasonUnknownFeature: a polled sample whose name is no feature or label.
	ReasonUnknownFeature = "unknown_feature"
	// ReasonClosed: a sample appended after Close.
	ReasonClosed = "closed"
	// ReasonFuture: a sample further ahead of the wall clock than
	// HeadOptions.MaxFuture.
	ReasonFuture = "future"
)

// droppedCounter returns omen_feature_dropped_total registered with reg; the
// Head and the Extractor share it, so an already registered collector is
// reused.
func droppedCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "omen",
		Subsystem: "feature",
		Name:      "dropped_total",
		Help:      "Samples, events and feature results the feature layer could not use, by reason.",
	}, []string{"reason"})
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("register omen_feature_dropped_total: %w", err)
	}
	return c, nil
}

// register registers cs with reg (when reg is not nil).
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metric: %w", err)
		}
	}
	return nil
}
