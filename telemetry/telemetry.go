package telemetry

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
)

// Sample is one value of one series at one time.
type Sample struct {
	// Labels identify the series, including the metric name under
	// labels.MetricName ("__name__").
	Labels labels.Labels
	// T is the sample time in milliseconds since the Unix epoch.
	T int64
	// V is the value: any float64, as in Prometheus. NaN (a summary
	// quantile without observations) and ±Inf are values; the Prometheus
	// stale marker (value.StaleNaN, tested with value.IsStaleNaN) ends
	// its series.
	V float64
}

// Event sources.
const (
	SourceKubernetes = "kubernetes" // a Kubernetes event (kubernetes-event-exporter, Vector)
	SourceModule     = "module"     // a module-load log event in omen's own JSON form
)

// Event is a discrete occurrence concerning an entity: a Kubernetes event
// (BackOff, FailedMount, …) or a module-load log event.
type Event struct {
	// T is the time of the (last) occurrence in milliseconds since the Unix epoch.
	T int64
	// Source is SourceKubernetes or SourceModule.
	Source string
	// Reason is the machine-readable reason, e.g. "CrashLoopBackOff",
	// "FailedMount", "OOMKilled", "ModuleLoadError".
	Reason string
	// Type is "Normal" or "Warning" for Kubernetes events, the level for
	// module events.
	Type string
	// Count is how many occurrences this event stands for (≥ 1). A
	// Kubernetes event whose count grows is re-sent with the new count; the
	// feature extractor counts the increase, not the total.
	Count int
	// Labels locate the event: namespace, pod, container, node, module,
	// service, kind and name of the involved object. Entity resolution uses
	// the same label names as for samples.
	Labels labels.Labels
	// Message is the human-readable text.
	Message string
	// UID identifies the event object when the emitter gives one (the
	// Kubernetes event's metadata.uid); empty otherwise.
	UID string
}

// Batch is a unit of delivery from a source: it is stored and acknowledged as
// a whole.
type Batch struct {
	// Source names the source instance, e.g.
	// "nats/OMEN/omen@2026-11-26T11:56:20.123456789Z" (a stream, its
	// durable and the stream's creation time: a recreated stream numbers
	// from 1 again) or "remote-write". Together with Seq it makes delivery
	// idempotent.
	Source string
	// Seq is the source's sequence number for this batch (the JetStream
	// stream sequence). Zero means the source has none and the batch is
	// not deduplicated.
	Seq uint64
	// Received is the wall-clock time the batch arrived, in milliseconds.
	Received int64
	Samples  []Sample
	Events   []Event
}

// Len returns the number of samples and events in b.
func (b *Batch) Len() int { return len(b.Samples) + len(b.Events) }

// SeenState is what the store knows of a batch's (Source, Seq): whether
// appending it would store it (store.Store.Seen, stream.SeenChecker).
type SeenState uint8

const (
	// NotSeen means no batch of it is stored and Seq is above the source's
	// retention floor (or is 0): an append would store it.
	NotSeen SeenState = iota
	// SeenStored means its deduplication key is stored, that of a batch or
	// of an empty one (the marker of a message dead-lettered or expired):
	// an append would skip it as a duplicate.
	SeenStored
	// SeenBelowFloor means no key of it is stored, but Seq is at or below
	// the source's retention floor (the highest Seq whose key retention
	// dropped): an append would skip it as a duplicate. The store cannot
	// tell a batch stored and dropped since from one it never stored (a
	// message not finished while later ones were stored and aged out: a
	// poison message whose dead letter kept failing).
	SeenBelowFloor
)

// String returns "not_seen", "stored" or "below_floor".
func (v SeenState) String() string {
	switch v {
	case NotSeen:
		return "not_seen"
	case SeenStored:
		return "stored"
	case SeenBelowFloor:
		return "below_floor"
	}
	return fmt.Sprintf("SeenState(%d)", uint8(v))
}
