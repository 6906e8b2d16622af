package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestTrainOutFailedWriteKeepsOld: a model write that fails (here the
// file size limit, RLIMIT_FSIZE, as a full disk would) leaves the file
// --out names as it was, the previous good model kept, and no temporary
// file beside it; omen train says so and exits 1. os.WriteFile
// truncated it first: "write model: write keep.omen: file too large",
// and the file held the limit's first bytes of the new model. Runs the
// test binary itself as omen train (TestTrainOutFailedWriteHelper),
// under a limit of 1 KiB (the model is over 2 KiB).
func TestTrainOutFailedWriteKeepsOld(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"a", "b", "c"} {
		var b strings.Builder
		b.WriteString("t,m1,m2\n")
		for i := range 400 {
			fmt.Fprintf(&b, "%d,%g,%g\n", i, math.Sin(float64(i)/5), math.Cos(float64(i)/7))
		}
		if err := os.WriteFile(filepath.Join(data, e+".train.csv"), []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "keep.omen")
	old := bytes.Repeat([]byte("the previous good model "), 40) // 960 bytes, under the limit
	if err := os.WriteFile(out, old, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTrainOutFailedWriteHelper$")
	cmd.Env = append(os.Environ(), "OMEN_TEST_FSIZE_HELPER="+data+","+out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v\nstdout %s\nstderr %s", err, stdout.String(), stderr.String())
	}
	want := "omen train: write " + out + ": "
	if got := stdout.String(); !strings.Contains(got, "rc=1\n") || !strings.Contains(got, want) || !strings.Contains(got, "file too large (the previous "+out+" is untouched)") {
		t.Errorf("omen train under a 1 KiB file size limit:\n%s\nwant exit 1 and %q…file too large (the previous %s is untouched)", got, want, out)
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, old) {
		t.Errorf("--out holds %d bytes (%v), want the previous %d unchanged", len(b), err, len(old))
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left beside --out", e.Name())
		}
	}
}

// TestTrainOutFailedWriteHelper is the omen train
// TestTrainOutFailedWriteKeepsOld runs, under RLIMIT_FSIZE; it prints
// its exit code and stderr. Without OMEN_TEST_FSIZE_HELPER it does
// nothing.
func TestTrainOutFailedWriteHelper(t *testing.T) {
	env := os.Getenv("OMEN_TEST_FSIZE_HELPER")
	if env == "" {
		return
	}
	data, out, _ := strings.Cut(env, ",")
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 1024, Max: 1024}); err != nil {
		t.Fatal(err)
	}
	rc, _, stderr := omen(t, "train", "--source", "csv", "--dir", data, "--window", "8", "--horizon", "4", "--hidden", "8", "--epochs", "1", "--out", out)
	fmt.Printf("rc=%d\n%s", rc, stderr)
}
