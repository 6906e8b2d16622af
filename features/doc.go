// Package features turns streamed samples and events into per-entity feature
// vectors at a fixed step.
//
// Three parts work together:
//
//   - Head is a bounded in-memory window of Prometheus-style series (the last
//     Lookback of samples, XOR-compressed in chunks, sharded by label hash). It
//     implements storage.Queryable so that the real PromQL engine evaluates
//     over it. Appends and queries may run concurrently.
//   - Config holds the definitions: entity labels, PromQL features, event
//     features and failure label definitions. DefaultConfig is the shipped
//     Kubernetes set (kube-state-metrics and cAdvisor metric names). In every
//     expression the placeholder ${entity} stands for the entity labels joined
//     by ", ", so "sum by (${entity}) (...)" follows a change of entity_labels;
//     Config.Resolved gives the concrete PromQL (what a remote Prometheus must
//     be sent).
//   - Extractor evaluates every feature as an instant query at a step time,
//     groups the results by entity (labels → "namespace/pod"), adds event
//     counts and failure labels, and returns one Vector per entity. In remote
//     mode (AddPolled) a Prometheus that already evaluated the features sends
//     samples named after the features; those values take precedence over the
//     local evaluation.
//
// Samples, events and results that cannot be used are not errors: they are
// counted in omen_feature_dropped_total{reason} with the reasons listed as the
// Reason* constants.
//
// PromQL semantics are those of the embedded Prometheus 3 engine: range
// selectors and the 5m lookback are left-open, (t-range, t], while Prometheus
// 2.x includes a sample exactly at t-range. Results agree with a Prometheus 2.42
// server except when a sample sits exactly on such a boundary.
package features
