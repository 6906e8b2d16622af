// Package explain attributes a prediction to groups of its input and ranks
// root causes over a dependency graph.
//
// # Attributions
//
// A prediction f(x) is made on a window x of W time steps × F features,
// stored time-major (x[t*F+f]). Attributions are computed over feature
// groups (see [Group]): a group is a set of cells of the window, e.g. one
// metric across all time steps ([GroupsByMetric]), all metrics of one entity
// when a window spans several entities ([GroupsByEntity]) or a time segment
// ([GroupsByTimeSegment]). Groups must be disjoint; cells that belong to no
// group are collected into one extra group named "(rest)" so that the groups
// partition the window.
//
// The value of a coalition S of groups is interventional (as in the shap
// library's KernelExplainer): the cells of the groups in S keep their values
// from x, the cells of the other groups are replaced by the values of a
// background window, and f is averaged over the background windows:
//
//	v(S) = 1/B Σ_b f(x_S ∪ bg_b,¬S)
//
// so that v(∅) = E[f(background)] (the Baseline) and v(N) = f(x) (the
// Value). The Shapley value φ_i of group i is its average marginal
// contribution over all orders of the groups. Every [Attribution] satisfies
// efficiency exactly: Σφ_i = Value − Baseline (computed in float64; the
// baseline and value are computed once and used as v(∅) and v(N) by every
// method, so the identity holds to rounding, far below 1e-6). A φ within
// rounding noise of the prediction (|φ| ≤ [NoiseEpsilon]·max(|Value|,
// |Baseline|), 1e-10 of it) is reported as 0, and the identity holds
// within len(Groups) times that: an explanation of a window that scores
// as the background does (f(x) = baseline to rounding) has every φ and
// share 0 and no metric cause, not an even split of 1e-22s over every
// group.
//
// Methods:
//
//   - [Exact] enumerates all 2^M coalitions (M ≤ 16), evaluating them in large
//     batched Predict calls, and applies the Shapley formula. It is the
//     reference.
//   - [Kernel] is KernelSHAP (Lundberg & Lee 2017) as in shap's
//     KernelExplainer: coalitions are weighted by the Shapley kernel; the
//     coalition sizes whose subsets the budget can enumerate completely are
//     enumerated (smallest and largest sizes first, in pairs s, M−s); the rest
//     of the budget samples sizes from the remaining kernel mass and
//     coalitions with their complements (paired, antithetic sampling),
//     merging repeated draws by weight; φ solves the weighted least-squares
//     problem with the efficiency constraint eliminated (so it holds
//     exactly). With a budget ≥ 2^M−2 it enumerates everything and returns
//     the exact Shapley values. As in shap, only the groups whose cells
//     differ from some background window take part; the others are null
//     players and get φ = 0.
//   - [Permutation] samples orders of the groups with their reverses
//     (antithetic permutations) and averages marginal contributions along
//     each order; each order costs M−1 coalition evaluations and satisfies
//     efficiency by telescoping.
//     With Rotate, each order (and its reverse) is evaluated on one
//     background window, cycling through the background: (M−1) model
//     evaluations per order instead of (M−1)·B. When the orders do not
//     cover the background evenly, the gap between the mean f of the
//     windows used and the baseline goes to the groups in proportion to
//     their absolute marginal contributions, so a null player (cells equal
//     to the background's everywhere) keeps φ = 0 (it got an equal part
//     before).
//   - [Fast] is Permutation with Rotate within a budget of model
//     evaluations (256): the method for one alert with many groups
//     (omen's daemon sets CoverBackground: whole rounds of one order pair
//     per background window, so that no gap is left).
//   - [Auto] uses Exact for M ≤ 12 and Kernel otherwise (for a latency
//     budget on many groups use Fast; [Bench] measures latency and
//     agreement with Exact for any predictor).
//
// The cost of a method is the number of model evaluations: coalitions ×
// background windows. [Kernel] and [Permutation] can subsample the background
// (MaxBackground) or rotate through it (Rotate: one window per coalition
// pair or per order) to keep one explanation within a latency budget; the
// baseline is still computed over the whole background and efficiency holds
// against it exactly. Rotation is unbiased but noisy, and on a nonlinear
// model the background is the main source of disagreement with exact
// Shapley: averaging every coalition over all B windows costs B times more
// but agrees better per coalition; rotating agrees better per model
// evaluation. Kernel with Rotate subtracts the control variate
// (f(bg_b) − baseline)·(share of absent groups) from each coalition value.
//
// # Root-cause ranking
//
// [Rank] orders entities (services, pods) by how likely they are the root
// cause of an alert. Inputs are each entity's own anomaly evidence (a
// non-negative score, e.g. a robust z-score of its metrics or the model's
// anomaly score, optionally raised by the attribution share of its entity
// group) and, when available, a dependency [Graph] whose edges point from
// caller to callee with a weight ([GraphFromCallSamples] builds one from
// call-count samples such as istio_requests_total).
//
// The method is a personalised PageRank over the call graph in the spirit of
// MicroRCA and MonitorRank: anomalies propagate from a faulty callee to its
// callers, so a random walker starting at anomalous entities walks toward
// the root cause. From entity i the walker moves
//
//   - to a callee j with weight w_ij·a_j,
//   - back to a caller k with weight ρ·w_ki·a_k (ρ = BackwardWeight),
//   - stays at i with weight max(0, a_i − max_j a_j) over its neighbours j
//     (callers and callees; as in MonitorRank, an entity more anomalous than
//     everything around it is a likely origin; counting only callees made
//     every leaf sticky and lost AC@1 on Nezha, 1.000 to 0.750),
//
// where a is the anomaly evidence normalised to [0, 1], and restarts with
// probability 1−Damping to an entity drawn with probability ∝ a. The score
// of an entity is its stationary probability multiplied by its own evidence
// raised to EvidencePower, so an entity nobody found anomalous cannot win on
// graph position alone. So a callee more anomalous than its caller ranks
// above it (ranked from a caller with that one callee: once its evidence
// is 2% over the caller's), and a less anomalous callee does not: the
// caller's excess anomaly is taken as its own (on Nezha a caller's own
// fault shows at a callee with up to all of the caller's evidence; see
// docs/EVALUATION.md). Without a graph (nil or no edges), entities are
// ranked by evidence alone. [LearnGraph] builds an undirected dependency
// graph from metric correlations for fleets without a call graph.
//
// With RankOptions.Start (the alerting entity), only Start and the
// entities it depends on (reachable over caller→callee edges) are ranked,
// over the graph they induce, and the walk restarts at Start rather than
// at entities drawn by evidence: a dependency's share decays by Damping
// per hop, and an entity the alerting one does not call is no cause of its
// alert. omen's daemon ranks from the explained entity's service; the
// Nezha evaluation (explain/nezha) has no alerting entity and ranks the
// whole fleet.
//
// [Causes] combines both levels for an alert: the top-k metric groups by
// attribution share (φ > 0 and at least [MinCauseShare] of the positive
// attribution) and the top-k entities by rank (score > 0).
//
// All types are safe for concurrent use once constructed, except [Graph],
// which must not be modified while ranked.
package explain
