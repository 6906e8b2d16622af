package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestBuildIsLazy runs this test binary again with no test to run, as a
// `go test -run '^$' -bench …` pass does, and a PATH without go: it must
// pass, building nothing. The same binary asked for a test that needs omen
// must fail there, which shows that the empty PATH does stop the build.
func TestBuildIsLazy(t *testing.T) {
	for _, tc := range []struct {
		run     string
		wantErr bool
	}{
		{"^$", false},
		{"^TestDockerfile$/^build$", true},
	} {
		cmd := exec.Command(os.Args[0], "-test.run="+tc.run, "-test.count=1")
		cmd.Env = append(os.Environ(), "PATH=")
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.wantErr {
			t.Errorf("-test.run=%s with no go in PATH: %v, want an error %v; output:\n%s", tc.run, err, tc.wantErr, firstLines(string(out), 10))
		}
	}
}

// TestRemoveStale wants a test process's start (TestMain's removeStale,
// run here by this test binary with TMPDIR set to a temporary directory)
// to remove the binary directory of a test process that is gone, and to
// keep a running one's and any other.
func TestRemoveStale(t *testing.T) {
	dead := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	names := map[string]bool{ // name → removed
		binDirPrefix + strconv.Itoa(dead.Process.Pid): true,
		binDirPrefix + strconv.Itoa(os.Getpid()):      false,
		binDirPrefix + "x":                            false,
		"other-" + strconv.Itoa(dead.Process.Pid):     false,
	}
	for name := range names {
		if err := os.MkdirAll(filepath.Join(tmp, name, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	start := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	start.Env = append(os.Environ(), "TMPDIR="+tmp)
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for name, removed := range names {
		_, err := os.Stat(filepath.Join(tmp, name))
		if gone := os.IsNotExist(err); gone != removed {
			t.Errorf("%s: removed %v, want %v", name, gone, removed)
		}
	}
}
