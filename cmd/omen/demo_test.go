package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/omen-sre/omen/internal/testenv"
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

// TestDemoClosedStdoutHelper is the demo TestDemoClosedStdout and
// TestDemoHangup run.
func TestDemoClosedStdoutHelper(t *testing.T) {
	if os.Getenv("OMEN_TEST_DEMO_HELPER") != "1" {
		return // only as TestDemoClosedStdout's child
	}
	// TestDemoHangup's SIGHUP stops it also when the tests run under
	// nohup: SIGHUP is then ignored, inherited, and the demo would keep
	// it ignored (TestStopSignalsKeepNohup) and run on. A Notify ends
	// an ignore inherited at start (signal.Reset would restore it).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
	os.Exit(dispatch([]string{"demo", "--web.listen-address", "127.0.0.1:0", "--nats.listen-address", "127.0.0.1:0",
		"--history", "45m", "--log.level", "error"}, os.Stdout, os.Stderr))
}

// TestEvalSimInterruptedJSONStdout: `omen eval sim --runs 3 --json -`
// interrupted after its first run wrote nothing to stdout (the runs so
// far went to io.Discard); now stdout holds the completed run, marked by
// runs_requested, as a --json file does.
func TestEvalSimInterruptedJSONStdout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout bytes.Buffer
	// The first run's summary line ends it: interrupt then.
	stderr := &cancelOn{at: "seed 3: scenarios", cancel: cancel}
	rc := evalSim(ctx, []string{"--seed", "3", "--runs", "3", "--model", "../../demo/testdata/e2e-model.omen", "--duration", "15m", "--resolve-for", "2", "--json", "-"}, &stdout, stderr)
	if rc != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", rc, stderr.String())
	}
	var rep struct {
		Requested int     `json:"runs_requested"`
		Seeds     []int64 `json:"seeds"`
		Runs      []struct {
			ResolveFor int `json:"resolve_for"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Requested != 3 || len(rep.Seeds) != 1 || rep.Seeds[0] != 3 ||
		len(rep.Runs) != 1 || rep.Runs[0].ResolveFor != 2 {
		t.Errorf("stdout %q (%v): want the JSON of the completed run 3 of 3 requested, at --resolve-for 2", stdout.String(), err)
	}
}

// cancelOn is a writer that calls cancel once what was written holds at.
type cancelOn struct {
	testenv.SyncBuffer
	at     string
	cancel func()
}

func (c *cancelOn) Write(p []byte) (int, error) {
	n, err := c.SyncBuffer.Write(p)
	if strings.Contains(c.String(), c.at) {
		c.cancel()
	}
	return n, err
}

// TestEvalEntitiesCheckedFirst: omen eval smd --entities with an unknown
// name is a usage error before any entity is trained (nosuch was
// reported after machine-1-6 had been; here machine-1-6's files are
// empty, so training it would fail first).
func TestEvalEntitiesCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"machine-1-6.train.csv", "machine-1-6.test.csv"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rc, _, errs := omen(t, "eval", "smd", "--dir", dir, "--entities", "machine-1-6,nosuch")
	if rc != 2 || !strings.Contains(errs, `--entities: no entity ["nosuch"] in `) || !strings.Contains(errs, "found 1: machine-1-6") {
		t.Errorf("eval smd --entities machine-1-6,nosuch = %d, %q; want 2 naming nosuch before any work", rc, errs)
	}
}

// TestEvalSimClosedStderr: eval sim writes its progress to stderr; when
// that closes (`2>&1 | head`), the run stops with exit 1 and removes its
// temporary store. Before, SIGPIPE killed it (exit 141) and the store
// stayed in TMPDIR (reviewer's finding).
func TestEvalSimClosedStderr(t *testing.T) {
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEvalSimClosedStderrHelper$")
	cmd.Env = append(os.Environ(), "OMEN_TEST_EVALSIM_HELPER=1", "TMPDIR="+tmp)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(stderr).ReadString('\n'); err != nil {
		t.Errorf("first line of stderr: %v", err)
	}
	stderr.Close() //nolint:errcheck // the point: the run's next write fails
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("eval sim = %v; want exit 1 (not killed by SIGPIPE)", err)
	}
	if ents, err := os.ReadDir(tmp); err != nil || len(ents) > 0 {
		t.Errorf("TMPDIR holds %v (%v), want the run's temporary store removed", ents, err)
	}
}

// TestEvalSimClosedStderrHelper is the run TestEvalSimClosedStderr runs.
func TestEvalSimClosedStderrHelper(t *testing.T) {
	if os.Getenv("OMEN_TEST_EVALSIM_HELPER") != "1" {
		return // only as TestEvalSimClosedStderr's child
	}
	runs := cmp.Or(os.Getenv("OMEN_TEST_EVALSIM_RUNS"), "1")
	os.Exit(dispatch([]string{"eval", "sim", "--seed", "3", "--runs", runs, "--model", "../../demo/testdata/e2e-model.omen", "--duration", "2h"}, os.Stdout, os.Stderr))
}

// TestDemoHangup: a closed terminal (SIGHUP) stops the demo as Ctrl-C
// does: exit 0, its temporary store removed. Before, SIGHUP killed it
// (exit 129) and the store stayed (reviewer's finding).
func TestDemoHangup(t *testing.T) {
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDemoClosedStdoutHelper$")
	cmd.Env = append(os.Environ(), "OMEN_TEST_DEMO_HELPER=1", "TMPDIR="+tmp)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Errorf("first line: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout) //nolint:errcheck // drained until the demo exits
	if err := cmd.Wait(); err != nil {
		t.Errorf("demo after SIGHUP = %v, want exit 0", err)
	}
	if ents, err := os.ReadDir(tmp); err != nil || len(ents) > 0 {
		t.Errorf("TMPDIR holds %v (%v), want the demo's temporary store removed", ents, err)
	}
}

// TestEvalSimClosedStdout: eval sim's report goes to stdout; when that
// closes (`| head`), the runs stop with exit 1. With SIGPIPE caught (for
// its stderr) and stdout not watched, they went on to the end and exited
// 0, their reports lost (reviewer's finding).
func TestEvalSimClosedStdout(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestEvalSimClosedStderrHelper$")
	cmd.Env = append(os.Environ(), "OMEN_TEST_EVALSIM_HELPER=1", "OMEN_TEST_EVALSIM_RUNS=3", "TMPDIR="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdout.Close() //nolint:errcheck // the point: the first report line fails
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("eval sim with stdout closed = %v; want exit 1", err)
	}
}

// TestStopSignalsKeepNohup: under nohup (SIGHUP ignored) the commands do
// not catch SIGHUP, which would undo nohup and stop a long run when the
// terminal closes (reviewer's finding); otherwise they do.
func TestStopSignalsKeepNohup(t *testing.T) {
	if ignored := signal.Ignored(syscall.SIGHUP); !ignored { // the test itself may run under nohup
		if !slices.Contains(stopSignals(), os.Signal(syscall.SIGHUP)) {
			t.Errorf("stopSignals() = %v, want SIGHUP when it is not ignored", stopSignals())
		}
		signal.Ignore(syscall.SIGHUP)
		t.Cleanup(func() { signal.Reset(syscall.SIGHUP) })
	}
	if sigs := stopSignals(); slices.Contains(sigs, os.Signal(syscall.SIGHUP)) {
		t.Errorf("stopSignals() = %v under nohup, want no SIGHUP", sigs)
	}
}
