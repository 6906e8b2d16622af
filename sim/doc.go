// Package sim simulates a Kubernetes-like fleet in which module-load
// failures happen, with the ground truth of every failure, for omen's demo,
// its evaluation (omen eval sim) and the end-to-end test.
//
// # Fleet
//
// A Fleet (New) is a set of services with a dependency graph (by default
// an Online-Boutique-like fleet of 12 services and 29 pods, see
// DefaultServices), each a Deployment whose pods (namespace, pod name like
// checkout-7d9f8c6b5-xk2p1, node, zone) start up, serve a daily traffic
// pattern (a 24 h sinusoid of simulated time) with seeded noise, call their
// dependencies, and are replaced by background rolling deploys. Each call of
// Advance simulates one step (the scrape interval, default 15 s) on a
// simulated clock and returns a Tick: one sample per series
// ([]telemetry.Sample, all at the tick's time, grouped by metric family) and
// the step's events ([]telemetry.Event). Everything is deterministic for a
// seed: the same Options give the same ticks, and another Start only shifts
// their times (the traffic pattern follows the time since Start, not the
// time of day), so fleets started at the wall clock are reproducible.
//
// Metrics use kube-state-metrics and cAdvisor names (kube_pod_info,
// kube_pod_status_ready, kube_pod_status_phase,
// kube_pod_container_status_restarts_total,
// kube_pod_container_status_waiting_reason,
// kube_pod_container_status_last_terminated_reason,
// kube_pod_init_container_status_restarts_total,
// kube_pod_init_container_status_waiting_reason,
// container_memory_working_set_bytes, container_spec_memory_limit_bytes,
// container_cpu_usage_seconds_total, container_cpu_cfs_periods_total,
// container_cpu_cfs_throttled_periods_total, container_oom_events_total) and
// conventional application names (http_requests_total{code},
// http_client_requests_total{dependency,code}, the histogram
// http_client_request_duration_seconds, connection_pool_active_connections
// and connection_pool_max_connections{pool},
// config_propagation_delay_seconds{store}, and the kubelet's
// storage_operation_duration_seconds_sum/_count{operation_name="volume_mount"}).
// Every series has the labels namespace, pod and service, and container
// where it concerns one. Waiting and terminated reasons are exposed as 0/1
// series for a fixed set of reasons, so a cleared reason reads 0.
//
// # Scenarios and truth
//
// A ScenarioSpec injects one failure of a Kind into one pod of a service:
// a precursor ramps up over Lead before the failure at At (amplitude
// Strength·x^1.5, relative Noise), then the pod fails for FailFor
// (CrashLoopBackOff with exponential back-off, init-container crash loop,
// startup-probe failures or FailedMount, with matching Kubernetes and
// module-load events) and recovers. ImageConflict has no precursor; a
// FalseAlarm spec has a precursor that fades without a failure. Schedule
// places N scenarios over a duration without overlap: the precursor kinds
// in rounds, about 5 % without a precursor (at least one), a quarter of
// the precursor scenarios false alarms whose precursor peaks at 0.25–0.45
// of the failure level (real failures reach 0.8–1). Besides, benign
// glitches (Options.GlitchEvery): short (3–6 min), weak (0.15–0.4)
// precursors on idle services that never fail and are not in the truth,
// so that any alert on them is a false positive. Fleet.Truth gives the ground truth; Truth.Cause
// is the feature of FeatureConfig that carries the precursor (Kind.Cause),
// so that omen's top causes can be scored by Score.
//
// # Outputs
//
// Fleet.Handler serves the latest tick as a /metrics page with explicit
// timestamps (scrape with honor_timestamps). Tick.Payloads encodes a tick
// for NATS: samples as Influx line protocol (omen.metrics.influx) or
// Prometheus text (omen.metrics.prom), Kubernetes events in
// kubernetes-event-exporter JSON (omen.events.k8s) and module events in
// omen's module-event JSON (omen.events.module) — the forms package
// stream/decode reads. A Publisher publishes ticks to JetStream with
// Nats-Msg-Id set for de-duplication, at a chosen speed.
//
// Sample and event times are simulated times: a consumer whose decoder
// checks times against the wall clock (stream/decode's MaxAge and
// MaxFuture) must start the fleet at the wall-clock time and publish at
// speed 1, or relax those checks.
package sim
