package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omen-sre/omen/app"
)

// exampleConfig is the configuration file the README's first `omen run`
// starts with.
const exampleConfig = "../../docs/omen.example.yml"

// exampleLogBuffer is a bytes.Buffer safe for the daemon's concurrent log
// writes.
type exampleLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *exampleLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *exampleLogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// exampleCheck runs omen check config on name and returns its exit code
// and output.
func exampleCheck(t *testing.T, name string) (rc int, stdout string) {
	t.Helper()
	var out, errb bytes.Buffer
	rc = dispatch([]string{"check", "config", name}, &out, &errb)
	if errb.Len() > 0 {
		t.Errorf("omen check config %s: stderr %q", name, errb.String())
	}
	return rc, out.String()
}

// TestExampleConfig: docs/omen.example.yml, the file the README's first
// `omen run --config.file` names, passes omen check config without a
// warning, and omen run starts with it on an empty store (loopback
// addresses, random ports) and stops cleanly. The README's only example
// before was its configuration reference, whose model.file named a file
// that did not exist: copied as written, omen run failed at its first
// start ("read model ... no such file or directory").
func TestExampleConfig(t *testing.T) {
	rc, out := exampleCheck(t, exampleConfig)
	if rc != 0 || !strings.Contains(out, "SUCCESS") || strings.Contains(out, "WARNING") {
		t.Errorf("omen check config %s = %d:\n%s\nwant exit 0, SUCCESS and no warning", exampleConfig, rc, out)
	}

	// omen run --config.file=docs/omen.example.yml, in process: the flags
	// parsed as runCmd parses them, the daemon started and stopped as
	// serve does.
	defer goleak.VerifyNone(t, append(exampleLeakIgnores(), goleak.IgnoreCurrent())...)
	dir := t.TempDir()
	logs := &exampleLogBuffer{}
	fs := flag.NewFlagSet("omen run", flag.ContinueOnError)
	var df daemonFlags
	df.register(fs, false)
	var usage bytes.Buffer
	if rc, ok := parseNoArgs(fs, []string{"--config.file", exampleConfig, "--storage.path", dir,
		"--web.listen-address", "127.0.0.1:0", "--nats.listen-address", "127.0.0.1:0"}, &usage, &usage); !ok {
		t.Fatalf("omen run flags: exit %d: %s", rc, usage.String())
	}
	logger, err := newLogger("info", logs)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := df.options(logger)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(opts)
	if err != nil {
		t.Fatalf("configure omen with %s: %v", exampleConfig, err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatalf("start omen with %s on an empty store: %v\nlog:\n%s", exampleConfig, err, logs.String())
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = a.Stop(context.Background())
		}
	})
	ready, err := exampleGetStatus("http://" + a.Addr() + "/-/ready")
	if err != nil || ready != http.StatusOK {
		t.Errorf("GET /-/ready = %d, %v; want 200", ready, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stopped = true
	if err := a.Stop(ctx); err != nil {
		t.Errorf("stop omen: %v", err)
	}
	select {
	case <-a.Done():
	default:
		t.Error("Done not closed after Stop")
	}
	if err := a.Err(); err != nil {
		t.Errorf("omen stopped with %v", err)
	}
	log := logs.String()
	if !strings.Contains(log, `msg="omen started"`) {
		t.Errorf("no \"omen started\" in the log:\n%s", log)
	}
	if strings.Contains(log, "level=ERROR") {
		t.Errorf("errors logged:\n%s", log)
	}
	// Stopped cleanly: Badger removes its lock file on Close only.
	if _, err := os.Stat(filepath.Join(dir, "badger", "LOCK")); err == nil {
		t.Error("the store's LOCK file is left: the store was not closed")
	}
}

// exampleGetStatus returns the status of a GET of url.
func exampleGetStatus(url string) (int, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	c.CloseIdleConnections()
	return resp.StatusCode, nil
}

// exampleLeakIgnores are the goroutines goleak does not count as leaks: Badger
// and the NATS server keep package-level ones (as app's tests).
func exampleLeakIgnores() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreAnyFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"),
		goleak.IgnoreAnyFunction("github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).Start.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
	}
}

// TestReadmeConfigReference: the README's configuration reference (the
// yaml block under "## Configuration reference"), copied as a file,
// passes omen check config with no model.file warning: its model.file is
// commented out, as a file it names must exist for a first start.
func TestReadmeConfigReference(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "\n## Configuration reference\n")
	if !ok {
		t.Fatal("README.md has no section \"## Configuration reference\"")
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	block, _, closed := strings.Cut(rest, "\n```")
	if !ok || !closed {
		t.Fatal("the README's configuration reference has no yaml block")
	}
	name := filepath.Join(t.TempDir(), "omen.yml")
	if err := os.WriteFile(name, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // where a relative model.file would be looked for
	rc, out := exampleCheck(t, name)
	if rc != 0 || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("omen check config on the README's reference = %d:\n%s\nwant exit 0 and SUCCESS", rc, out)
	}
	if strings.Contains(out, "WARNING: model.file") {
		t.Errorf("omen check config on the README's reference warns about model.file (a first start would fail):\n%s", out)
	}
}
