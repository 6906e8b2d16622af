package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

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

// binPath is where omen is built: in a directory of this test process,
// omen-deploy-test-PID, which TestMain removes when the tests end and a
// later run removes if this process died first (removeStale).
func binPath() string {
	return filepath.Join(os.TempDir(), binDirPrefix+strconv.Itoa(os.Getpid()), "omen")
}

// binDirPrefix names the directory binPath is in, before the test
// process's pid.
const binDirPrefix = "omen-deploy-test-"

// omenBuild builds omen with the Dockerfile's go build line, once per test
// process and only when a test first needs the binary: a cold build cache
// costs minutes of compilation (-trimpath, CGO_ENABLED=0), which a
// `go test -run '^$' -bench …` pass or the static tests alone should not
// pay. A package variable because sync.OnceValue must be shared by the
// tests that call omenBin.
var omenBuild = sync.OnceValue(func() error {
	df, err := parseDockerfile(filepath.Join(repoRoot, "deploy", "Dockerfile"))
	if err != nil {
		return err
	}
	return df.build(binPath(), map[string]string{"VERSION": testVersion, "REVISION": testRevision})
})

// omenBin returns the built omen, building it first if no test has yet.
func omenBin(t *testing.T) string {
	t.Helper()
	if err := omenBuild(); err != nil {
		t.Fatal(err)
	}
	return binPath()
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	// A test process killed by go test's -timeout (a panic) never runs
	// its deferred removal: remove what such processes left.
	removeStale(os.TempDir())
	dir := filepath.Dir(binPath())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	return m.Run()
}

// removeStale removes the omen-deploy-test-PID directories under tmp whose
// process is gone; those of a running process (another go test) are kept.
func removeStale(tmp string) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), binDirPrefix))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), binDirPrefix) || err != nil || pid <= 0 || pidAlive(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(tmp, e.Name()))
	}
}

// command returns an exec.Cmd for a child of the tests (omen, go build)
// that is killed when the test process dies (on Linux; see
// setPdeathsig): a go test -timeout panic skips every cleanup and would
// leave a running omen behind.
func command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	setPdeathsig(cmd)
	return cmd
}

