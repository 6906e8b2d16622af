// Package probe reads the per-entity score dumps that evalrun -dump writes
// for the development probes (aggprobe, rankprobe2, scoreprobe, fpprobe,
// seasprobe, tpprobe, calprobe).
package probe
