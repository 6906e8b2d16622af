package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

const modelUsage = `usage: omen model list|add FILE [--version NAME] [--promote]|promote VERSION|rollback|delete VERSION [flags]

Manages the model registry: through a running daemon's API with --url (it
holds the store, and uses a promoted model at once), or in the store at
--storage.path while no daemon runs (a path without a store is refused,
for add too: no daemon would read a store made there). add registers a model file (omen train
--out), with --promote also making it active; a daemon refuses a model that
does not fit its configured features. add names the version after the
file's metadata (VERSION-<checksum> when that name is taken by other data
or was deleted); --version NAME registers it under exactly NAME instead,
or fails when NAME is taken or was deleted: the way to register again a
model whose version was deleted. rollback re-activates the version
promoted before the active one. delete removes a version that is not
active (promote another one first) and drops it from the rollback history:
a later rollback goes to the version promoted before it. Without --url,
list, promote, rollback and delete open the store while its disk is below
the free-space reserve too, down to half of it; add does not. Without
--url, --config.file names the daemon's configuration file: the store is
opened with its storage settings, as omen run --config.file opens it
(storage.disk_reserve, and the memtable and value-log sizes the default
reserve follows); without it, the store's defaults (a 352 MiB reserve).
The storage path is --storage.path's (the configuration has no key for
it), and with --url the daemon's configuration applies. Without --url,
add --promote, promote and rollback refuse a model that does not fit the
features a daemon will run with, as a daemon refuses it (exit 1, the
registry unchanged), and add without --promote registers it with a
warning: the features of --config.file, else those of the schema the
store records (the layout the daemon last ran with). With neither,
add (as omen train) warns when the model does not fit the default
features, which a daemon without --config.file runs, and promote and
rollback check nothing. After moving a daemon back from a configuration
file to the defaults, --config.file /dev/null (an empty file: the
built-in defaults) checks against those instead of the stale schema.

flags:`

// modelCommand implements "omen model list|add FILE|promote VERSION|rollback|delete VERSION",
// on a running daemon's registry (--url) or directly on the store. Its
// fields are what it takes from outside its arguments; zero: the real
// ones.
type modelCommand struct {
	// diskFree reads the free space of the offline store's filesystem
	// (store.Options.DiskFree; nil: the platform's). Tests fake it.
	diskFree func(dir string) (uint64, error)
}