// checkRunArgs passes args (omen run's flags, without "run") through omen
// run's flag parser: `omen run ARGS --help` exits 2 on an unknown flag or
// a value its typed flags refuse (--shutdown-timeout's duration, a
// boolean), else 0 at --help. The string flags' values it takes as they
// are (omen run checks them only when it starts), so checkFlagValues
// checks those itself. Every argument must be a --name=value (or a bare
// boolean --name): a positional argument, which the parser would carry to
// the end, is refused here, as omen run refuses it.
func checkRunArgs(t *testing.T, args []string) {
	t.Helper()
	for _, a := range args {
		if !strings.HasPrefix(a, "--") || a == "--" {
			t.Errorf("argument %q: want --flag=value (omen run takes no positional arguments)", a)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd := command(omenBin(t), append(append([]string{"run"}, args...), "--help")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Errorf("omen run %s: %v (omen run's flag parser refused them):\n%s", strings.Join(args, " "), err, firstLines(stderr.String(), 3))
	}
	for _, err := range checkFlagValues(flagValues(args)) {
		t.Error(err)
	}
}

// checkFlagValues checks the values of omen run's string flags that
// `omen run --help` does not parse, as omen run does at its start or
// stricter: --storage.retention with omen's duration parser and minimum,
// --log.level as slog reads it, the listen addresses as host:port with a
// port number, --nats.url as NATS URLs (nats://, tls://, ws://, wss://
// with a host), --alertmanager.url as http(s) URLs, and the file and
// directory paths absolute (a service's working directory is not the
// operator's).
func checkFlagValues(flags map[string]string) []error {
	var errs []error
	for name, value := range flags {
		var err error
		switch name {
		case "storage.retention":
			var d model.Duration
			if d, err = model.ParseDuration(value); err == nil {
				err = app.CheckRetention(time.Duration(d))
			}
		case "log.level":
			var l slog.Level
			err = l.UnmarshalText([]byte(value))
		case "web.listen-address", "nats.listen-address":
			err = checkListenAddress(value)
		case "nats.url":
			for _, u := range strings.Split(value, ",") {
				if err = checkURL(u, "nats", "tls", "ws", "wss"); err != nil {
					break
				}
			}
		case "alertmanager.url":
			err = checkURL(value, "http", "https")
		case "config.file", "storage.path", "web.token-file", "web.tls-cert-file", "web.tls-key-file",
			"nats.creds-file", "nats.password-file", "nats.token-file", "nats.tls-ca-file", "nats.tls-cert-file", "nats.tls-key-file":
			if !path.IsAbs(value) {
				err = errors.New("want an absolute path")
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s=%s: %w", name, value, err))
		}
	}
	return errs
}

// checkListenAddress wants host:port with a port number from 1 to 65535
// (omen run refuses a service name; a deployment names its port).
func checkListenAddress(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.Trim(port, "0123456789") != "" {
		return fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	return nil
}

// checkURL wants an absolute URL of one of schemes, with a host and, if
// given, a numeric port; a NATS URL has no path.
func checkURL(s string, schemes ...string) error {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("scheme %q: want %s://", u.Scheme, strings.Join(schemes, "://, "))
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return fmt.Errorf("no host: want %s://HOST:PORT", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q: want a number from 1 to 65535", p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return errors.New("empty port")
	}
	if (u.Scheme == "nats" || u.Scheme == "tls") && u.Path != "" && u.Path != "/" {
		return fmt.Errorf("path %q: a NATS URL has none", u.Path)
	}
	return nil
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

// fileOwner is a file's owner, group and mode.
type fileOwner struct {
	uid, gid int
	mode     os.FileMode
}

// runAs is the user and groups a deployment runs omen as, and the owner
// and mode it gives the token file and the store's directory before omen
// starts.
type runAs struct {
	uid, gid      int
	supplementary []int
	token, data   fileOwner
}

// groups returns the primary and supplementary groups.
func (r *runAs) groups() []int {
	g := []int{r.gid}
	for _, s := range r.supplementary {
		if !slices.Contains(g, s) {
			g = append(g, s)
		}
	}
	return g
}

// may reports whether omen (not root) has every permission bit of want
// (0o4 read, 0o2 write, 0o1 execute or search; 0o3 to create files in a
// directory) on f: the owner's bits apply to the owner, the group's to a
// member, the others' to anyone else.
func (r *runAs) may(f fileOwner, want os.FileMode) bool {
	var bits os.FileMode
	switch {
	case f.uid == r.uid:
		bits = f.mode >> 6
	case slices.Contains(r.groups(), f.gid):
		bits = f.mode >> 3
	default:
		bits = f.mode
	}
	return bits&want == want
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

// TestCheckFlagValues feeds checkFlagValues the manifest's flags, then
// each with one value that omen run --help lets through and omen run's
// start refuses (or that fails where it is deployed): each must be
// reported.
func TestCheckFlagValues(t *testing.T) {
	good := map[string]string{
		"config.file":         "/etc/omen/config/omen.yml",
		"web.listen-address":  ":9464",
		"web.token-file":      "/etc/omen/token/token",
		"storage.path":        "/var/lib/omen",
		"storage.retention":   "15d",
		"nats.url":            "nats://nats.nats.svc:4222,tls://nats-2.nats.svc",
		"nats.listen-address": "127.0.0.1:4222",
		"alertmanager.url":    "http://alertmanager:9093",
		"shutdown-timeout":    "30s",
		"log.level":           "info",
	}
	if errs := checkFlagValues(good); len(errs) != 0 {
		t.Fatalf("good flags refused: %v", errs)
	}
	for _, tc := range []struct{ name, value string }{
		{"storage.retention", "15x"},
		{"storage.retention", "10m"}, // below omen's minimum
		{"log.level", "verbose"},
		{"web.listen-address", "nonsense"},
		{"web.listen-address", ":http"},
		{"web.listen-address", ":70000"},
		{"nats.listen-address", "127.0.0.1"},
		{"nats.url", "nats:/nats.nats.svc:4222"},
		{"nats.url", "nats.nats.svc:4222"},
		{"nats.url", "http://nats.nats.svc:4222"},
		{"nats.url", "nats://nats.nats.svc:4222/x"},
		{"nats.url", "nats://nats.nats.svc:port"},
		{"nats.url", "nats://a:4222,nats:/b:4222"},
		{"alertmanager.url", "alertmanager:9093"},
		{"storage.path", "data/"},
		{"config.file", "omen.yml"},
		{"web.token-file", "token"},
		{"nats.creds-file", "omen.creds"},
		{"nats.password-file", "./password"},
		{"nats.tls-key-file", "tls.key"},
	} {
		flags := maps.Clone(good)
		flags[tc.name] = tc.value
		if errs := checkFlagValues(flags); len(errs) != 1 {
			t.Errorf("--%s=%s: %d errors %v, want 1", tc.name, tc.value, len(errs), errs)
		}
	}
}
