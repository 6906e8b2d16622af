package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// orphanEnv makes TestChildDiesWithTests the child test process that
// starts a child and dies.
const orphanEnv = "OMEN_DEPLOY_TEST_ORPHAN"

// TestChildDiesWithTests runs this test binary again, which starts a long
// child with command (as the tests start omen and go build) and exits
// without any cleanup, as a go test -timeout panic does: the child must
// not outlive it.
func TestChildDiesWithTests(t *testing.T) {
	if os.Getenv(orphanEnv) == "1" {
		c := command("sleep", "600")
		if err := c.Start(); err != nil {
			fmt.Println("start:", err)
			os.Exit(3)
		}
		fmt.Printf("child %d\n", c.Process.Pid)
		os.Exit(3)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildDiesWithTests$", "-test.count=1")
	cmd.Env = append(os.Environ(), orphanEnv+"=1")
	out, _ := cmd.Output()
	// The child test process's binary directory, left by its exit.
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Join(os.TempDir(), binDirPrefix+strconv.Itoa(cmd.Process.Pid))) })
	m := regexp.MustCompile(`child (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("the child test process printed no child pid:\n%s", out)
	}
	pid, _ := strconv.Atoi(string(m[1]))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	// A bound against hanging, not a timing assertion: the kernel kills
	// the child as its parent exits.
	for deadline := time.Now().Add(time.Minute); !processGone(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the child %d of a test process that died is still running a minute later", pid)
		}
	}
}

// processGone reports whether pid has exited: no such process, or a
// zombie that no one has reaped yet.
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	// The state follows the command's closing parenthesis.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] == 'Z' || b[i+2] == 'X'
	}
	return false
}
