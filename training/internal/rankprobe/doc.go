// Command rankprobe is a development probe of model-free dimension rankings.
package main
