// Package features turns streamed samples and events into per-entity feature
// vectors at a fixed step.
//
// Three parts work together:
//
//   - Head is a bounded in-memory window of Prometheus-style series: per
//     series the samples of the last Lookback of data time, XOR-compressed
//     (tsdb/chunkenc) in chunks, in 256 shards keyed by label hash, with a
//     metric-name index. It implements storage.Queryable so that the real
//     PromQL engine evaluates over it. Appends and queries may run
//     concurrently; a query reads a snapshot taken at Select. Out-of-order
//     samples inside the window are inserted (the chunk is re-encoded);
//     a second sample at a time a series already has is dropped (duplicate
//     or out_of_order). Stale markers are stored and end the series for
//     PromQL. Series without a sample for Lookback are garbage-collected;
//     MaxSeries bounds the number of series (cardinality). Measured on
//     cAdvisor-like label sets: about 880 bytes per series (labels
//     included) with 100k series and a 15m window at 15s.
//   - Config holds the definitions: entity labels, PromQL features, event
//     features and failure label definitions. DefaultConfig is the shipped
//     Kubernetes set (kube-state-metrics and cAdvisor metric names). In every
//     expression the placeholder ${entity} stands for the entity labels joined
//     by ", ", so "sum by (${entity}) (...)" follows a change of entity_labels;
//     Config.Resolved gives the concrete PromQL (what a remote Prometheus must
//     be sent).
//   - Extractor evaluates every feature as an instant query at a step time,
//     groups the results by entity (entity label values joined by "/", e.g.
//     "shop/api-7f9c"; a "/" within a value is written "%2F" and a "%"
//     "%25", so that distinct values give distinct entities), adds event counts and failure labels, and returns
//     one Vector per entity. Events are resolved with the same entity labels;
//     an event lacking one takes it from the involved object when its kind
//     names the label (kind="Pod", name="x" gives pod="x"). A Kubernetes
//     event re-sent with the same UID counts only the increase of its Count.
//     An event feature or label matches events by reason and, for a reason
//     with a message pattern (EventFeature.Messages), by message: the
//     kubelet reports a crash loop and an image pull back-off both as
//     BackOff, a configuration error and an image pull failure both as
//     Failed.
//     In remote mode (AddPolled) a Prometheus that already evaluated the
//     features sends samples named after the features; those values take
//     precedence over the local evaluation. The rules of Feature hold there
//     too: a scalar applies to every entity, several series of one entity
//     give the largest value.
//
// Samples, events and results that cannot be used are not errors: they are
// counted in omen_feature_dropped_total{reason} with the reasons listed as the
// Reason* constants (the stream package owns omen_ingest_errors_total).
//
// The Head keeps every series it is sent, up to MaxSeries:
// Config.SelectedMetricNames lists the metric names the PromQL features
// and labels select, the keep-list a remote-write sender's
// write_relabel_configs needs (the README's snippet holds the built-in
// features', checked against them by TestRemoteWriteKeepList).
//
// PromQL semantics are those of the embedded Prometheus 3 engine: range
// selectors and the 5m lookback are left-open, (t-range, t], while Prometheus
// 2.x includes a sample exactly at t-range. Results agree with a Prometheus
// 2.42 server (within 1e-9, tested) except when a sample sits exactly on such
// a boundary, which happens when samples and evaluation times share a grid.
package features
