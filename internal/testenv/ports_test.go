package testenv

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
)

// fatalRecorder is a testing.TB whose Fatal records the failure instead
// of ending the test.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (f *fatalRecorder) Fatal(args ...any) { f.fatal = fmt.Sprint(args...) }

// TestStartOnFreePortsRetriesTakenPort: a component whose port was taken
// between FreePort and its start (here: the first attempt is given a
// port a listener of the test holds) exits saying "address already in
// use" and is started again on other ports; one that exits during
// start-up for another reason (an unknown flag) is not, and the failure
// names it. Before, the first case failed the test ("alertmanager exited
// during start-up ... bind: address already in use", in CI under load).
func TestStartOnFreePortsRetriesTakenPort(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = held.Close() })
	taken := held.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name         string
		firstPort    func(free int) int
		extra        []string
		wantAttempts int
		wantFatal    string
	}{
		{name: "port taken once", firstPort: func(int) int { return taken }, wantAttempts: 2},
		{name: "free port", firstPort: func(free int) int { return free }, wantAttempts: 1},
		{name: "other start-up failure", firstPort: func(free int) int { return free }, extra: []string{"--no-such-flag"},
			wantAttempts: 1, wantFatal: "nats-server exited during start-up"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fatalRecorder{TB: t}
			attempts := 0
			p := startOnFreePorts(rec, 2, func(ports []int) (*Process, func() error) {
				attempts++
				port := ports[0]
				if attempts == 1 {
					port = tc.firstPort(port)
				}
				p := Start(t, "nats-server", NATSServerBin, append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port),
					"-m", strconv.Itoa(ports[1])}, tc.extra...)...)
				return p, httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[1]))
			})
			if attempts != tc.wantAttempts {
				t.Errorf("%d attempts, want %d", attempts, tc.wantAttempts)
			}
			if tc.wantFatal == "" && (p == nil || rec.fatal != "") {
				t.Errorf("not started (process %v): %s", p, rec.fatal)
			}
			if tc.wantFatal != "" && !strings.Contains(rec.fatal, tc.wantFatal) {
				t.Errorf("failure %q, want one saying %q", rec.fatal, tc.wantFatal)
			}
		})
	}
}
