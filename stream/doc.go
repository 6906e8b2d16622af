// Package stream holds omen's ingest sources: a NATS JetStream consumer, a
// Prometheus remote-write 1.0 receiver and a Prometheus query poller. Each
// source decodes what it receives into telemetry batches and hands them to
// an Appender; it acknowledges upstream (JetStream ack, HTTP 2xx) only after
// Append has returned nil, that is after the store has committed them.
// Delivery is therefore at-least-once, made idempotent by (Source, Seq).
package stream
