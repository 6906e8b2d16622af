// Package app is the omen daemon as an embeddable value: New builds it from
// Options, Start opens the store, starts the sources, the feature
// evaluator, the scorer, the alert pipeline and the HTTP server, and Stop
// shuts them down gracefully. cmd/omen is a thin layer of flags over it, and
// end-to-end tests run it in-process.
//
// The components are wired with an oklog/run group, one actor per
// component (see Start). Data flows
//
//	sources (NATS, remote-write, Prometheus poller)
//	  → ingest (store ingest log, then the in-memory PromQL head)
//	  → evaluator (features at each step → store)
//	  → scorer (LSTM → predictions → store, metrics)
//	  → alerts (hysteresis, explanation, Alertmanager outbox)
//
// Evaluation runs on data time: a step is evaluated once the newest sample
// seen (the watermark) has passed it, capped by the wall clock in
// production. A simulated fleet that runs faster than real time is
// therefore evaluated at its own pace.
package app
