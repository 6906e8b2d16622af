// Command calprobe is a throwaway experiment: can a threshold multiplier m,
// chosen label-free on synthetic anomalies injected into each entity's own
// training file (training/internal/inject), pick a better anomaly threshold
// for the real test file than m = 1 (robust POT on the training scores)?
//
// Inputs are evalrun -dump folders (threshold and test scores per entity):
//
//	DUMP/syn-KINDS-mM/ENTITY.probe   synthetic folder SYN/KINDS, model seed M
//	DUMP/real-KIND-mM/ENTITY.probe   the real data set, model seed M
//
// Labels come from the folders themselves (dataset.LoadEntity). The only
// use of real test labels besides scoring a fixed m is the oracle column,
// a diagnostic labelled as such.
//
// Variants (the multiplier grid and tie rule are fixed in advance):
//   - m=1: the current default;
//   - entity m*: per entity, the m maximising its mean synthetic PA-F1 over
//     the injection seeds (same model seed);
//   - kind m*: per data set, the m maximising the mean over its entities
//     and injection seeds (added by the helper before any result was seen;
//     not part of the brief's protocol);
//   - global m*: one m maximising the mean over all synthetic entities of
//     both data sets and all injection seeds.
//
// Ties (equal mean within 1e-12): the tied grid value nearest the midpoint
// of the smallest and largest tied values (the smaller one if two are equally
// near).
package main
