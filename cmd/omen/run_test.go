package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunClosedLogPipe: `omen run 2>&1 | logger` whose reader died. The
// daemon's next log line raised SIGPIPE, which killed it mid-write (exit
// by signal, the store's lock file left behind). Now the write fails with
// EPIPE and the daemon stops gracefully: exit 1, store closed (Badger
// removes its LOCK file on Close only). The child is the test binary run
// as `omen run` (TestRunClosedLogPipeHelper); SIGHUP makes it log a line
// (the reload) after its stderr is closed.
func TestRunClosedLogPipe(t *testing.T) {
	// A storage directory the run creates: the daemon started, so its
	// store stays when it stops with exit 1 (only a failed start removes
	// it, TestRunStartFailRemovesNewStorage).
	dir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunClosedLogPipeHelper$")
	cmd.Env = append(os.Environ(), "OMEN_TEST_RUN_HELPER="+dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// Read until the daemon is up (its "omen started" line), then close
	// the pipe.
	r := bufio.NewReader(stderr)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stderr ended before the daemon started: %v", err)
		}
		if strings.Contains(line, `msg="omen started"`) {
			break
		}
	}
	stderr.Close() //nolint:errcheck // the point: the daemon's next log line fails
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	deadline := time.After(30 * time.Second)
	for werr == nil {
		// Each SIGHUP reloads and logs a line; one is enough once the pipe
		// is closed.
		_ = cmd.Process.Signal(syscall.SIGHUP)
		select {
		case werr = <-done:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("omen run still running 30s after its log pipe closed")
		}
	}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() != 1 {
		t.Errorf("omen run = %v; want exit 1 (not killed by SIGPIPE)", werr)
	}
	if _, err := os.Stat(filepath.Join(dir, "badger", "LOCK")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("store lock file: %v; want it removed by a clean close", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "badger", "MANIFEST")); err != nil {
		t.Errorf("store of the daemon that ran: %v; want it kept", err)
	}
}

// TestRunClosedLogPipeHelper is the daemon TestRunClosedLogPipe and
// TestRunSIGHUPWhileStarting run.
func TestRunClosedLogPipeHelper(t *testing.T) {
	dir := os.Getenv("OMEN_TEST_RUN_HELPER")
	if dir == "" {
		return // only as TestRunClosedLogPipe's child
	}
	args := []string{"run", "--storage.path", dir, "--web.listen-address", "127.0.0.1:0", "--nats.listen-address", "127.0.0.1:0"}
	if u := os.Getenv("OMEN_TEST_RUN_NATS_URL"); u != "" {
		args = append(args, "--nats.url", u) // TestRunSIGHUPWhileStarting's
	}
	os.Exit(dispatch(args, os.Stdout, os.Stderr))
}

// TestRunSIGHUPWhileStarting: a SIGHUP while the daemon starts (here
// while it connects to a NATS server that accepts the connection and
// never answers) no longer kills it by SIGHUP's default action (exit
// 129, store not closed, as `systemctl reload` right after a restart
// did): the start goes on, and fails here as it would have anyway.
func TestRunSIGHUPWhileStarting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() }) // held open, silent
		}
	}()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunClosedLogPipeHelper$")
	cmd.Env = append(os.Environ(), "OMEN_TEST_RUN_HELPER="+t.TempDir(), "OMEN_TEST_RUN_NATS_URL=nats://"+ln.Addr().String())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// The scorer's "no model" line comes during Start, before NATS.
	r := bufio.NewReader(stderr)
	line, err := r.ReadString('\n')
	if err != nil || !strings.Contains(line, "no model") {
		t.Fatalf("first line %q (%v), want the scorer's no model warning", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	werr := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(rest), "start omen") {
		t.Errorf("omen run = %v, stderr %q; want exit 1 by its failed start (not killed by SIGHUP)", werr, rest)
	}
}
