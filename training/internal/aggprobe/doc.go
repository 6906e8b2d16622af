// Command aggprobe compares score aggregations of dumped per-feature
// residuals by AUC-PR and the best PA-F1 over thresholds (a test-label
// diagnostic, never a threshold choice).
package main
