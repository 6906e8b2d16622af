// Command rankprobe2 evaluates ranking post-processing on dumped residuals.
package main
