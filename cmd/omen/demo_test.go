package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDemoClosedStdout: `omen demo | head -2` (or `| tee` ended by
// Ctrl-C before the demo): the demo's next write fails; it used to die
// of SIGPIPE (exit 141) before removing its temporary store (78 MB left
// in /tmp). Now the write fails with EPIPE and stops the demo, which
// removes the store and exits 1 saying why. Runs the test binary itself
// as the demo (TestDemoClosedStdoutHelper), its stdout a pipe closed
// after the first line.
func TestDemoClosedStdout(t *testing.T) {
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDemoClosedStdoutHelper$")
	cmd.Env = append(os.Environ(), "OMEN_TEST_DEMO_HELPER=1", "TMPDIR="+tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "omen demo: web UI") {
		t.Errorf("first line %q, %v", line, err)
	}
	stdout.Close() //nolint:errcheck // the point: the demo's next write fails
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "omen demo: stopped: writing to stdout:") {
		t.Errorf("demo = %v, stderr %q; want exit 1 saying stdout failed (not killed by SIGPIPE)", err, stderr.String())
	}
	if ents, err := os.ReadDir(tmp); err != nil || len(ents) > 0 {
		t.Errorf("TMPDIR holds %v (%v), want the demo's temporary store removed", ents, err)
	}
}

// TestDemoClosedStdoutHelper is the demo TestDemoClosedStdout runs.
func TestDemoClosedStdoutHelper(t *testing.T) {
	if os.Getenv("OMEN_TEST_DEMO_HELPER") != "1" {
		return // only as TestDemoClosedStdout's child
	}
	os.Exit(dispatch([]string{"demo", "--web.listen-address", "127.0.0.1:0", "--nats.listen-address", "127.0.0.1:0",
		"--history", "45m", "--log.level", "error"}, os.Stdout, os.Stderr))
}
