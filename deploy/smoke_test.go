package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang/snappy"
	"gopkg.in/yaml.v3"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/internal/testenv"
)

// startDeadline bounds how long omen may take to become ready (a store
// opening on a loaded machine): a bound against hanging, not a timing
// assertion.
const startDeadline = 2 * time.Minute

// deployment is what the smoke test takes of one deployment file.
type deployment struct {
	args       []string      // omen run's flags, as the file gives them
	config     []byte        // the configuration file those flags name
	openPaths  []string      // paths served without the token (probes, scrape)
	writePath  string        // the remote-write path Prometheus is told
	stopWithin time.Duration // the supervisor's grace period before SIGKILL
	// runAs is the user the file runs omen as and how it gives it the
	// token file and the store's directory; nil: the test's user (the
	// systemd unit's dynamic user owns its credential and state
	// directory).
	runAs *runAs
}

func k8sDeployment(t *testing.T) deployment {
	m := parseK8s(t)
	d := deployment{args: m.omen.Args[1:], config: m.configYAML(t), writePath: remoteWriteURL(t, m).Path, runAs: k8sRunAs(t, m)}
	for _, kind := range []string{"startup", "liveness", "readiness"} {
		d.openPaths = append(d.openPaths, m.probes(t)[kind].HTTPGet.Path)
	}
	d.openPaths = append(d.openPaths, m.sts.Template.Metadata.Annotations["prometheus.io/path"])
	if g := m.sts.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		d.stopWithin = time.Duration(*g) * time.Second
	}
	return d
}

func systemdDeployment(t *testing.T) deployment {
	dir := filepath.Join(repoRoot, "deploy", "systemd")
	u := parseUnit(t, filepath.Join(dir, "omen.service"))
	cfg, err := os.ReadFile(filepath.Join(dir, "omen.yml"))
	if err != nil {
		t.Fatal(err)
	}
	stop, err := time.ParseDuration(u.get("Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	return deployment{args: u.execStart(t)[2:], config: cfg, openPaths: []string{"/-/healthy", "/-/ready", "/metrics"},
		writePath: "/api/v1/write", stopWithin: stop}
}

func dockerDeployment(t *testing.T) deployment {
	name := filepath.Join(repoRoot, "deploy", "Dockerfile")
	d, err := parseDockerfile(name)
	if err != nil {
		t.Fatal(err)
	}
	cmd := execForm(t, "CMD", d.final().last("CMD"))
	cfg, err := os.ReadFile(filepath.Join(repoRoot, dockerConfigSource(t, d, flagValues(cmd[1:])["config.file"])))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var stop time.Duration
	if m := regexp.MustCompile(`--stop-timeout (\d+)`).FindSubmatch(b); m != nil {
		n, _ := strconv.Atoi(string(m[1]))
		stop = time.Duration(n) * time.Second
	}
	// USER, the token file as the header's install makes it (sudo's root
	// where it names no owner or group), the store's directory as the
	// image's COPY --chown=USER of a mkdir'd directory.
	r := dockerUser(t, d.final().last("USER"))
	if r.token, err = tokenInstall(string(b), flagValues(cmd[1:])["web.token-file"]); err != nil {
		t.Fatal(err)
	}
	r.token.uid, r.token.gid = max(r.token.uid, 0), max(r.token.gid, 0)
	r.data = fileOwner{r.uid, r.gid, 0o755}
	return deployment{args: cmd[1:], config: cfg, openPaths: []string{"/-/healthy", "/-/ready", "/metrics"},
		writePath: "/api/v1/write", stopWithin: stop, runAs: r}
}

// TestSmoke starts omen with each deployment file's flags and
// configuration, moved to a temporary directory and loopback ports.
func TestSmoke(t *testing.T) {
	for _, tc := range []struct {
		name string
		load func(*testing.T) deployment
	}{
		{"kubernetes", k8sDeployment},
		{"systemd", systemdDeployment},
		{"docker", dockerDeployment},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testenv.VerifyNoLeaks(t)
			smoke(t, tc.load(t))
		})
	}
}

