package store

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/omen-sre/omen/telemetry"
)

const crashDirEnv = "OMEN_STORE_CRASH_DIR"

// crashChild is TestCrashRecovery's child process (started through
// TestMain): it appends batches, reports each acknowledged call on stdout
// and exits without Close.
func crashChild(dir string) {
	s, err := Open(Options{Path: dir})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	rng := newTestRand()
	for call := range 40 {
		bs := []telemetry.Batch{
			makeBatch(rng, "crash", uint64(2*call+1), int64(call)*1000, 20, 5),
			makeBatch(rng, "crash", uint64(2*call+2), int64(call)*1000, 20, 5),
		}
		if _, err := s.AppendBatches(bs); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("acked", 2*call+2)
	}
	os.Exit(3) // crash: no Close, nothing flushed beyond what AppendBatches synced
}

// TestCrashRecovery kills a process that was appending and checks that
// every acknowledged batch is replayed after reopening.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var acked uint64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked, _ = strconv.ParseUint(n, 10, 64)
		}
	}
	if acked != 80 {
		t.Fatalf("helper acknowledged %d batches, want 80:\n%s", acked, out)
	}
	s := openTest(t, Options{Path: dir})
	got := replayAll(t, s, math.MinInt64)
	if uint64(len(got)) < acked {
		t.Fatalf("replayed %d batches after crash, %d were acknowledged", len(got), acked)
	}
	for i, b := range got {
		if b.Seq != uint64(i+1) || len(b.Samples) != 100 {
			t.Fatalf("batch %d: seq %d with %d samples", i, b.Seq, len(b.Samples))
		}
	}
	if cp, err := s.Checkpoint("crash"); err != nil || cp < acked {
		t.Fatalf("Checkpoint = %d, %v; want ≥ %d", cp, err, acked)
	}
	// Redelivery after the crash is still deduplicated.
	if n, err := s.AppendBatches([]telemetry.Batch{smallBatch("crash", 5, 0)}); err != nil || n != 0 {
		t.Fatalf("redelivered batch: stored %d, %v", n, err)
	}
}
