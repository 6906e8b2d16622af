// Package testenv starts the real Debian components omen's integration
// tests run against — nats-server, Prometheus 2.42 and Alertmanager 0.25 —
// on random loopback ports with temporary state directories, and stops them
// (SIGTERM, then wait) in t.Cleanup.
//
// Tests that check for goroutine leaks call VerifyNoLeaks first, so that
// the check runs after the components have been stopped.
//
// A missing binary fails the test with the apt-get command that installs
// it; tests never skip because a component is absent:
//
//	apt-get update && apt-get install -y prometheus prometheus-alertmanager nats-server
package testenv
