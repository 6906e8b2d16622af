package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/common/model"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/internal/words"
	"github.com/omen-sre/omen/stream"
)

// daemonFlags are the flags of "omen run", shared by "omen demo".
type daemonFlags struct {
	configFile        string
	listenAddress     string
	storagePath       string
	retention         string
	natsURL           string
	natsListenAddress string
	natsClient        app.NATSClient
	alertmanagers     stringList
	logLevel          string
	tokenFile         string
	tlsCert, tlsKey   string
	enablePprof       bool
	shutdownTimeout   time.Duration
}

// register adds the flags to fs. The demo configures itself for the
// simulated fleet (no --config.file) and logs at warn by default: it
// prints its own progress and alerts.
func (f *daemonFlags) register(fs *flag.FlagSet, demo bool) {
	logLevel := "info"
	if demo {
		logLevel = "warn"
	} else {
		fs.StringVar(&f.configFile, "config.file", "", "omen configuration file (YAML); none: the defaults")
	}
	fs.StringVar(&f.listenAddress, "web.listen-address", "127.0.0.1:9464", "address for the HTTP API, UI, metrics and remote-write receiver")
	if demo {
		// A used store's simulated time is ahead of a new demo's.
		fs.StringVar(&f.storagePath, "storage.path", "", "directory for Badger and the embedded NATS server's data, new or empty (default: a temporary directory, removed when the demo stops)")
	} else {
		fs.StringVar(&f.storagePath, "storage.path", "data/", "directory for Badger and the embedded NATS server's data")
	}
	fs.StringVar(&f.retention, "storage.retention", "15d", "how long feature vectors, events, predictions, explanations, entities (since last seen), alert history (not the firing alerts) and Alertmanager outbox items are kept (at least 1h; ingested batches: the lookback + 1h; feature schemas and models: always)")
	fs.StringVar(&f.natsURL, "nats.url", "", "NATS server URL; empty starts the embedded server")
	fs.StringVar(&f.natsClient.CredsFile, "nats.creds-file", "", "with --nats.url: JWT user credentials file (nsc, the nats CLI); read at each connect")
	fs.StringVar(&f.natsClient.NkeySeedFile, "nats.nkey-seed-file", "", "with --nats.url: file holding a user NKey seed; read at each connect")
	fs.StringVar(&f.natsClient.User, "nats.user", "", "with --nats.url: NATS user name, with --nats.password-file")
	fs.StringVar(&f.natsClient.PasswordFile, "nats.password-file", "", "with --nats.url and --nats.user: file holding the password; read at each connect")
	fs.StringVar(&f.natsClient.TokenFile, "nats.token-file", "", "with --nats.url: file holding the NATS authentication token; read at each connect")
	fs.StringVar(&f.natsClient.TLSCAFile, "nats.tls-ca-file", "", "with --nats.url: CA certificates (PEM) the NATS server's certificate is checked against (implies TLS; default the system's)")
	fs.StringVar(&f.natsClient.TLSCertFile, "nats.tls-cert-file", "", "with --nats.url: client certificate (PEM) for mutual TLS, with --nats.tls-key-file")
	fs.StringVar(&f.natsClient.TLSKeyFile, "nats.tls-key-file", "", "with --nats.url: client key (PEM) for mutual TLS, with --nats.tls-cert-file")
	fs.StringVar(&f.natsClient.TLSServerName, "nats.tls-server-name", "", "with --nats.url: name the NATS server's certificate is checked for (implies TLS; default the URL's host)")
	fs.StringVar(&f.natsListenAddress, "nats.listen-address", "127.0.0.1:4222", "address of the embedded NATS server (loopback only: it has no authentication)")
	fs.Var(&f.alertmanagers, "alertmanager.url", "Alertmanager URL (repeatable); adds to the config's alerting.alertmanagers")
	fs.StringVar(&f.logLevel, "log.level", logLevel, "log level: debug, info, warn, error")
	fs.StringVar(&f.tokenFile, "web.token-file", "", "file holding the bearer token for the API and UI (required on a non-loopback address)")
	fs.StringVar(&f.tlsCert, "web.tls-cert-file", "", "TLS certificate (PEM) for HTTPS")
	fs.StringVar(&f.tlsKey, "web.tls-key-file", "", "TLS key (PEM) for HTTPS")
	fs.BoolVar(&f.enablePprof, "web.enable-pprof", false, "serve Go's runtime profiles (net/http/pprof) under /debug/pprof/, behind the API's token (or loopback-only without one)")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful shutdown may take (at least 1s)")
}