func (c modelCommand) run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen model", flag.ContinueOnError)
	storagePath := fs.String("storage.path", "data/", "omen's storage path (without --url; the daemon must not be running)")
	configFile := fs.String("config.file", "", "without --url: the daemon's configuration file (omen run --config.file), whose storage settings (disk_reserve, memtable and value-log sizes) open the store and whose features models are checked against; none: the store's defaults, and its recorded feature schema")
	var cf clientFlags
	cf.register(fs, "")
	promote := fs.Bool("promote", false, "add: also make the model active")
	version := fs.String("version", "", "add: register the model under this version instead of the file's (refused when taken or deleted)")
	create := fs.Bool("create", false, "add, without --url: create the store at --storage.path when there is none (to prepare a store before the daemon's first start, e.g. in an init container); without it a missing store is refused")
	timeout := fs.Duration("timeout", time.Minute, "with --url: how long to wait for the API")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), modelUsage)
		fs.PrintDefaults()
	}
	if rc, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return rc
	}
	sub, rest := "", []string(nil)
	if fs.NArg() > 0 {
		sub, rest = fs.Arg(0), fs.Args()[1:]
	}
	// Each subcommand's argument (modelUsage's first line), if it takes one.
	argName, known := map[string]string{"list": "", "add": "FILE", "promote": "VERSION", "rollback": "", "delete": "VERSION"}[sub]
	n := 0
	if argName != "" {
		n = 1
	}
	urlErr := cf.check()
	switch {
	case sub == "help", known && n == 0 && len(rest) == 1 && rest[0] == "help":
		// omen model list help, as every command takes help (for add,
		// promote and delete "help" is a file or a version).
		printHelp(fs, stdout)
		return 0
	case !known:
		if sub == "" {
			return usageError(stderr, fs.Name(), "missing the subcommand (list, add, promote, rollback or delete)")
		}
		return usageError(stderr, fs.Name(), fmt.Sprintf("unknown subcommand %q (want list, add, promote, rollback or delete)", sub))
	case len(rest) != n:
		if len(rest) < n {
			fmt.Fprintf(stderr, "omen model %s: missing its %s\n", sub, argName)
		} else {
			fmt.Fprintf(stderr, "omen model %s: unexpected arguments %q\n", sub, rest[n:])
		}
		fmt.Fprintf(stderr, "usage: omen model %s [flags]; see omen model --help\n", strings.TrimSpace(sub+" "+argName))
		return 2
	case (sub == "promote" || sub == "delete") && strings.TrimSpace(rest[0]) == "":
		fmt.Fprintf(stderr, "omen model %s: empty or blank version: give a registered version (omen model list)\n", sub)
		return 2
	case sub != "add" && flagSet(fs, "version"):
		fmt.Fprintf(stderr, "omen model %s: --version is a flag of add (promote and delete take the version as an argument)\n", sub)
		return 2
	case flagSet(fs, "version") && strings.TrimSpace(*version) == "":
		fmt.Fprintln(stderr, "omen model add: empty or blank --version: give the version to register the model under, or leave --version out to use the file's")
		return 2
	case flagSet(fs, "create") && (sub != "add" || *cf.url != ""):
		fmt.Fprintf(stderr, "omen model %s: --create is a flag of add without --url (it creates the store at --storage.path)\n", sub)
		return 2
	case *cf.url != "" && *configFile != "":
		fmt.Fprintf(stderr, "omen model %s: --config.file is for the store at --storage.path: with --url the daemon uses its own configuration\n", sub)
		return 2
	case urlErr != nil:
		fmt.Fprintf(stderr, "omen model %s: %v\n", sub, urlErr)
		return 2
	}
	var file []byte
	if sub == "add" {
		b, err := os.ReadFile(rest[0])
		if err != nil {
			fmt.Fprintf(stderr, "omen model add: %v\n", err)
			return 1
		}
		if len(b) == 0 {
			// Refused here, before a store is opened or a request sent
			// (the daemon's answer spoke of an empty request body).
			fmt.Fprintf(stderr, "omen model add: %s is empty: not a model file\n", rest[0])
			return 1
		}
		file = b
	}
	var (
		reg api.ModelAdmin
		st  *store.Store // offline
		ref *featureRef  // offline: what add, promote and rollback check models against
	)
	if *cf.url != "" {
		c, err := cf.client()
		if err != nil {
			fmt.Fprintf(stderr, "omen model %s: %v\n", sub, err)
			return 1
		}
		reg = c
	} else {
		cfg, err := loadConfig(*configFile)
		if err != nil {
			fmt.Fprintf(stderr, "omen model %s: %v\n", sub, err)
			return 1
		}
		// A missing store is refused, for add too: a model registered in
		// a store made at a mistyped path (or the default data/ of
		// another directory) is one no daemon reads.
		open := openRegistryStore
		if sub == "add" {
			open = openExistingStore // add does not open below the disk reserve
			if *create {
				open = createStore
			}
		}
		st, err = open(offlineStore{path: *storagePath, configFile: *configFile, storage: cfg.Storage,
			diskFree: c.diskFree, log: cliLogger(stderr, "omen model "+sub)})
		if err != nil {
			fmt.Fprintf(stderr, "omen model %s: %v\n", sub, err)
			return 1
		}
		defer st.Close()
		reg = app.NewRegistry(st, "omen model add")
		if sub == "add" || sub == "promote" || sub == "rollback" {
			if ref, err = offlineFeatures(st, *configFile, cfg); err != nil {
				fmt.Fprintf(stderr, "omen model %s: %v\n", sub, err)
				return 1
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	switch sub {
	case "list":
		ms, err := reg.Models(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "omen model list: %v\n", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		// REGISTERED: when the version was registered (the store's
		// Created), not when it was trained.
		// THRESHOLD: the failure threshold; CRITICAL: the model's
		// critical probability, which the daemon follows unless
		// alerting.critical_probability is set ("-" for a model file
		// without one, or registered before it was listed).
		fmt.Fprintln(tw, "ACTIVE\tVERSION\tREGISTERED\tSIZE\tTHRESHOLD\tCRITICAL\tDESCRIPTION")
		for _, m := range ms {
			act := ""
			if m.Active {
				act = "*"
			}
			th, crit := "-", "-"
			if v, ok := m.Metrics["threshold"]; ok {
				th = alert.Probability(v, m.Metrics["critical"])
			}
			if v, ok := m.Metrics["critical"]; ok && v > 0 {
				crit = alert.Probability(v, m.Metrics["threshold"])
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", act, listedVersion(m.Version),
				time.UnixMilli(m.Created).UTC().Format(time.RFC3339), m.Size, th, crit, m.Description)
		}
		_ = tw.Flush()
	case "add":
		// Offline, a model that does not fit is refused for promotion as a
		// daemon refuses it (nothing registered), and registered with a
		// warning otherwise. A file that does not decode is the
		// registry's to refuse.
		ref, warnOnly := ref.orDefaults()
		m, merr := model.Unmarshal(file)
		if merr == nil && *promote && !warnOnly {
			name := m.Meta().Version
			if *version != "" {
				name = *version
			}
			if err := ref.fit(m, name); err != nil {
				fmt.Fprintf(stderr, "omen model add %s: %v: not registered (a daemon would not load it; without --promote it is registered, not promoted)\n", rest[0], err)
				return 1
			}
		}
		// The versions before: adding a file registered already is a
		// no-op (the registry returns its version), to be said so. A
		// list that fails leaves it unsaid.
		before := map[string]api.ModelVersion{}
		if ms, err := reg.Models(ctx); err == nil {
			for _, m := range ms {
				before[m.Version] = m
			}
		}
		v, err := reg.AddModel(ctx, file, api.AddOptions{Promote: *promote, Version: *version})
		if err != nil {
			fmt.Fprintf(stderr, "omen model add %s: %v\n", rest[0], err)
			return 1
		}
		old, existed := before[v.Version]
		existed = existed && old.SHA256 != "" && old.SHA256 == v.SHA256
		switch {
		case existed && old.Active && v.Active:
			fmt.Fprintf(stdout, "already registered as %s, the active model: nothing changed\n", v.Version)
		case existed && !v.Active:
			fmt.Fprintf(stdout, "already registered as %s (not active: omen model promote %s makes it active)\n", v.Version, v.Version)
		case existed:
			fmt.Fprintf(stdout, "already registered as %s\n", v.Version)
		default:
			fmt.Fprintf(stdout, "registered %s\n", v.Version)
		}
		if v.Active && (!existed || !old.Active) {
			fmt.Fprintf(stdout, "active model is now %s\n", v.Version)
			warnNoAlerts(stderr, "omen model add "+rest[0], v)
		}
		if merr == nil && *cf.url == "" {
			switch err := ref.fit(m, v.Version); {
			case err != nil && warnOnly:
				fmt.Fprintf(stderr, "omen model add %s: warning: %v: a daemon with them will not load it\n", rest[0], err)
			case err != nil:
				fmt.Fprintf(stderr, "omen model add %s: warning: %v: registered, but a daemon would not load it (omen model promote refuses it)\n", rest[0], err)
			}
		}
	case "promote", "rollback":
		version := ""
		if sub == "promote" {
			version = rest[0]
		}
		if err := ref.fitTarget(st, version); err != nil {
			fmt.Fprintf(stderr, "omen model %s: %v\n", sub, err)
			return 1
		}
		v, err := reg.SetActive(ctx, version)
		if err != nil {
			fmt.Fprintf(stderr, "omen model %s: %v\n", sub, err)
			return 1
		}
		fmt.Fprintf(stdout, "active model is now %s\n", v.Version)
		warnNoAlerts(stderr, "omen model "+sub, v)
	case "delete":
		v, err := reg.DeleteModel(ctx, rest[0])
		if err != nil {
			fmt.Fprintf(stderr, "omen model delete %s: %v\n", rest[0], err)
			return 1
		}
		fmt.Fprintf(stdout, "deleted %s (sha256 %s)\n", v.Version, v.SHA256)
	}
	return 0
}

// noAlertsConsequence is what a model whose failure threshold is 1 (the
// failure head disabled: trained without failures) does in a daemon,
// which alerts on the failure probability only.
const noAlertsConsequence = "a daemon running it raises no alert (omen alerts on the failure probability only; " +
	"the anomaly score is exported as omen_anomaly_score, not alerted on) and, once it is active, resolves the alerts firing"

// warnNoAlerts warns when the model version v, now active, has a failure
// threshold of 1 or more: its failure head never alerts (trained without
// a failure, see training.Train), which is no error of the registry.
func warnNoAlerts(stderr io.Writer, cmd string, v api.ModelVersion) {
	th, ok := v.Metrics["threshold"]
	if !ok || th < 1 {
		return
	}
	why := ""
	if m, _, _ := strings.Cut(v.Params["threshold_method"], ";"); m != "" {
		why = " (" + m + ")"
	}
	fmt.Fprintf(stderr, "%s: warning: model %q has a failure threshold of %.3g%s: its failure head never alerts: %s\n", cmd, v.Version, th, why, noAlertsConsequence)
}

// featureRef is what offline registry changes check a model's features
// against, as a running daemon checks them against its own (with --url:
// 422, the registry unchanged), so that no model is promoted that the
// daemon will not load when it starts (nothing would be scored): the
// features of the configuration file given, which a daemon started with
// it runs with (and records as the store's schema), else the feature
// schema the store records, the layout the daemon last ran with. A nil
// *featureRef (neither: an offline command without --config.file on a
// store no daemon has run on) checks nothing.
//
// The model's step is checked too, against the configuration's (the file
// given, or the defaults) or the step the store's schema records (a
// daemon records it since it was added; a store it was not recorded in
// checks no step here, and the daemon still refuses such a model when it
// starts): a daemon refuses a model trained at another step (its window
// and horizon would last other durations).
type featureRef struct {
	names   []string
	against string // in messages: "the features of omen.yml (--config.file)"
	step    time.Duration
	stepOf  string // in messages: "the step of omen.yml (--config.file)"
}

// offlineFeatures returns the features offline registry changes check
// models against (see featureRef): those of configFile (cfg, loaded from
// it) when given, else those of st's recorded schema, else nil.
func offlineFeatures(st *store.Store, configFile string, cfg *config.Config) (*featureRef, error) {
	if configFile != "" {
		return &featureRef{names: features.Names(cfg.Config), against: fmt.Sprintf("the features of %s (--config.file)", configFile),
			step: time.Duration(cfg.Step), stepOf: fmt.Sprintf("the step of %s (--config.file)", configFile)}, nil
	}
	s, err := st.Schema()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &featureRef{names: s.Features,
		against: "the features the store records (the layout the daemon last ran with; --config.file FILE checks against the daemon's configuration instead, --config.file /dev/null against the built-in defaults)",
		step:    time.Duration(s.StepMS) * time.Millisecond, stepOf: "the step the store records (the daemon's last; --config.file FILE checks against the daemon's configuration instead)"}, nil
}

// orDefaults returns f, or when f is nil (no --config.file, no recorded
// schema) the default features, which a daemon without --config.file
// runs, with warnOnly set: omen train and omen model add warn when a
// model does not fit them, and refuse nothing.
func (f *featureRef) orDefaults() (ref *featureRef, warnOnly bool) {
	if f != nil {
		return f, false
	}
	def := config.Default()
	return &featureRef{names: features.Names(def.Config),
		against: "the default features (no --config.file, and the store records no feature schema)",
		step:    time.Duration(def.Step), stepOf: "the default step (no --config.file)"}, true
}

// fit returns nil when m fits the features and the step (or f is nil),
// and otherwise an error naming the model (name, its version) and what it
// misses or has in excess, or the steps.
func (f *featureRef) fit(m *model.Model, name string) error {
	if f == nil {
		return nil
	}
	what := "the model"
	if name != "" {
		what = "model " + strconv.Quote(name)
	}
	if err := m.CheckFeatures(f.names); err != nil {
		return fmt.Errorf("%s does not fit %s: %w", what, f.against, err)
	}
	if f.step > 0 {
		if err := m.CheckStep(f.step); err != nil {
			return fmt.Errorf("%s does not fit %s: %w", what, f.stepOf, err)
		}
	}
	return nil
}

// fitTarget checks the model a promotion of version, or a rollback
// (version ""), would make active in st, as a daemon checks it before it
// changes the registry. What st cannot read (an unknown version, no
// previous one) is left to the registry change, whose error says so.
func (f *featureRef) fitTarget(st *store.Store, version string) error {
	if f == nil {
		return nil
	}
	target := version
	if version == "" {
		prev, err := st.PreviousVersion()
		if err != nil {
			return nil
		}
		target = prev
	}
	data, _, err := st.Model(target)
	if err != nil {
		return nil
	}
	m, err := model.Unmarshal(data)
	if err == nil {
		err = f.fit(m, target)
	} else {
		err = fmt.Errorf("load model %q: %w", target, err)
	}
	if err == nil {
		return nil
	}
	stays := "no model is active"
	if cur, _ := st.ActiveVersion(); cur != "" {
		stays = strconv.Quote(cur) + " stays active"
	}
	if version == "" {
		return fmt.Errorf("roll back to %q (%s): %w", target, stays, err)
	}
	return fmt.Errorf("%w: not promoted (%s)", err, stays)
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// loadConfig loads the configuration file (omen run --config.file); none:
// the defaults.
func loadConfig(file string) (*config.Config, error) {
	if file == "" {
		return config.Default(), nil
	}
	return config.LoadFile(file)
}

// offlineStore is how a command opens the store while no daemon runs: as
// the daemon opens it (app.App.Start), under the storage path's badger
// directory with the configuration's storage settings.
type offlineStore struct {
	path string // --storage.path
	// configFile names the configuration storage came from (messages;
	// empty: none, storage is zero: the store's defaults).
	configFile string
	storage    config.StorageConfig
	// diskFree reads the free space of the store's filesystem (nil: the
	// platform's).
	diskFree func(dir string) (uint64, error)
	log      *slog.Logger // receives the store's warnings
}

func (o offlineStore) options() store.Options {
	so := o.storage.StoreOptions(filepath.Join(o.path, "badger"))
	so.DiskFree, so.Logger = o.diskFree, o.log
	return so
}

// openExistingStore opens the store under an existing storage path (not
// creating one where a path is mistyped); when a running daemon holds it,
// the error says to use --url.
func openExistingStore(o offlineStore) (*store.Store, error) {
	return openExisting(o, store.Open)
}

// openRegistryStore is openExistingStore for omen model's registry
// changes and listing (store.OpenRegistry): it opens below the store's
// disk reserve too, down to half of it, so that old versions can be
// deleted and a bad model rolled back while the disk is short.
func openRegistryStore(o offlineStore) (*store.Store, error) {
	return openExisting(o, store.OpenRegistry)
}

// createStore opens the store under the storage path, creating it (and
// the path) when there is none: omen model add --create.
func createStore(o offlineStore) (*store.Store, error) {
	st, err := store.Open(o.options())
	if err != nil {
		return nil, o.openError(err)
	}
	return st, nil
}

func openExisting(o offlineStore, open func(store.Options) (*store.Store, error)) (*store.Store, error) {
	if _, err := os.Stat(filepath.Join(o.path, "badger")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no omen store at %q (--storage.path): give the storage path of the daemon's store (omen run --storage.path), or --url and a running daemon's address to go through it", o.path)
		}
		return nil, err
	}
	st, err := open(o.options())
	if err != nil {
		return nil, o.openError(err)
	}
	return st, nil
}

// openError explains a store held by a running daemon, and one whose
// disk is short of space; other errors are the store's (which name it).
func (o offlineStore) openError(err error) error {
	switch {
	case errors.Is(err, store.ErrInUse):
		return fmt.Errorf("the store at %q is in use by another omen process: a daemon (go through it with --url and the address it listens on, its --web.listen-address: http://127.0.0.1:9464 by default), "+
			"or another omen model or omen train (retry when it ends)", o.path)
	case errors.Is(err, store.ErrDiskFull):
		reserve := "the store's default reserve applies; --config.file FILE applies the daemon's storage.disk_reserve"
		if o.configFile != "" {
			reserve = fmt.Sprintf("the reserve is %s's storage.disk_reserve, or its default", o.configFile)
		}
		return fmt.Errorf("%w: free space on its filesystem (offline, %s; omen model list, promote, rollback and delete open the store down to half of it)", err, reserve)
	}
	return err
}

// clientFlags are the flags of a command that calls a running daemon's API.
type clientFlags struct {
	url, tokenFile, caFile *string
	// required: the command has a default URL, so an empty one is no
	// "without --url" but a mistake.
	required bool
}

func (c *clientFlags) register(fs *flag.FlagSet, defaultURL string) {
	c.required = defaultURL != ""
	c.url = fs.String("url", defaultURL, "base URL of a running omen's API (its --web.listen-address), e.g. http://127.0.0.1:9464, without /api/v1")
	c.tokenFile = fs.String("token-file", "", "file holding the API's bearer token")
	c.caFile = fs.String("ca-file", "", "PEM CA certificates to verify an https URL with (default: the system's)")
}

// check refuses a --url that is not the base URL of an API (checkAPIURL),
// a usage error (exit 2) before any request; an empty one is "without
// --url" unless the command has a default.
func (c *clientFlags) check() error {
	if *c.url == "" && !c.required {
		return nil
	}
	if err := checkAPIURL(*c.url); err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	return nil
}

func (c *clientFlags) client() (*api.Client, error) {
	cl := &api.Client{URL: *c.url, HTTPClient: &http.Client{}, TokenFlag: "--token-file"}
	if *c.tokenFile != "" {
		b, err := os.ReadFile(*c.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("read token file: %w", err)
		}
		cl.Token = strings.TrimSpace(string(b))
	}
	if *c.caFile != "" {
		pem, err := os.ReadFile(*c.caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificates in %s", *c.caFile)
		}
		// The standard transport's proxy (HTTPS_PROXY, NO_PROXY), dial
		// and handshake timeouts and HTTP/2, with the CAs given.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		cl.HTTPClient.Transport = tr
	}
	base := cl.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cl.HTTPClient.Transport = hintTransport{base: base, caFile: *c.caFile}
	return cl, nil
}

// listedVersion is version as omen model list prints it: quoted when it
// has white space around it or a control character (names registered
// before the store refused them), which would break the table.
func listedVersion(version string) string {
	if strings.TrimSpace(version) != version || strings.ContainsFunc(version, unicode.IsControl) {
		return strconv.Quote(version)
	}
	return version
}