func smoke(t *testing.T, d deployment) {
	if d.stopWithin <= 0 {
		t.Fatal("the file gives no stop grace period")
	}
	dir := t.TempDir()
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})) // Alertmanager stub
	t.Cleanup(am.Close)
	args, addr, token := localArgs(t, d.args, dir)
	cfg := localConfig(t, d.config, am.URL, "http://"+addr)
	if err := os.WriteFile(filepath.Join(dir, "omen.yml"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startOmen(t, args, applyRunAs(t, d.runAs, dir))
	base := "http://" + addr
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	p.waitReady(t, client, base+"/-/ready")

	for _, path := range d.openPaths {
		if code := do(t, client, http.MethodGet, base+path, "", nil); code != http.StatusOK {
			t.Errorf("GET %s without the token: %d, want 200 (a probe or Prometheus's scrape has no token)", path, code)
		}
	}
	for _, tc := range []struct {
		method, path, token string
		body                []byte
		want                int
	}{
		{http.MethodGet, "/api/v1/alerts", "", nil, http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/alerts", "wrong" + token, nil, http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/alerts", token, nil, http.StatusOK},
		{http.MethodPost, d.writePath, "", snappy.Encode(nil, nil), http.StatusUnauthorized},
		{http.MethodPost, d.writePath, token, snappy.Encode(nil, nil), http.StatusNoContent}, // an empty WriteRequest
	} {
		if code := do(t, client, tc.method, base+tc.path, tc.token, tc.body); code != tc.want {
			t.Errorf("%s %s, token given %v: %d, want %d", tc.method, tc.path, tc.token != "", code, tc.want)
		}
	}

	// SIGHUP (systemd's ExecReload, kill -HUP) reloads; it does not stop omen.
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, `msg="configuration reloaded"`)
	if code := do(t, client, http.MethodGet, base+"/-/ready", "", nil); code != http.StatusOK {
		t.Errorf("GET /-/ready after SIGHUP: %d, want 200", code)
	}

	// SIGTERM (the kubelet's, systemd's, docker stop's) stops omen with
	// exit 0 before the supervisor's grace period ends.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("omen exited after SIGTERM: %v, want exit 0; output:\n%s", p.err, p.out.String())
		}
	case <-time.After(d.stopWithin):
		t.Errorf("omen still running %v after SIGTERM, the file's grace period; output:\n%s", d.stopWithin, p.out.String())
	}
}