// minShutdownTimeout is the shortest --shutdown-timeout: stopping the
// components (flushing the store, draining NATS) takes milliseconds at
// best, so less made every SIGTERM fail.
const minShutdownTimeout = time.Second

// checkPort refuses a listen address whose port is not a number: a
// service name ("127.0.0.1:http") passes net.LookupPort, but the external
// URL built from the address is then not a URL, and the NATS server
// refuses it.
func checkPort(flagName, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil // reported by the component, with its context
	}
	if strings.Trim(port, "0123456789") != "" {
		return fmt.Errorf("--%s %q: port %q is not a number (give the port number, not a service name)", flagName, addr, port)
	}
	return nil
}

func (f *daemonFlags) options(logger *slog.Logger) (app.Options, error) {
	ret, err := model.ParseDuration(f.retention)
	if err != nil {
		return app.Options{}, fmt.Errorf("--storage.retention: %w", err)
	}
	if err := app.CheckRetention(time.Duration(ret)); err != nil {
		return app.Options{}, fmt.Errorf("--storage.retention: %w", err)
	}
	if f.shutdownTimeout < minShutdownTimeout {
		return app.Options{}, fmt.Errorf("--shutdown-timeout %v, want at least %v", f.shutdownTimeout, minShutdownTimeout)
	}
	for _, a := range []struct{ flag, addr string }{{"web.listen-address", f.listenAddress}, {"nats.listen-address", f.natsListenAddress}} {
		if err := checkPort(a.flag, a.addr); err != nil {
			return app.Options{}, err
		}
	}
	if _, _, err := net.SplitHostPort(f.listenAddress); err == nil && f.tokenFile == "" && !api.IsLoopback(f.listenAddress) {
		// As app.New refuses it, but as a usage error (exit 2) before
		// anything is opened (an address that is not host:port is the
		// API's to report).
		return app.Options{}, fmt.Errorf("--web.listen-address %q is not a loopback address: there the API and UI require a bearer token: give one with --web.token-file, or listen on a loopback address (127.0.0.1, [::1], localhost)", f.listenAddress)
	}
	if f.natsURL == "" {
		if err := app.CheckEmbeddedNATSAddress(f.natsListenAddress); err != nil {
			return app.Options{}, fmt.Errorf("--nats.listen-address: %w", err)
		}
	}
	if err := app.CheckNATSClient(f.natsURL, f.natsClient); err != nil {
		return app.Options{}, err
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		// Checked here so that it is reported before the daemon starts.
		return app.Options{}, errors.New("--web.tls-cert-file and --web.tls-key-file go together: give both or neither")
	}
	return app.Options{
		ConfigFile:        f.configFile,
		ListenAddress:     f.listenAddress,
		StoragePath:       f.storagePath,
		Retention:         time.Duration(ret),
		NATSURL:           f.natsURL,
		NATSClient:        f.natsClient,
		NATSListenAddress: f.natsListenAddress,
		AlertmanagerURLs:  f.alertmanagers,
		WallClock:         true,
		ShutdownTimeout:   f.shutdownTimeout,
		TokenFile:         f.tokenFile,
		TLSCertFile:       f.tlsCert,
		TLSKeyFile:        f.tlsKey,
		EnablePprof:       f.enablePprof,
		Logger:            logger,
	}, nil
}

