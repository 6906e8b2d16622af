// Command fpprobe lists the false-positive runs of an evalrun -dump probe:
// runs of flagged unlabelled test steps, their length, the score's peak
// relative to the threshold and the features (1-based, as in the
// interpretation files) with the largest residual at the peak.
package main
