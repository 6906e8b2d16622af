// Package promurl checks a Prometheus server's base URL, as the poller
// (stream), the configuration and omen train --source prometheus take it,
// and words the errors of queries sent to it.
package promurl