// startHint adds to an error of starting the daemon the remedy of a busy
// port: the flag that moves the listener elsewhere; of a --nats.url that
// does not answer: to check it, or to leave it out; of a NATS server
// refusing the TLS connection when no client certificate was given: to
// give one. The web listener's
// error is a *net.OpError naming its address; the embedded NATS server's
// is not (natsembed reports the bare reason).
func (f *daemonFlags) startHint(err error) error {
	if errors.Is(err, nats.ErrNoServers) && f.natsURL != "" {
		return fmt.Errorf("%w (is the NATS server at --nats.url %s running and reachable? leave --nats.url out to start the embedded one)", err, app.RedactNATSURL(f.natsURL))
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok && f.natsURL != "" {
		return fmt.Errorf("%w (the NATS server's TLS certificate is not trusted for its name: give the CA that signed it with --nats.tls-ca-file, the name it is for with --nats.tls-server-name)", err)
	}
	if f.natsURL != "" && f.natsClient.TLSCertFile == "" && stream.TLSClosedByServer(err) {
		return fmt.Errorf("%w (the NATS server refused the TLS connection: if it requires client certificates, tls { verify: true }, give a client certificate with --nats.tls-cert-file and --nats.tls-key-file)", err)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return err
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "listen" {
		return fmt.Errorf("%w (another process listens on %s, another omen maybe: give another --web.listen-address)", err, f.listenAddress)
	}
	if f.natsURL == "" {
		return fmt.Errorf("%w (another process listens on %s, a NATS server or another omen maybe: give the embedded NATS server another --nats.listen-address, or use a running NATS server with --nats.url)", err, f.natsListenAddress)
	}
	return err
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log.level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// parseFlags parses args and reports usage errors as exit code 2: a flag
// error (unknown, without its value, or of a bad value) prints its message
// with the nearest flag's name for an unknown one, and a line pointing at
// the command's --help, on stderr (not the whole usage, which buried the
// message); help asked for (-h, -help or --help) prints the usage on
// stdout, exit code 0, for `omen run --help | grep`.
// fs.Usage writes to fs.Output(). Flags may come before, between and
// after positional arguments ("omen model promote v1 --storage.path X");
// a "--" ends the flags. Afterwards fs.Args() holds the positional
// arguments in order, and fs.Output() is stderr (a usage error's usage).
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (int, bool) {
	// The flag package prints the usage before Parse returns, so the
	// output is chosen once Parse has said which it was.
	var out bytes.Buffer
	fs.SetOutput(&out)
	defer fs.SetOutput(stderr)
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				_, _ = stdout.Write(out.Bytes())
				return 0, false
			}
			return usageError(stderr, fs.Name(), err.Error()+flagHint(fs, err)), false
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		if n := len(rest) - len(left); n > 0 && rest[n-1] == "--" {
			// "--": everything after it is positional.
			pos = append(pos, left...)
			break
		}
		pos = append(pos, left[0])
		rest = left[1:]
	}
	// Leave the positional arguments in fs.Args().
	_ = fs.Parse(append([]string{"--"}, pos...))
	return 0, true
}

// flagHint names, for err of an unknown flag, the flag of fs nearest to
// it (" (did you mean --history?)"); else "".
func flagHint(fs *flag.FlagSet, err error) string {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: ")
	if !ok {
		return ""
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if near := words.Nearest(strings.TrimLeft(name, "-"), names); near != "" {
		return " (did you mean --" + near + "?)"
	}
	return ""
}

// printHelp prints fs's usage on stdout: help asked for ("help" as an
// argument), which the flag package does not see.
func printHelp(fs *flag.FlagSet, stdout io.Writer) {
	out := fs.Output()
	fs.SetOutput(stdout)
	fs.Usage()
	fs.SetOutput(out)
}

// parseNoArgs is parseFlags for a command without positional arguments:
// "help" prints the usage (stdout, exit 0), anything else is a usage
// error.
func parseNoArgs(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (int, bool) {
	if rc, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return rc, false
	}
	switch {
	case fs.NArg() == 1 && fs.Arg(0) == "help":
		printHelp(fs, stdout)
		return 0, false
	case fs.NArg() > 0:
		return usageError(stderr, fs.Name(), fmt.Sprintf("unexpected arguments %q", fs.Args())), false
	}
	return 0, true
}

// usageError reports a usage error of the command cmd ("omen explain") on
// stderr as every command does: msg and a line pointing at its --help,
// not the whole usage, which buried the message. It returns exit code 2.
func usageError(stderr io.Writer, cmd, msg string) int {
	fmt.Fprintf(stderr, "%s: %s\nsee %s --help\n", cmd, msg, cmd)
	return 2
}

// isHelp reports whether arg asks a sub-dispatcher for its usage.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen run", flag.ContinueOnError)
	var df daemonFlags
	df.register(fs, false)
	if rc, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return rc
	}
	// A closed log pipe (`omen run 2>&1 | logger` whose reader died)
	// raised SIGPIPE at the next log line, which killed the daemon
	// mid-write. With SIGPIPE notified the write fails with EPIPE instead,
	// and the daemon stops gracefully (store closed, notifications kept)
	// with exit 1, for its supervisor to restart it with a working log.
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	defer signal.Stop(pipe)
	// SIGHUP is caught from here on: its default action killed the
	// daemon while it started (a store opening, NATS unreachable), as
	// `systemctl reload` right after a restart would. One that arrives
	// before the daemon has started reloads once it has.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logOut := &stopWriter{w: stderr, stop: cancel}
	logger, err := newLogger(df.logLevel, logOut)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	opts, err := df.options(logger)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	setVersion()
	a, err := app.New(opts)
	if err != nil {
		logger.Error("configure omen", "err", err)
		return 1
	}
	// The storage directory (and its parents) this run makes: a start
	// that fails (a busy port, a model.file that does not fit) removes
	// them again, as the demo does, rather than leave a store of nothing
	// at a path that was mistyped or is to be given otherwise. One that
	// existed before is kept, whatever it holds.
	made := missingDirs(cmp.Or(opts.StoragePath, "data")) // app.Options' default
	rc := serve(ctx, a, logger, df.startHint, hup, func() { removeMade(made) })
	if logOut.Err() != nil {
		return 1
	}
	return rc
}

