//go:build !linux

package testenv

import "syscall"

// procAttr is the components' process attributes: a process group of
// their own. (Pdeathsig, which kills them with the test binary on Linux,
// exists on Linux only.)
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
