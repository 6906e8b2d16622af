// Command fpcheck (diagnostic for calprobe) prints, per entity and model
// seed, the share of NORMAL test steps whose score is at least m×threshold
// for a few m, on the synthetic folders (mean over injection seeds) and on
// the real test file. It reads real test labels only to exclude anomalous
// steps; it chooses nothing.
package main
