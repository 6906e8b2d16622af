package testenv

import "syscall"

// procAttr is the components' process attributes: a process group of
// their own, and SIGKILL when the thread that started them exits
// (Pdeathsig), which start keeps alive while the component runs, so that
// the component dies with the test binary however that ends: a go test
// timeout panic, a SIGKILL, runs no t.Cleanup, and left nats-server,
// Prometheus and Alertmanager running, holding their ports and temporary
// directories.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
