package stream

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Error reasons used in omen_ingest_errors_total besides the decoders' own.
const (
	ReasonDeadLetter = "dead_letter"
	// ReasonDeadLetterFailed counts failed publishes to the dead-letter
	// subject (the message is redelivered later); dead_letter counts
	// only those the dead-letter stream stored.
	ReasonDeadLetterFailed = "dead_letter_failed"
	ReasonAppend           = "append"
	ReasonInvalidLabel     = "invalid_labels"
	ReasonTooLarge         = "too_large"
	ReasonUnknown          = "unknown_format"
	ReasonUndecodable      = "undecodable"
	ReasonQuery            = "query"
	ReasonUnsupported      = "unsupported"
)

// ingestMetrics are shared by all sources. Several sources may be built
// with the same Registerer; the counters are then shared rather than
// registered twice.
type ingestMetrics struct {
	samples *prometheus.CounterVec
	events  *prometheus.CounterVec
	errors  *prometheus.CounterVec
	// ignored counts what a source receives and leaves out by design
	// (native histograms in remote-write, influx string fields from
	// NATS): not an error, so not in
	// omen_ingest_errors_total, whose rate the shipped OmenIngestErrors
	// alert watches.
	ignored *prometheus.CounterVec
}

func newIngestMetrics(reg prometheus.Registerer) (*ingestMetrics, error) {
	var m ingestMetrics
	var err error
	if m.samples, err = counterVec(reg, prometheus.CounterOpts{
		Namespace: "omen", Name: "ingested_samples_total",
		Help: "Samples durably handed to the store, by source.",
	}, "source"); err != nil {
		return nil, err
	}
	if m.events, err = counterVec(reg, prometheus.CounterOpts{
		Namespace: "omen", Name: "ingested_events_total",
		Help: "Events durably handed to the store, by source.",
	}, "source"); err != nil {
		return nil, err
	}
	if m.errors, err = counterVec(reg, prometheus.CounterOpts{
		Namespace: "omen", Name: "ingest_errors_total",
		Help: "Ingest errors by reason (decoder reasons, dead_letter, append, invalid_value, ...).",
	}, "reason"); err != nil {
		return nil, err
	}
	if m.ignored, err = counterVec(reg, prometheus.CounterOpts{
		Namespace: "omen", Name: "ingest_ignored_samples_total",
		Help: "Samples a source received and left out by design, by source and kind (native_histogram: remote-write native histogram samples, which features cannot read; string_field: influx line protocol string fields, which are not numbers).",
	}, "source", "kind"); err != nil {
		return nil, err
	}
	return &m, nil
}

// counterVec registers a counter vector, reusing an identical one already
// registered on reg.
func counterVec(reg prometheus.Registerer, opts prometheus.CounterOpts, labels ...string) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(opts, labels)
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
		return nil, err
	}
	return c, nil
}

func histogramVec(reg prometheus.Registerer, opts prometheus.HistogramOpts, labels ...string) (*prometheus.HistogramVec, error) {
	h := prometheus.NewHistogramVec(opts, labels)
	if reg == nil {
		return h, nil
	}
	if err := reg.Register(h); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.HistogramVec); ok {
				return existing, nil
			}
		}
		return nil, err
	}
	return h, nil
}

// gaugeVec registers a gauge vector, reusing an identical one already
// registered on reg.
func gaugeVec(reg prometheus.Registerer, opts prometheus.GaugeOpts, labels ...string) (*prometheus.GaugeVec, error) {
	g := prometheus.NewGaugeVec(opts, labels)
	if reg == nil {
		return g, nil
	}
	if err := reg.Register(g); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.GaugeVec); ok {
				return existing, nil
			}
		}
		return nil, err
	}
	return g, nil
}
