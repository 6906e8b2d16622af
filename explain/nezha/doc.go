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
//     (BARO-style robust scaling): the baseline is [t0−30m, t0) with the
//     windows of the other injected faults (7 minutes each) left out, as a
//     deployment leaves out earlier alert windows; centre = median; scale =
//     IQR/1.349, else 1.4826·MAD, else the standard deviation (latency
//     histograms sit on one bucket most of the time), at least 1% of the
//     median. The column's score is its 2nd largest |z| in [t0, t0+4m)
//     (a single-sample spike does not count), divided by the 90th
//     percentile of |z| over the baseline when that exceeds 1 (metrics that
//     are spiky in normal operation weigh less).
//  2. Columns collapse to metric families (cpu, memory, syscall,
//     network_bytes, server_latency, client_latency, workload,
//     success_rate); node-level columns are not evidence about the pod, and
//     client-side latency is left out of a pod's own evidence (it reflects
//     the callees). A per-edge latency caller_callee is evidence for the
//     callee ("call_latency"); front_service is evidence for the entry
//     service at half weight. A service's evidence is log(1+z) of its most
//     anomalous family over its pods.
//  3. Services are ranked with explain.Rank: a personalised PageRank over
//     the call graph (dependency.csv when present; none, or one learned
//     from latency correlations, otherwise) personalised by the evidence.
//  4. The metric-level cause inside the injected pod prefers resource
//     metrics (USE before RED): the resource family with the largest
//     relative change among those scoring ≥ 3, else the most anomalous
//     family. It matches root_cause.json when CpuUsageRate(%) ↔ cpu and
//     NetworkP90(ms) ↔ the pod's P90 latency (client or server side).
//
// Measured on 2022-08-22 (24 faults; go test ./explain/nezha -run
// ShippedDay -v): AC@1 .833, AC@3 1.000, AC@5 1.000, Avg@5 .967,
// metric AC@1 .556 over the 18 resource faults. Choices were tuned on this
// one day (baseline length, persistence, leaving client latency out,
// front-service weight 0.5), so expect lower figures on unseen days.
package nezha