// applyRunAs gives the token file and the store's directory the owner,
// group and mode the deployment gives them, and returns the user to run
// omen as, when the test runs as root (where a process may change its
// user); else nil, and omen runs as the test's user (the permissions are
// then checked statically only: TestKubernetes/permissions,
// TestDockerfile/header). The temporary directory and the configuration
// become readable by others.
func applyRunAs(t *testing.T, r *runAs, dir string) *runAs {
	t.Helper()
	if r == nil {
		return nil
	}
	if os.Geteuid() != 0 || !canRunAs() {
		t.Logf("not root: omen runs as this test's user, not uid %d; the token's and the store's permissions are checked statically only", r.uid)
		return nil
	}
	for _, c := range []struct {
		name string
		mode os.FileMode
	}{{filepath.Dir(dir), 0o755}, {dir, 0o755}, {filepath.Join(dir, "omen.yml"), 0o644}} {
		if err := os.Chmod(c.name, c.mode); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]fileOwner{filepath.Join(dir, "token"): r.token, data: r.data} {
		if err := os.Chown(name, f.uid, f.gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(name, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// localArgs rewrites omen run's flags for the test: files into dir,
// the web address to a random loopback port, an external NATS URL to a
// local nats-server (JetStream), the embedded server to a random loopback
// port. It writes the token file and returns the flags, the web address
// and the token. A flag whose value names a place it does not know fails
// the test: teach it the flag rather than let omen reach out.
func localArgs(t *testing.T, args []string, dir string) (out []string, addr, token string) {
	t.Helper()
	token = fmt.Sprintf("deploy-smoke-%d", time.Now().UnixNano())
	addr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	external := false
	for _, a := range args {
		name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		switch name {
		case "config.file":
			value = filepath.Join(dir, "omen.yml")
		case "web.listen-address":
			value = addr
		case "storage.path":
			value = filepath.Join(dir, "data")
		case "web.token-file":
			value = filepath.Join(dir, "token")
			if err := os.WriteFile(value, []byte(token+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		case "nats.url":
			value, external = testenv.NATSServer(t), true // the external JetStream, here
		case "nats.listen-address":
			value = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		case "storage.retention", "shutdown-timeout", "log.level":
		default:
			t.Fatalf("the smoke test does not know --%s: teach localArgs where it points", name)
		}
		out = append(out, "--"+name+"="+value)
	}
	if !external && flagValues(args)["nats.listen-address"] == "" {
		out = append(out, fmt.Sprintf("--nats.listen-address=127.0.0.1:%d", testenv.FreePort(t)))
	}
	return out, addr, token
}

// localConfig rewrites the configuration's Alertmanager URLs to am and
// external_url to ext, and fails the test when a URL to anywhere but
// loopback is left.
func localConfig(t *testing.T, data []byte, am, ext string) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if alerting := mapValue(doc.Content[0], "alerting"); alerting != nil {
		if ams := mapValue(alerting, "alertmanagers"); ams != nil {
			for _, a := range ams.Content {
				if u := mapValue(a, "url"); u != nil {
					u.Value = am
				}
			}
		}
		if u := mapValue(alerting, "external_url"); u != nil {
			u.Value = ext
		}
	}
	var check func(n *yaml.Node)
	check = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "://") {
			u, err := url.Parse(n.Value)
			if err != nil || !api.IsLoopback(net.JoinHostPort(u.Hostname(), "1")) {
				t.Fatalf("the configuration's %q (line %d) is not rewritten to loopback: teach localConfig", n.Value, n.Line)
			}
		}
		for _, c := range n.Content {
			check(c)
		}
	}
	check(&doc)
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mapValue returns the value of key in the mapping node m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// omenProcess is a started omen run.
type omenProcess struct {
	cmd  *exec.Cmd
	out  *testenv.SyncBuffer
	done chan struct{}
	err  error
}

// startOmen starts omen run with args, as the user r when not nil.
func startOmen(t *testing.T, args []string, r *runAs) *omenProcess {
	t.Helper()
	p := &omenProcess{out: &testenv.SyncBuffer{Max: 1 << 20}, done: make(chan struct{})}
	p.cmd = command(omenBin(t), append([]string{"run"}, args...)...)
	if r != nil {
		setRunAs(p.cmd, r)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitReady polls ready until it answers 200; omen exiting first, or the
// start deadline passing, fails the test with omen's output.
func (p *omenProcess) waitReady(t *testing.T, client *http.Client, ready string) {
	t.Helper()
	deadline := time.Now().Add(startDeadline)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("omen exited while starting (%v); output:\n%s", p.err, p.out.String())
		default:
		}
		if resp, err := client.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("omen not ready after %v; output:\n%s", startDeadline, p.out.String())
}

// waitLog waits for omen's output to hold s.
func (p *omenProcess) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(startDeadline)
	for !strings.Contains(p.out.String(), s) {
		select {
		case <-p.done:
			t.Fatalf("omen exited (%v) before logging %s; output:\n%s", p.err, s, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("omen did not log %s within %v; output:\n%s", s, startDeadline, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// do sends a request, with the bearer token when one is given, and
// returns the status code.
func do(t *testing.T, client *http.Client, method, u, token string, body []byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
