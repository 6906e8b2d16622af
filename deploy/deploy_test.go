package deploy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/config"
)

// testVersion and testRevision are the build arguments TestMain gives the
// Dockerfile's go build line; TestDockerfile wants omen --version to print
// them (the -ldflags -X names a variable omen reports).
const (
	testVersion  = "9.8.7-deploytest"
	testRevision = "0123456789abcdef"
)

// repoRoot is the repository's root: the Dockerfile's build context.
const repoRoot = ".."

// binPath is where TestMain builds omen: in a directory of this test
// process (no package variable needed to share it).
func binPath() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("omen-deploy-test-%d", os.Getpid()), "omen")
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir := filepath.Dir(binPath())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	df, err := parseDockerfile(filepath.Join(repoRoot, "deploy", "Dockerfile"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := df.build(binPath(), map[string]string{"VERSION": testVersion, "REVISION": testRevision}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// checkRunArgs passes args (omen run's flags, without "run") through omen
// run's flag parser: `omen run ARGS --help` parses every flag and value
// and exits 0 at --help; an unknown flag or a bad value exits 2. Every
// argument must be a --name=value (or a bare boolean --name): a positional
// argument, which the parser would carry to the end, is refused here, as
// omen run refuses it.
func checkRunArgs(t *testing.T, args []string) {
	t.Helper()
	for _, a := range args {
		if !strings.HasPrefix(a, "--") || a == "--" {
			t.Errorf("argument %q: want --flag=value (omen run takes no positional arguments)", a)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binPath(), append(append([]string{"run"}, args...), "--help")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Errorf("omen run %s: %v (omen run's flag parser refused them):\n%s", strings.Join(args, " "), err, firstLines(stderr.String(), 3))
	}
}

// flagValues returns the values of args' --name=value flags by name
// (the last of a repeated flag).
func flagValues(args []string) map[string]string {
	m := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok {
			value = "true"
		}
		m[name] = value
	}
	return m
}

// checkDaemonFlags checks what the deployment files' flags have in common:
// a non-loopback listen address comes with a token file (omen run refuses
// it otherwise), a numeric port, and an explicit --shutdown-timeout, which
// it returns for the caller's stop timeout.
func checkDaemonFlags(t *testing.T, flags map[string]string) (port int, shutdown time.Duration) {
	t.Helper()
	for _, name := range []string{"config.file", "web.listen-address", "storage.path", "shutdown-timeout"} {
		if flags[name] == "" {
			t.Errorf("--%s is not set; the deployment files set it explicitly", name)
		}
	}
	addr := flags["web.listen-address"]
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("--web.listen-address %q: %v", addr, err)
	}
	port, err = strconv.Atoi(p)
	if err != nil {
		t.Errorf("--web.listen-address %q: port: %v", addr, err)
	}
	if !api.IsLoopback(addr) && flags["web.token-file"] == "" {
		t.Errorf("--web.listen-address %q is not loopback and there is no --web.token-file: omen run refuses that (exit 2)", addr)
	}
	shutdown, err = time.ParseDuration(flags["shutdown-timeout"])
	if err != nil {
		t.Errorf("--shutdown-timeout: %v", err)
	}
	return port, shutdown
}

// checkConfig loads data as omen's configuration file, as omen check
// config and omen run do (config.LoadFile, then app.CheckConfig), and
// returns it.
func checkConfig(t *testing.T, what string, data []byte) *config.Config {
	t.Helper()
	name := filepath.Join(t.TempDir(), "omen.yml")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(name)
	if err == nil {
		err = app.CheckConfig(cfg)
	}
	if err != nil {
		t.Fatalf("%s: omen check config refuses it: %v", what, err)
	}
	return cfg
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return d
}
