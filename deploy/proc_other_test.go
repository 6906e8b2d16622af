//go:build !linux

package deploy

import "os/exec"

// setPdeathsig does nothing here: Pdeathsig is Linux's. A go test
// -timeout panic leaves the test's omen running on other systems.
func setPdeathsig(*exec.Cmd) {}

// pidAlive reports every process alive here, so that removeStale keeps
// every directory: it has no portable way to tell.
func pidAlive(int) bool { return true }

// canRunAs reports false: setRunAs is Linux's here.
func canRunAs() bool { return false }

// setRunAs does nothing here.
func setRunAs(*exec.Cmd, *runAs) {}
