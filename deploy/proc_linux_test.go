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

// canRunAs reports whether setRunAs can start a process as another user.
func canRunAs() bool { return true }

// setRunAs has cmd run as r's user, group and supplementary groups
// (the test process must be root).
func setRunAs(cmd *exec.Cmd, r *runAs) {
	groups := make([]uint32, 0, len(r.supplementary))
	for _, g := range r.supplementary {
		groups = append(groups, uint32(g))
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(r.uid), Gid: uint32(r.gid), Groups: groups}
}

// pidAlive reports whether a process pid exists (another user's too).
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
