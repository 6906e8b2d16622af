// Package testenv starts the real Debian components omen's integration
// tests run against — nats-server, Prometheus 2.42 and Alertmanager 0.25 —
// on random loopback ports with temporary state directories, and stops them
// (SIGTERM, then wait) in t.Cleanup. On Linux they are also killed
// (SIGKILL, their Pdeathsig) when the test binary dies without its
// cleanups (a go test timeout panic, a SIGKILL): each is started from a
// goroutine locked to its OS thread while the component runs, since the
// signal follows the thread that started the process, not the process
// (golang/go#27505). Start runs a server binary the same way for a test
// that needs its own command line (a configuration file, a restart on one
// port).
//
// Tests that check for goroutine leaks call VerifyNoLeaks first, so that
// the check runs after the components have been stopped.
//
// A missing binary fails the test with the apt-get command that installs
// it; tests never skip because a component is absent:
//
//	apt-get update && apt-get install -y prometheus prometheus-alertmanager nats-server
package testenv
