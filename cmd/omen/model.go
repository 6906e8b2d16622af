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

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/store"
)

const modelUsage = `usage: omen model list|add FILE [--version NAME] [--promote]|promote VERSION|rollback|delete VERSION [flags]

Manages the model registry: through a running daemon's API with --url (it
holds the store, and uses a promoted model at once), or in the store at
--storage.path while no daemon runs. add registers a model file (omen train
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
the free-space reserve too, down to half of it; add does not.

flags:`

// modelCmd implements "omen model list|add FILE|promote VERSION|rollback|delete VERSION",
// on a running daemon's registry (--url) or directly on the store.
func modelCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen model", flag.ContinueOnError)
	storagePath := fs.String("storage.path", "data/", "omen's storage path (without --url; the daemon must not be running)")
	var cf clientFlags
	cf.register(fs, "")
	promote := fs.Bool("promote", false, "add: also make the model active")
	version := fs.String("version", "", "add: register the model under this version instead of the file's (refused when taken or deleted)")
	timeout := fs.Duration("timeout", time.Minute, "with --url: how long to wait for the API")
	fs.Usage = func() {
		fmt.Fprintln(stderr, modelUsage)
		fs.PrintDefaults()
	}
	if rc, ok := parseFlags(fs, args, stderr); !ok {
		return rc
	}
	sub, rest := "", []string(nil)
	if fs.NArg() > 0 {
		sub, rest = fs.Arg(0), fs.Args()[1:]
	}
	want := map[string]int{"list": 0, "add": 1, "promote": 1, "rollback": 0, "delete": 1}
	n, known := want[sub]
	switch {
	case sub == "help":
		fs.Usage()
		return 0
	case !known:
		if sub == "" {
			fs.Usage()
		} else {
			fmt.Fprintf(stderr, "omen model: unknown subcommand %q (want list, add, promote, rollback or delete)\n", sub)
		}
		return 2
	case len(rest) != n:
		fmt.Fprintf(stderr, "omen model %s: want %d argument(s), got %q\n", sub, n, rest)
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
	}
	var file []byte
	if sub == "add" {
		b, err := os.ReadFile(rest[0])
		if err != nil {
			fmt.Fprintf(stderr, "omen model add: %v\n", err)
			return 1
		}
		file = b
	}
	var reg api.ModelAdmin
	if *cf.url != "" {
		c, err := cf.client()
		if err != nil {
			fmt.Fprintf(stderr, "omen model: %v\n", err)
			return 1
		}
		reg = c
	} else {
		open := openRegistryStore
		if sub == "add" {
			open = createStore // registering into a new storage path is fine
		}
		st, err := open(*storagePath, storeLogger(stderr))
		if err != nil {
			fmt.Fprintf(stderr, "omen model: %v\n", err)
			return 1
		}
		defer st.Close()
		reg = app.NewRegistry(st, "omen model add")
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
		fmt.Fprintln(tw, "ACTIVE\tVERSION\tCREATED\tSIZE\tDESCRIPTION")
		for _, m := range ms {
			act := ""
			if m.Active {
				act = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", act, listedVersion(m.Version),
				time.UnixMilli(m.Created).UTC().Format(time.RFC3339), m.Size, m.Description)
		}
		_ = tw.Flush()
	case "add":
		v, err := reg.AddModel(ctx, file, api.AddOptions{Promote: *promote, Version: *version})
		if err != nil {
			fmt.Fprintf(stderr, "omen model add %s: %v\n", rest[0], err)
			return 1
		}
		fmt.Fprintf(stdout, "registered %s\n", v.Version)
		if v.Active {
			fmt.Fprintf(stdout, "active model is now %s\n", v.Version)
		}
	case "promote", "rollback":
		version := ""
		if sub == "promote" {
			version = rest[0]
		}
		v, err := reg.SetActive(ctx, version)
		if err != nil {
			fmt.Fprintf(stderr, "omen model %s: %v\n", sub, err)
			return 1
		}
		fmt.Fprintf(stdout, "active model is now %s\n", v.Version)
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

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// openExistingStore opens the store under an existing storage path (not
// creating one where a path is mistyped); when a running daemon holds it,
// the error says to use --url.
func openExistingStore(storagePath string, log *slog.Logger) (*store.Store, error) {
	return openExisting(storagePath, log, store.Open)
}

// openRegistryStore is openExistingStore for omen model's registry
// changes and listing (store.OpenRegistry): it opens below the store's
// disk reserve too, down to half of it, so that old versions can be
// deleted and a bad model rolled back while the disk is short.
func openRegistryStore(storagePath string, log *slog.Logger) (*store.Store, error) {
	return openExisting(storagePath, log, store.OpenRegistry)
}

func openExisting(storagePath string, log *slog.Logger, open func(store.Options) (*store.Store, error)) (*store.Store, error) {
	if _, err := os.Stat(filepath.Join(storagePath, "badger")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no omen store at %q (--storage.path)", storagePath)
		}
		return nil, err
	}
	st, err := open(storeOptions(storagePath, log))
	if err != nil {
		return nil, storeOpenError(storagePath, err)
	}
	return st, nil
}

// createStore opens the store under storagePath, creating it if needed.
func createStore(storagePath string, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(storeOptions(storagePath, log))
	if err != nil {
		return nil, storeOpenError(storagePath, err)
	}
	return st, nil
}

// storeDiskFree is the free-space reader of the stores the commands open
// (tests; nil: the platform's).
var storeDiskFree func(dir string) (uint64, error)

func storeOptions(storagePath string, log *slog.Logger) store.Options {
	return store.Options{Path: filepath.Join(storagePath, "badger"), DiskFree: storeDiskFree, Logger: log}
}

// storeLogger is the logger of the stores the commands open: the store's
// warnings (such as a format upgrade, after which an older omen cannot
// open it) go to w.
func storeLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// storeOpenError explains a store held by a running daemon, and one whose
// disk is short of space; other errors are the store's (which name it).
func storeOpenError(storagePath string, err error) error {
	switch {
	case strings.Contains(err.Error(), "Cannot acquire directory lock"):
		return fmt.Errorf("the store at %q is in use (by a running omen?): go through the daemon with --url http://127.0.0.1:9464 (its --web.listen-address)", storagePath)
	case errors.Is(err, store.ErrDiskFull):
		return fmt.Errorf("%w: free space on its filesystem (offline, the default reserve applies; a running daemon, through --url, uses its configured storage.disk_reserve and promotes, rolls back and deletes down to half of it)", err)
	}
	return err
}

// clientFlags are the flags of a command that calls a running daemon's API.
type clientFlags struct {
	url, tokenFile, caFile *string
}

func (c *clientFlags) register(fs *flag.FlagSet, defaultURL string) {
	c.url = fs.String("url", defaultURL, "base URL of a running omen's API (its --web.listen-address), e.g. http://127.0.0.1:9464")
	c.tokenFile = fs.String("token-file", "", "file holding the API's bearer token")
	c.caFile = fs.String("ca-file", "", "PEM CA certificates to verify an https URL with (default: the system's)")
}

func (c *clientFlags) client() (*api.Client, error) {
	cl := &api.Client{URL: *c.url, HTTPClient: &http.Client{}}
	if *c.tokenFile != "" {
		b, err := os.ReadFile(*c.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("read token: %w", err)
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
		cl.HTTPClient.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
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
