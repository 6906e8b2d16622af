package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Paths of the Debian binaries.
const (
	NATSServerBin   = "/usr/sbin/nats-server"
	PrometheusBin   = "/usr/bin/prometheus"
	AlertmanagerBin = "/usr/bin/prometheus-alertmanager"
)

const installHint = "apt-get update && apt-get install -y prometheus prometheus-alertmanager nats-server"

// startTimeout bounds how long a component may take to become ready.
const startTimeout = 60 * time.Second

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StablePort returns a free loopback port outside Linux's ephemeral
// range (32768–60999) for a server a test stops and starts again on the
// same port: between the two, an ephemeral port can be taken by any
// outgoing connection's local end or by another test's FreePort listener
// ("bind: address already in use" on the restart).
func StablePort(t testing.TB) int {
	t.Helper()
	for range 200 {
		p := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			_ = l.Close()
			return p
		}
	}
	t.Fatal("find a free port in 20000-31999: none of 200 tried")
	return 0
}

func requireBinary(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is required for this test (%v); install it with: %s", path, err, installHint)
	}
}

// Process is a component started by Start.
type Process struct {
	name string
	cmd  *exec.Cmd
	out  *SyncBuffer
	done chan struct{}
	err  error
}

// Start runs bin (a component named name in messages) with args,
// capturing its output, and registers its Stop in t.Cleanup. On Linux the
// process is killed with the test binary (see procAttr), which a go test
// timeout panic ends without its cleanups: a test that starts a server
// binary of its own (another configuration, a restart on one port) uses
// Start rather than exec.Command.
func Start(t testing.TB, name, bin string, args ...string) *Process {
	t.Helper()
	requireBinary(t, bin)
	p := &Process{name: name, out: &SyncBuffer{Max: 1 << 20}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = procAttr()
	// The component is started, and waited for, by a goroutine locked to
	// its OS thread until the component exits: Pdeathsig (see procAttr)
	// fires when the thread that started the process exits, not the test
	// binary (golang/go#27505), and the Go runtime ends a thread when a
	// goroutine locked to it returns without unlocking it, which another
	// goroutine that locked the thread starting the component could have
	// done, killing the component in the middle of the test. Locked, the
	// thread runs nothing else, and outlives the component; it is
	// unlocked, and returns to the runtime, once the component has exited.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// Stop ends the process, if it runs: SIGTERM, then SIGKILL when it has
// not exited 20 s later. It returns once the process has exited.
func (p *Process) Stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Logf("%s did not stop within 20s of SIGTERM; killed", p.name)
	}
}

// Output returns what the process wrote to its stdout and stderr (the
// last MiB).
func (p *Process) Output() string { return p.out.String() }