// serve starts a, waits for a signal, a fatal error or ctx's end, and
// stops it gracefully. A value on hup (SIGHUP, notified by the caller
// before a was made) reloads the configuration; one sent while a starts
// reloads once it has. hint adds a remedy to an error of starting
// (daemonFlags.startHint); startFailed is called when the start fails
// (a has closed what it opened), never once it has started.
func serve(ctx context.Context, a *app.App, logger *slog.Logger, hint func(error) error, hup <-chan os.Signal, startFailed func()) int {
	ctx, cancel := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		logger.Error("start omen", "err", hint(err))
		startFailed()
		return 1
	}
	rc := 0
loop:
	for {
		select {
		case <-ctx.Done():
			logger.Info("shutting down")
			break loop
		case <-hup:
			// A failed reload is logged (once) by the app.
			_ = a.Reload()
		case <-a.Done():
			if err := a.Err(); err != nil {
				logger.Error("omen stopped", "err", err)
				rc = 1
			}
			break loop
		}
	}
	if err := a.Stop(context.Background()); err != nil {
		logger.Error("stop", "err", err)
		return 1
	}
	return rc
}

// missingDirs returns path and those of its parents that do not exist,
// deepest first: the directories a run that makes path creates. None
// when path exists (a dangling symbolic link too: it is not the run's).
func missingDirs(path string) []string {
	var dirs []string
	for p := filepath.Clean(path); ; {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			return dirs // exists, or cannot be told: not the run's
		}
		dirs = append(dirs, p)
		parent := filepath.Dir(p)
		if parent == p {
			return dirs
		}
		p = parent
	}
}

// removeMade removes the storage directories a run whose start failed
// made (missingDirs: dirs[0] the storage path): the daemon's store and
// embedded NATS directories in it, then each directory while it is
// empty. Files another process put there meanwhile stay, and so do
// their directories.
func removeMade(dirs []string) {
	if len(dirs) == 0 {
		return
	}
	for _, d := range []string{"badger", "nats"} {
		os.RemoveAll(filepath.Join(dirs[0], d)) //nolint:errcheck // best effort: what stays is the run's store, as before
	}
	for _, d := range dirs {
		if os.Remove(d) != nil {
			return // not empty (or gone): its parents are not either
		}
	}
}
