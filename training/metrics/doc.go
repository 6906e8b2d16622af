// Package metrics computes detection and interpretation quality measures
// for anomaly and failure prediction: precision, recall and F1 with and
// without point adjustment, event-wise (composite) F1, average precision
// (AUC-PR), ROC-AUC, and the HitRate@P% and NDCG@P% of root-cause
// dimension rankings.
//
// Definitions (all functions are pure and allocate only their results):
//
//   - Point adjustment (Xu et al., WWW 2018, used by OmniAnomaly, USAD,
//     TranAD): when any point of a true anomaly segment is flagged, every
//     point of that segment counts as flagged; false positives outside
//     segments are unchanged.
//   - Event F1 is the composite F1 of Garg et al., "An Evaluation of
//     Anomaly Detection and Diagnosis in Multivariate Time Series" (IEEE
//     TNNLS 2021): the harmonic mean of point-wise precision (false
//     positives counted per point) and event-wise recall (a true segment is
//     a true positive when any of its points is flagged).
//   - Average precision is the step-wise area under the precision–recall
//     curve, Σ (R_k − R_{k−1}) P_k over the distinct score thresholds in
//     decreasing order (scikit-learn's average_precision_score); tied scores
//     form one threshold. ROC-AUC is the Mann–Whitney statistic with ties
//     counted ½.
//   - HitRate@P% and NDCG@P% follow OmniAnomaly (KDD 2019) and InterFusion
//     (KDD 2021): at each anomalous point with labelled cause set G, take
//     the top k = ⌊|G|·P/100⌋ ranked dimensions; HitRate = |top ∩ G| / |G|
//     and NDCG = DCG/IDCG with DCG = Σ_{i≤k} [rank_i ∈ G] / log2(i+1) and
//     IDCG = Σ_{i≤min(k,|G|)} 1/log2(i+1). Both are averaged over the
//     points that have a non-empty G.
//   - DetectedRankings builds the rankings of the protocol InterFusion's
//     published figures were measured under: only true-positive points,
//     each ranked by its interpretation interval's per-dimension maximum
//     over the interval's true positives.
package metrics