func (p *Process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ready polls check until it returns nil (then nil), the process exits
// or the start timeout passes (then what went wrong).
func (p *Process) ready(check func() error) error {
	deadline := time.Now().Add(startTimeout)
	var err error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited during start-up (%w); output:\n%s", p.name, p.err, p.out.String())
		}
		if err = check(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s: %w; output:\n%s", p.name, startTimeout, err, p.out.String())
}

// portAttempts is how many times startOnFreePorts starts a component.
const portAttempts = 5

// startOnFreePorts starts a component on n loopback ports FreePort
// picked: start starts it on them and returns the process and its
// readiness check. A port is free when picked but closed again, so
// another process (a parallel test's server, a connection's local end)
// can bind it before the component does: a component that exits during
// start-up saying "address already in use" is started again on new
// ports, up to portAttempts times. (CI saw Alertmanager fail so under
// load.)
func startOnFreePorts(t testing.TB, n int, start func(ports []int) (*Process, func() error)) *Process {
	t.Helper()
	var err error
	for range portAttempts {
		ports := make([]int, n)
		for i := range ports {
			ports[i] = FreePort(t)
		}
		p, check := start(ports)
		if err = p.ready(check); err == nil {
			return p
		}
		if !p.exited() || !strings.Contains(p.Output(), "address already in use") {
			break
		}
		t.Logf("%s: a port was taken before it bound it (%v); starting it on other ports", p.name, ports)
	}
	t.Fatal(err)
	return nil
}

func httpOK(url string) func() error { return webOK(url, nil) }

// webOK is httpOK through web's client, with its credentials (nil: the
// default client).
func webOK(url string, web *Web) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		c := http.DefaultClient
		if web != nil {
			c = web.Client
			if web.Username != "" {
				req.SetBasicAuth(web.Username, web.Password)
			}
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// NATSServer starts Debian nats-server with JetStream on a random loopback
// port and a temporary store directory and returns its client URL
// (nats://127.0.0.1:PORT). extraArgs are appended to the command line
// (e.g. --user U --pass P).
func NATSServer(t testing.TB, extraArgs ...string) string {
	t.Helper()
	var port int
	startOnFreePorts(t, 2, func(ports []int) (*Process, func() error) {
		port = ports[0]
		p := Start(t, "nats-server", NATSServerBin, append([]string{
			"-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port),
			"-m", strconv.Itoa(ports[1]), "-sd", t.TempDir()}, extraArgs...)...)
		return p, httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz?js-enabled-only=true", ports[1]))
	})
	return fmt.Sprintf("nats://127.0.0.1:%d", port)
}

// NATSServerOn starts Debian nats-server with JetStream on port (a
// StablePort, for a server a test stops and starts again on the same
// port), its store in sd (kept across restarts: streams and consumers
// survive) and extraArgs, and waits until it accepts connections.
func NATSServerOn(t testing.TB, port int, sd string, extraArgs ...string) *Process {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p := Start(t, "nats-server", NATSServerBin, append([]string{"-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", sd}, extraArgs...)...)
	if err := p.ready(func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

// Prometheus starts Debian Prometheus 2.42 with the remote-write receiver
// enabled, configuration cfgYAML (an empty string means a configuration with
// no scrape jobs), a temporary TSDB and a random loopback listen address,
// waits for /-/ready and returns its base URL (http://127.0.0.1:PORT).
// extraArgs are appended to the command line.
func Prometheus(t testing.TB, cfgYAML string, extraArgs ...string) string {
	t.Helper()
	return startPrometheus(t, func(string) string { return cfgYAML }, nil, extraArgs...)
}

// Web is a --web.config.file of Prometheus and Alertmanager (TLS, client
// certificates, basic auth), and how a test reaches the server.
type Web struct {
	// Config is the file's YAML: tls_server_config (cert_file, key_file,
	// client_auth_type, client_ca_file), basic_auth_users (bcrypt
	// hashes). With tls_server_config the server's URL is https.
	Config string
	// Client reaches the server (its CA, a client certificate); Username
	// and Password are basic-auth credentials the server takes, if any.
	Client             *http.Client
	Username, Password string
}

// scheme is the URL scheme of a server with web's configuration.
func (w *Web) scheme() string {
	if w != nil && strings.Contains(w.Config, "tls_server_config") {
		return "https://"
	}
	return "http://"
}

// PrometheusWeb is Prometheus with the web configuration web
// (--web.config.file): its readiness is checked with web's client and
// credentials, and its base URL is https://127.0.0.1:PORT with TLS.
func PrometheusWeb(t testing.TB, cfgYAML string, web Web, extraArgs ...string) string {
	t.Helper()
	return startPrometheus(t, func(string) string { return cfgYAML }, &web, extraArgs...)
}

// webConfigFile writes web's configuration into dir and returns the
// --web.config.file flag naming it (none for a nil web).
func webConfigFile(t testing.TB, dir string, web *Web) []string {
	t.Helper()
	if web == nil {
		return nil
	}
	f := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(f, []byte(web.Config), 0o600); err != nil {
		t.Fatalf("write web config: %v", err)
	}
	return []string{"--web.config.file=" + f}
}

// PrometheusScrapingItself is Prometheus (as Prometheus starts it)
// scraping its own metrics every interval (a Go duration such as "1s"),
// job "self": series a test can read back without writing any.
func PrometheusScrapingItself(t testing.TB, interval string) string {
	t.Helper()
	return startPrometheus(t, func(addr string) string {
		return fmt.Sprintf("global:\n  scrape_interval: %s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['%s']\n", interval, addr)
	}, nil)
}

// startPrometheus starts Prometheus with the configuration cfgYAML
// returns for its listen address (an empty one: no scrape jobs).
func startPrometheus(t testing.TB, cfgYAML func(addr string) string, web *Web, extraArgs ...string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	webFlags := webConfigFile(t, dir, web)
	var url string
	startOnFreePorts(t, 1, func(ports []int) (*Process, func() error) {
		addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
		yml := cfgYAML(addr)
		if yml == "" {
			yml = "global:\n  scrape_interval: 15s\n"
		}
		if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
			t.Fatalf("write prometheus config: %v", err)
		}
		args := append([]string{
			"--config.file=" + cfg,
			"--storage.tsdb.path=" + filepath.Join(t.TempDir(), "data"),
			"--web.listen-address=" + addr,
			"--web.enable-remote-write-receiver",
			"--log.level=warn",
		}, append(webFlags, extraArgs...)...)
		url = web.scheme() + addr
		return Start(t, "prometheus", PrometheusBin, args...), webOK(url+"/-/ready", web)
	})
	return url
}

const alertmanagerConfig = `route:
  receiver: default
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: default
`

// Alertmanager starts Debian Alertmanager 0.25 with clustering disabled, a
// minimal configuration (one receiver that notifies nobody), temporary
// storage and a random loopback listen address, waits for /-/ready and
// returns its base URL (http://127.0.0.1:PORT).
func Alertmanager(t testing.TB) string {
	t.Helper()
	return AlertmanagerConfig(t, alertmanagerConfig)
}

// AlertmanagerConfig is Alertmanager with the configuration cfgYAML (e.g.
// webhook receivers and inhibit rules).
func AlertmanagerConfig(t testing.TB, cfgYAML string) string {
	t.Helper()
	return alertmanager(t, cfgYAML, nil)
}

// AlertmanagerWeb is Alertmanager with the web configuration web
// (--web.config.file; as PrometheusWeb) and Alertmanager's minimal
// configuration.
func AlertmanagerWeb(t testing.TB, web Web) string {
	t.Helper()
	return alertmanager(t, alertmanagerConfig, &web)
}

func alertmanager(t testing.TB, cfgYAML string, web *Web) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(cfgYAML), 0o600); err != nil {
		t.Fatalf("write alertmanager config: %v", err)
	}
	webFlags := webConfigFile(t, dir, web)
	var url string
	startOnFreePorts(t, 1, func(ports []int) (*Process, func() error) {
		addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
		url = web.scheme() + addr
		return Start(t, "alertmanager", AlertmanagerBin, append([]string{
			"--config.file=" + cfg,
			"--storage.path=" + filepath.Join(t.TempDir(), "data"),
			"--web.listen-address=" + addr,
			"--cluster.listen-address=",
			"--log.level=warn",
		}, webFlags...)...), webOK(url+"/-/ready", web)
	})
	return url
}
