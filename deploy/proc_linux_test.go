package deploy

import (
	"errors"
	"os/exec"
	"syscall"
)

// setPdeathsig has the kernel kill cmd's process when the thread that
// started it exits: the test process's, as Go does not end its threads
// (none of these tests locks one).
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// pidAlive reports whether a process pid exists (another user's too).
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
