// Package nezha evaluates omen's root-cause ranking on the Nezha
// microservice fault-injection data sets (FSE 2023; Online Boutique and
// Train Ticket), from metrics only.
//
// A day folder holds fault_list.json (faults with inject_time UTC,
// inject_pod, inject_type), root_cause.json (per service and fault type the
// labelled inner-service cause) and metric/: one <pod>_metric.csv(.gz) per
// pod (the Time column is used, TimeStamp ignored), and optionally
// dependency.csv (Source,Target,Weight call graph; Train Ticket days have
// none), source_50.csv / destination_50.csv (per-edge latency, columns
// "<caller>_<callee>") and front_service.csv (the entry service's success
// rate and latency). [LoadDay] reads any folder in that format; missing
// optional files are simply not used.
//
// # Method (EvalRCA)
//
// For each fault at inject time t0:
//
//  1. Every metric column of every pod is scored by a robust z-score
//     (BARO-style robust scaling) against a baseline: the last 30 minutes
//     of clean samples before t0 — the windows of the other injected
//     faults (7 minutes each) left out, as a deployment leaves out earlier
//     alert windows — looking back at most 2 hours. Data files may start a
//     few minutes before their first fault (a deployment would have hours
//     of history); when fewer than 10 clean samples precede t0, clean
//     samples after the fault's own 7-minute span are added. Centre =
//     median; scale = IQR/1.349, else 1.4826·MAD, else the standard
//     deviation (latency histograms sit on one bucket most of the time),
//     at least 1% of the median. The column's rise and drop scores are the
//     2nd largest positive and negative z in [t0, t0+4m) (a single-sample
//     spike does not count; a window with fewer than 2 valid samples
//     scores 0), divided, when it exceeds 1, by the median over all runs
//     of equally many consecutive baseline samples of the same statistic:
//     metrics that are spiky in normal operation weigh less, and an
//     unlabelled incident inside the baseline, touching a minority of the
//     runs, does not silence a metric (Options.NoiseQuantileMode restores
//     the older 90th percentile of single samples).
//  2. Columns collapse to metric families (cpu, memory, syscall,
//     network_bytes, server_latency, client_latency, workload,
//     success_rate); node-level columns are not evidence about the pod, and
//     client-side latency is left out of a pod's own evidence (it reflects
//     the callees). A per-edge latency caller_callee is evidence for the
//     callee ("call_latency"); front_service is evidence for the entry
//     service at half weight.
//  3. Blame moves along calls. Traffic loss: a drop of a load metric
//     (workload, syscalls, network bytes, CPU) is not evidence about the
//     service itself (its callers stopped sending); with a directed call
//     graph from dependency.csv, a service whose load dropped by z ≥ 3 is
//     "traffic_loss" evidence for each caller that did not lose traffic
//     itself (a caller that returns early or fails shows nothing of its
//     own). Explained latency: a service's server-side (and, for the entry
//     service, front-service) latency score is reduced by the largest rise
//     of its calls' latency measured at the callee (destination_50, else
//     source_50), so a slow callee is not blamed on its caller. Error
//     path: the entry service's success-rate drop (front_service, at
//     FrontWeight) moves, with a directed call graph, to the deepest
//     service on the entry's call paths (longest path) that shows an
//     anomaly of its own — a rise of CPU, memory, syscalls or network
//     bytes, or of its server latency when its load did not drop, by
//     at least CauseZ ("error_path"); without one it stays the entry's.
//     A callee that answers with errors fails the requests of all its
//     callers, whose load and whose other callees' load then fall, so
//     the entry's own SLI is no evidence about the entry.
//     A service's evidence is log(1+z) of its most anomalous family.
//  4. Services are ranked with explain.Rank: a personalised PageRank over
//     the call graph (dependency.csv when present; none, or one learned
//     from latency correlations, otherwise) personalised by the evidence.
//  5. The metric-level cause inside the injected pod prefers resource
//     metrics (USE before RED): the resource family with the largest
//     relative change among those scoring ≥ 3, else the most anomalous
//     family. It matches root_cause.json when CpuUsageRate(%) ↔ cpu and
//     NetworkP90(ms) ↔ the pod's P90 latency (client or server side).
//
// Measured on 2022-08-22 (24 faults; go test ./explain/nezha -run
// ShippedDay -v): AC@1 1.000, AC@3 1.000, AC@5 1.000, Avg@5 1.000, metric
// AC@1 .611 over the 18 resource faults; pod metric files alone, no graph
// (Train-Ticket-like): AC@1 .583, AC@3 .708, Avg@5 .700. Every choice was
// tuned on this day (baseline length and lookback, persistence, the noise
// normalisation, traffic loss, explained latency, front-service weight),
// so it overstates accuracy on unseen days. 21 faults of 2022-08-23
// (transcribed, not shipped; see docs/EVALUATION.md) gave AC@1 .905
// before the error path (.75 on the 8 of them held out then) and 1.000
// after it; the error path was designed on its two misses, so both days
// are development data now. The 11 later faults of that day (15:12–16:40),
// transcribed after the method was frozen, scored AC@1 1.000, Avg@5 1.000
// with and without the error path (it was not exercised there).
package nezha
