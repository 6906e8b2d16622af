package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pdeathsigHelperEnv makes TestPdeathsigHelper, run by
// TestComponentDiesWithTestBinary in a child test binary, start
// nats-server.
const pdeathsigHelperEnv = "OMEN_TESTENV_PDEATHSIG_HELPER"

// TestPdeathsigHelper is the child test binary of
// TestComponentDiesWithTestBinary (without its environment variable it
// returns at once): it starts nats-server, prints the server's pid and
// waits to be killed.
func TestPdeathsigHelper(t *testing.T) {
	if os.Getenv(pdeathsigHelperEnv) == "" {
		return
	}
	NATSServer(t)
	kids, err := children(os.Getpid())
	if err != nil || len(kids) != 1 {
		t.Fatalf("children of the helper: %v, %v; want nats-server alone", kids, err)
	}
	fmt.Printf("pid %d\n", kids[0])
	time.Sleep(5 * time.Minute) // killed long before
}

// TestComponentDiesWithTestBinary: a component started by this package
// (nats-server here; Prometheus and Alertmanager are started the same way)
// dies soon after the test binary that started it is killed (SIGKILL, as
// a go test timeout ends it without its cleanups), by its Pdeathsig. It
// ran on, orphaned, holding its port and store directory.
func TestComponentDiesWithTestBinary(t *testing.T) {
	tmp := t.TempDir()
	helper := exec.Command(os.Args[0], "-test.run=^TestPdeathsigHelper$", "-test.count=1", "-test.timeout=4m")
	// The helper's temporary directories (the server's store) lie in
	// tmp: removed with it, since the killed helper cannot.
	helper.Env = append(os.Environ(), pdeathsigHelperEnv+"=1", "TMPDIR="+tmp)
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	helper.Stderr = os.Stderr
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- helper.Wait() }()
	t.Cleanup(func() {
		_ = helper.Process.Kill()
		<-waited
	})

	pids := make(chan int, 1)
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if pid, ok := strings.CutPrefix(sc.Text(), "pid "); ok {
				if n, err := strconv.Atoi(pid); err == nil {
					pids <- n
					continue
				}
			}
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	var pid int
	select {
	case pid = <-pids:
	case err := <-waited:
		waited <- err
		t.Fatalf("the helper exited before it printed nats-server's pid: %v; output: %q", err, drain(lines))
	case <-time.After(2 * startTimeout):
		t.Fatalf("the helper printed no pid within %s; output: %q", 2*startTimeout, drain(lines))
	}
	id, err := procStart(pid)
	if err != nil {
		t.Fatalf("nats-server (pid %d): %v", pid, err)
	}
	t.Cleanup(func() {
		// An orphan that outlived the test (the failure): end it, if the
		// pid is still that nats-server's.
		if alive(pid, id) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-waited
	waited <- nil
	// The kernel signals nats-server as the helper's thread exits; the
	// bound only allows for a loaded machine.
	deadline := time.Now().Add(30 * time.Second)
	for alive(pid, id) {
		if time.Now().After(deadline) {
			t.Fatalf("nats-server (pid %d) still runs 30s after the test binary that started it was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// drain returns the lines buffered in lines.
func drain(lines <-chan string) []string {
	var out []string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return out
			}
			out = append(out, l)
		default:
			return out
		}
	}
}

// children returns the pids of the child processes of pid (all its
// threads').
func children(pid int) ([]int, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited
		}
		for _, s := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			out = append(out, n)
		}
	}
	return out, nil
}

// procStat returns the state and the start time (in clock ticks since
// boot) of process pid, from /proc/PID/stat.
func procStat(pid int) (state byte, start string, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", err
	}
	// The command, in parentheses, may hold spaces: the fields after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if i < 0 || len(f) < 20 {
		return 0, "", fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	return f[0][0], f[19], nil // fields 3 and 22
}

// procStart returns the start time of process pid, which tells it from a
// later process given the same pid.
func procStart(pid int) (string, error) {
	_, start, err := procStat(pid)
	return start, err
}

// alive reports whether process pid, started at start, runs: neither
// gone (reaped), nor a zombie (exited, not reaped yet: an orphan waits
// for its reaper), nor its pid reused.
func alive(pid int, start string) bool {
	state, s, err := procStat(pid)
	return err == nil && s == start && state != 'Z' && state != 'X'
}

// TestComponentOutlivesStartingThread: a component started from a
// goroutine locked to its thread runs on after that goroutine returns
// without unlocking it, which ends the thread (golang/go#27505): its
// Pdeathsig follows the thread that started it, which start keeps alive
// while the component runs. Started from the caller's thread, it was
// killed as that thread exited, in the middle of the test.
func TestComponentOutlivesStartingThread(t *testing.T) {
	before, err := children(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	type started struct {
		url string
		tid int
	}
	var startLocked func(out chan<- started)
	startLocked = func(out chan<- started) {
		runtime.LockOSThread()
		if syscall.Gettid() == os.Getpid() {
			// The main thread, which the runtime never ends: start from
			// another, while this goroutine keeps the main thread.
			inner := make(chan started, 1)
			go startLocked(inner)
			out <- <-inner
			runtime.UnlockOSThread()
			return
		}
		// Not unlocked: the thread ends with the goroutine.
		out <- started{NATSServer(t), syscall.Gettid()}
	}
	ch := make(chan started, 1)
	go startLocked(ch)
	s := <-ch
	after, err := children(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for _, p := range after {
		if !slices.Contains(before, p) {
			pid = p
		}
	}
	id, err := procStart(pid)
	if err != nil {
		t.Fatalf("nats-server (pid %d, among %v): %v", pid, after, err)
	}
	eventually := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", s.tid)); os.IsNotExist(err) {
			break // the locked thread has exited
		}
		if time.Now().After(eventually) {
			t.Fatalf("thread %d (process %d) still runs 30s after its locked goroutine returned", s.tid, os.Getpid())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A SIGKILL sent as the thread exited has taken effect by now.
	time.Sleep(500 * time.Millisecond)
	if !alive(pid, id) {
		t.Fatalf("nats-server (pid %d) died with the thread of the goroutine that started it", pid)
	}
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.url, "nats://"), 5*time.Second)
	if err != nil {
		t.Fatalf("dial nats-server after the starting thread exited: %v", err)
	}
	_ = c.Close()
}
