// Command seasprobe (diagnostic) applies a seasonal suppression to dumped
// test scores. Mode "score": s'(t) = s(t) − max over |d| ≤ k of s(t−P+d),
// floored at 0. Mode "feature": each feature's scaled residual r_j(t) is
// reduced by the smallest, over the previous K periods, of its largest
// residual within ±k steps of the same phase (so only what recurred in
// every one of the K previous periods is removed), and the score is the
// mean over features again. The threshold is the dumped one.
package main
