// Command tpprobe (diagnostic) computes the published-protocol
// interpretation scores (metrics.DetectedRankings: flagged labelled steps,
// segment maximum) from evalrun -dump files twice: with the dumped
// label-free threshold (reproduces omen eval's hitrate_tp_*) and with the
// threshold of best point-adjusted F1 on the test labels, the threshold
// InterFusion's cal_IPS flags with. The second uses test labels and is for
// comparison with the published figures only.
package main
