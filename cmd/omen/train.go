package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	pmodel "github.com/prometheus/common/model"

	"github.com/omen-sre/omen/alert"
	omenapi "github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/atomicfile"
	"github.com/omen-sre/omen/internal/promurl"
	"github.com/omen-sre/omen/internal/redact"
	"github.com/omen-sre/omen/internal/words"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/training"
	"github.com/omen-sre/omen/training/dataset"
	"github.com/omen-sre/omen/training/trainrun"
)

// trainCmd implements "omen train": history from CSV folders, the store or
// a Prometheus server → a model file, optionally registered (and promoted)
// in the store's model registry.
func trainCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen train", flag.ContinueOnError)
	source := fs.String("source", "store", "history: csv, store or prometheus")
	dir := fs.String("dir", "", "csv: files, or folders (their *.train.csv(.gz) files, else every *.csv(.gz) file), in the SMD/ASD format (comma-separated): a time column (t, time or timestamp) first, then the features and an optional label column")
	storagePath := fs.String("storage.path", "data/", "store: omen's storage path (also where --register writes)")
	promURL := fs.String("prometheus.url", "", "prometheus: base URL of the server to query_range")
	promHTTPFile := fs.String("prometheus.http-config-file", "", "prometheus: a file of Prometheus's HTTP client configuration (as promtool's --http.config.file): tls_config, basic_auth and authorization, as a prometheus entry of --config.file takes them, for a server secured with TLS, client certificates or credentials; its relative paths are from its own directory, as promtool's (default: a --config.file prometheus entry's of --prometheus.url, if any)")
	configFile := fs.String("config.file", "", "feature, label and entity definitions (the model is for its features: a store's history offline, and CSV columns, are read into them by name, one they lack refused before training), the step and alerting settings, and the storage settings the store is opened with (default: the built-in set); with --url the daemon's step and alerting settings apply, and --source store takes none; offline, --source store reads at the step the store records, and refuses a file of another step")
	lookback := fs.String("history", "7d", "store/prometheus: how much history to read")
	out := fs.String("out", "model.omen", "model file to write (a file: \"-\" is refused, the model is binary)")
	register := fs.Bool("register", false, "register the model in the registry (the store's, or with --url the daemon's)")
	promote := fs.Bool("promote", false, "register and make it the active model (a running daemon uses it at once)")
	var cf clientFlags
	cf.register(fs, "")
	urlTimeout := fs.Duration("url.timeout", 2*time.Minute, "with --url: how long each call to the daemon may go without an answer (the settings, the entity list, the model upload; for an entity's history, its next vectors) before omen train gives up")
	var o training.TrainOptions
	fs.IntVar(&o.Window, "window", 0, "window W in steps (0: 32)")
	fs.IntVar(&o.Horizon, "horizon", 0, "horizon H in steps (0: 10)")
	fs.IntVar(&o.Hidden, "hidden", 0, "LSTM hidden size (0: 64)")
	fs.IntVar(&o.Layers, "layers", 0, "LSTM layers (0: 1)")
	fs.IntVar(&o.Epochs, "epochs", 0, "epochs (0: 10)")
	fs.IntVar(&o.Members, "members", 1, "networks trained from different seeds and averaged into one model file: 1 a single network, more an ensemble (0 counts as 1)")
	fs.Int64Var(&o.Seed, "seed", 1, "seed")
	if rc, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return rc
	}
	if rc, ok := checkSizes(fs.Name(), stderr, []sizeFlag{{"window", o.Window, 2}, {"horizon", o.Horizon, 1},
		{"hidden", o.Hidden, 1}, {"layers", o.Layers, 1}, {"epochs", o.Epochs, 1}, {"members", o.Members, 1}}); !ok {
		return rc
	}
	// The model's limits (--layers 100), before the history is read:
	// the model is made only after it.
	if err := (model.Config{Window: o.Window, Horizon: o.Horizon, Hidden: o.Hidden, Layers: o.Layers}).CheckSizes(); err != nil {
		fmt.Fprintf(stderr, "omen train: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		return 2
	}
	if rc, ok := checkWritable(fs.Name(), "out", *out, stderr); !ok {
		return rc
	}
	if *source == "csv" && readsCSV(strings.Split(*dir, ","), *out) {
		fmt.Fprintf(stderr, "omen train: --out %s is a CSV file --dir reads: the model would replace it; give another file name\n", *out)
		return 2
	}
	if *source == "prometheus" && *promURL != "" {
		// The poller's check: its message hides the password.
		if err := promurl.Check(*promURL); err != nil {
			fmt.Fprintf(stderr, "omen train: --prometheus.url: %v\n", err)
			return 2
		}
	}
	if *promHTTPFile != "" && *source != "prometheus" {
		fmt.Fprintf(stderr, "omen train: --prometheus.http-config-file applies only with --source prometheus (not %s)\n", *source)
		return 2
	}
	if err := cf.check(); err != nil {
		fmt.Fprintf(stderr, "omen train: %v\n", err)
		return 2
	}
	if *urlTimeout <= 0 {
		fmt.Fprintf(stderr, "omen train: --url.timeout %v: want a positive duration (how long a call to the daemon may wait)\n", *urlTimeout)
		return 2
	}
	if *cf.url != "" && *configFile != "" && *source == "store" {
		fmt.Fprintln(stderr, "omen train: --config.file is for the store at --storage.path: with --url the daemon's configuration applies (its step and alerting settings; its stored features)")
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()

	cfg, err := loadConfig(*configFile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	hist, err := pmodel.ParseDuration(*lookback)
	if err != nil {
		fmt.Fprintf(stderr, "omen train: --history: %v\n", err)
		return 2
	}
	if hist <= 0 && *source != "csv" {
		fmt.Fprintf(stderr, "omen train: --history %s: want a positive duration (how much history to read)\n", *lookback)
		return 2
	}
	// With --url, a running daemon serves the history and the registry
	// (it holds the store); else the store at --storage.path.
	var client *omenapi.Client
	if *cf.url != "" {
		c, err := cf.client()
		if err != nil {
			fmt.Fprintf(stderr, "omen train: %v\n", err)
			return 1
		}
		client = c
	}
	var promClient promapi.Client // nil: trainrun's plain one
	if *source == "prometheus" && *promURL != "" {
		h, rc, ok := prometheusClient(*promURL, *promHTTPFile, *configFile, cfg, stderr)
		if !ok {
			return rc
		}
		// Without settings too: its errors say as the daemon's poller's
		// what the server's certificate was checked against.
		hc, err := h.Client("prometheus")
		if err == nil {
			defer hc.CloseIdleConnections()
			promClient, err = promapi.NewClient(promapi.Config{Address: *promURL, Client: hc})
		}
		if err != nil {
			fmt.Fprintf(stderr, "omen train: Prometheus client: %v\n", err)
			return 1
		}
	}
	log := cliLogger(stderr, "omen train")
	res, err := trainrun.Train(ctx, trainrun.Options{
		Source: *source, Dir: *dir, StoragePath: *storagePath, PrometheusURL: *promURL, PrometheusClient: promClient,
		Config: cfg, ConfigFile: *configFile, History: time.Duration(hist),
		Daemon: client, DaemonTimeout: *urlTimeout,
		OpenStore: func() (*store.Store, error) {
			// A wrong path is a mistake to report, not a store to make
			// (no daemon would read a model registered there).
			return openExistingStore(offlineStore{path: *storagePath, configFile: *configFile, storage: cfg.Storage, log: log})
		},
		Registering: *register || *promote,
		Train:       o, Progress: stderr, Logger: log,
		Notice: func(msg string) { fmt.Fprintf(stderr, "omen train: %s\n", msg) },
	})
	var usage *trainrun.UsageError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "omen train: %v\n", err)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "omen train: %v\n", err)
		return 1
	}
	defer func() { _ = res.Close() }()
	m, rep := res.Model, res.Report
	data, err := m.MarshalBinary()
	if err != nil {
		fmt.Fprintf(stderr, "omen train: encode model: %v\n", err)
		return 1
	}
	// Whole or not at all: a failed write (a full disk) leaves the file
	// --out names as it was, a previous good model kept.
	if err := atomicfile.Write(*out, data, 0o644); err != nil {
		fmt.Fprintf(stderr, "omen train: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, trainSummary(m.Meta().Version, *out, rep))
	if rep.Thresholds.Failure >= 1 {
		why := "the training history holds no failure: "
		switch {
		case rep.Positives > 0:
			why = "" // the tail fit on validation probabilities reached 1
		case rep.ValPositives > 0:
			// The failures are all in the held-out part.
			why = fmt.Sprintf("the training part of the history holds no failure (its %d failure windows are all in the validation part, the %s held out); ",
				rep.ValPositives, valPart(rep.ValSplit))
		case rep.FailingSteps > 0 && rep.FailureOnsets == 0:
			// Labelled, but no failure starts inside the history: the
			// failure head learns from the windows before an onset.
			why = fmt.Sprintf("the history holds failures (%d failing %s) but none starts inside it: each is already under way at its series' first step, and the failure head learns from the windows that end before a failure's onset; ",
				rep.FailingSteps, words.Plural(rep.FailingSteps, "step", "steps"))
		case rep.FailingSteps > 0:
			why = fmt.Sprintf("the history holds failures (%d failing %s, %d %s) but no window ends within the horizon before an onset: each failure is under way at its series' first step or starts too early in it (or in its validation part) for a window of %d steps to end before it; ",
				rep.FailingSteps, words.Plural(rep.FailingSteps, "step", "steps"), rep.FailureOnsets, words.Plural(rep.FailureOnsets, "onset", "onsets"), m.Config().Window)
		case *source == "csv":
			why += "no file read has a label column with a 1 in it; "
		case client != nil && *source == "store":
			// The daemon's stored history: its failure labels are its
			// configuration's, not this command's.
			why += fmt.Sprintf("the failure labels (labels: of the daemon at %s) match no step of it; ", redact.URL(client.URL))
		default:
			why += fmt.Sprintf("the failure labels (labels: of %s) match no step of it; ", cmp.Or(*configFile, "the built-in configuration"))
		}
		fmt.Fprintf(stderr, "omen train: warning: %sthe model's failure threshold is %.3g, so its failure head never alerts: %s\n", why, rep.Thresholds.Failure, noAlertsConsequence)
	} else if c := res.Alerting.CriticalProbability; c == 0 {
		// alerting.critical_probability unset: the daemon follows the
		// model's.
		fmt.Fprintf(stdout, "critical from p=%s (the model's critical probability, chosen between the threshold and the highest validation probability, at least a quarter of the threshold's distance to 0 or 1 over it; alerting.critical_probability, unset, follows it)\n",
			alert.Probability(rep.Thresholds.Critical, rep.Thresholds.Failure))
	} else if rep.Thresholds.Failure >= c {
		fmt.Fprintf(stderr, "omen train: warning: the model's failure threshold %s is at or above alerting.critical_probability %g: every alert it fires is critical; set alerting.critical_probability between the threshold and 1 (e.g. %s), or leave it unset to follow the model's (%s), so that severity separates its alerts\n",
			strconv.FormatFloat(rep.Thresholds.Failure, 'g', -1, 64), c, alert.Between(rep.Thresholds.Failure, 1), alert.Probability(rep.Thresholds.Critical, rep.Thresholds.Failure))
	} else if vc := rep.ValCalibration; vc != nil && vc.MaxProb < c && c < 1 {
		// (1 keeps every alert a warning: set so, no mistake.)
		fmt.Fprintf(stderr, "omen train: warning: %s\n", neverCritical(rep.Thresholds, c, vc))
	}
	if *register || *promote {
		v, err := res.Register(ctx, data, trainrun.RegisterOptions{Promote: *promote, Out: *out,
			Check: func(st *store.Store, m *model.Model) error {
				// As omen model add: checked against --config.file's
				// features, else the store's recorded schema (see
				// featureRef); a model that does not fit is not promoted
				// (nothing registered), as a daemon refuses it. With
				// neither, the default features (a daemon without
				// --config.file runs them) only warn.
				ref, err := offlineFeatures(st, *configFile, cfg)
				if err != nil {
					return err
				}
				ref, warnOnly := ref.orDefaults()
				if err := ref.fit(m, m.Meta().Version); err != nil {
					if *promote && !warnOnly {
						return fmt.Errorf("%w: not registered (a daemon would not load it; the model file %s is written)", err, *out)
					}
					fmt.Fprintf(stderr, "omen train: warning: %v: a daemon with them will not load it\n", err)
				}
				return nil
			}})
		if err != nil {
			fmt.Fprintf(stderr, "omen train: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "registered as %s\n", v.Version)
		if v.Active {
			fmt.Fprintf(stdout, "promoted %s\n", v.Version)
		}
	}
	return 0
}

// trainSummary is omen train's line about the model written to out:
// its windows, the failure head's validation scores with their unit
// (validation windows, each one prediction; the threshold method's
// alert-episode figures are of failure onsets and alert groups), the
// threshold and how it was chosen, and the training time.
func trainSummary(version, out string, rep training.TrainReport) string {
	// Windows whose every value is missing (an entity's gaps) teach
	// nothing: say how many of them held data when not all did.
	withData := ""
	if rep.TrainDataWindows != rep.TrainWindows || rep.ValDataWindows != rep.ValWindows {
		withData = fmt.Sprintf(" (%d/%d hold data)", rep.TrainDataWindows, rep.ValDataWindows)
	}
	// The failure head's validation scores are undefined without
	// failures (in training: it is disabled; in validation: nothing to
	// find), as omen eval prints them.
	auc, f1 := "n/a", "n/a"
	if rep.Positives > 0 && rep.ValPositives > 0 {
		auc, f1 = fmt.Sprintf("%.3f", rep.ValAUCPR), fmt.Sprintf("%.3f", rep.ValF1)
	}
	// The threshold as the alert's annotations write probabilities: 3
	// decimals, more below 0.01 (a calibrated threshold of 0.0004 read
	// 0.000).
	return fmt.Sprintf("model %s written to %s: %d entities, %d/%d train/val windows%s, validation windows (one prediction each): AUC-PR %s, F1 %s; threshold %s (%s), %.1fs",
		version, out, rep.Entities, rep.TrainWindows, rep.ValWindows, withData, auc, f1,
		alert.Probability(rep.Thresholds.Failure), rep.Thresholds.Method, rep.TrainSeconds)
}

// prometheusClient returns the client settings (TLS, credentials) of
// omen train --source prometheus for the server at promURL: those of
// httpFile (--prometheus.http-config-file), else those of the prometheus
// entries of the daemon's configuration cfg (from configFile) whose url
// is promURL, as the daemon polls it; zero for none. It writes its error,
// or which settings apply, to stderr: a file that does not read or parse
// is exit 1, as --config.file's, entries of that URL with settings that
// differ exit 2. When cfg has entries with settings but none of promURL
// (localhost for 127.0.0.1), a note names their URLs: none applies.
func prometheusClient(promURL, httpFile, configFile string, cfg *config.Config, stderr io.Writer) (h config.HTTPClientConfig, rc int, ok bool) {
	var entries []int // cfg's prometheus entries of promURL with settings
	if configFile != "" {
		for i, p := range cfg.Prometheus {
			if !p.IsZero() && strings.TrimRight(p.URL, "/") == strings.TrimRight(promURL, "/") {
				entries = append(entries, i)
			}
		}
	}
	if httpFile != "" {
		fh, err := config.LoadHTTPClientConfigFile(httpFile, promURL)
		if err != nil {
			fmt.Fprintf(stderr, "omen train: --prometheus.http-config-file: %v\n", err)
			return h, 1, false
		}
		if len(entries) > 0 {
			fmt.Fprintf(stderr, "omen train: the client settings of --prometheus.http-config-file %s apply, not those of prometheus[%d] of %s\n", httpFile, entries[0], configFile)
		}
		warnInsecureTLS(stderr, "--prometheus.http-config-file "+httpFile, fh)
		return fh, 0, true
	}
	if len(entries) == 0 {
		var others []string // the URLs of cfg's entries with settings
		if configFile != "" {
			for _, p := range cfg.Prometheus {
				if !p.IsZero() {
					others = append(others, redact.URL(p.URL))
				}
			}
		}
		if len(others) > 0 {
			fmt.Fprintf(stderr, "omen train: note: the prometheus entries of %s with client settings (tls_config, basic_auth, authorization) are of %s: none is --prometheus.url %s, so none of their settings apply\n",
				configFile, strings.Join(others, ", "), redact.URL(promURL))
		}
		return h, 0, true
	}
	i := entries[0]
	for _, j := range entries[1:] {
		if cfg.Prometheus[j].HTTPClientConfig != cfg.Prometheus[i].HTTPClientConfig {
			fmt.Fprintf(stderr, "omen train: --prometheus.url is the url of prometheus[%d] and prometheus[%d] of %s, whose tls_config, basic_auth or authorization differ: give the settings to use with --prometheus.http-config-file\n", i, j, configFile)
			return h, 2, false
		}
	}
	h = cfg.Prometheus[i].HTTPClientConfig
	if err := h.CheckFiles(fmt.Sprintf("prometheus[%d]", i)); err != nil {
		fmt.Fprintf(stderr, "omen train: %s: %v\n", configFile, err)
		return h, 1, false
	}
	fmt.Fprintf(stderr, "omen train: the client settings (tls_config, basic_auth, authorization) of prometheus[%d] of %s, whose url is --prometheus.url, apply\n", i, configFile)
	warnInsecureTLS(stderr, fmt.Sprintf("prometheus[%d] of %s", i, configFile), h)
	return h, 0, true
}

// warnInsecureTLS warns on stderr when the client settings h (from
// where) accept any certificate, as omen run and omen check config do.
func warnInsecureTLS(stderr io.Writer, where string, h config.HTTPClientConfig) {
	if h.TLSConfig.InsecureSkipVerify {
		fmt.Fprintf(stderr, "omen train: warning: %s: %s\n", where, app.InsecureTLSMessage)
	}
}

// neverCritical says that the model's validation probabilities (vc)
// stay under alerting.critical_probability c: with a calibrated failure
// probability, often far below 1 %, its alerts would be critical only
// above what validation ever reached, so all of them warnings. It
// suggests leaving it unset, to follow the model's critical probability
// (th.Critical, between the failure threshold and the highest
// validation probability), when the model has one.
func neverCritical(th model.Thresholds, c float64, vc *training.Calibration) string {
	thr := th.Failure
	top := ""
	if n := len(vc.Bins); n > 1 {
		top = fmt.Sprintf(", the top %d %%'s mean %s", 100/n, alert.Probability(vc.Bins[n-1].MeanProb, thr))
	}
	msg := fmt.Sprintf("the model's validation probabilities never reach alerting.critical_probability %g (the highest is %s%s; the failure threshold %s): "+
		"its alerts would become critical only above what validation ever reached, so they would all be warnings",
		c, alert.Probability(vc.MaxProb, thr), top, alert.Probability(thr, vc.MaxProb))
	if th.Critical > thr && th.Critical < 1 {
		msg += fmt.Sprintf("; leave alerting.critical_probability unset to follow the model's critical probability (%s, between the threshold and the highest validation probability), or set it so, so that severity separates its alerts",
			alert.Probability(th.Critical, thr))
	}
	return msg
}

// valPart says what the validation split (Report.ValSplit) held out.
func valPart(split string) string {
	if split == "entity" {
		return "entities"
	}
	return "last 20 % of the history, one cut time for every entity" // omen train's time split
}

// readsCSV reports whether out is, or would be, one of the CSV files
// (*.csv, *.csv.gz) that --dir's paths name or hold.
func readsCSV(paths []string, out string) bool {
	if !strings.HasSuffix(out, ".csv") && !strings.HasSuffix(out, ".csv.gz") {
		return false
	}
	fo, err := os.Stat(out)
	if err != nil {
		fo = nil
	}
	do, err := os.Stat(filepath.Dir(out))
	if err != nil {
		return false
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		switch {
		case err != nil:
		case st.IsDir() && os.SameFile(st, do):
			base := filepath.Base(out)
			if slices.ContainsFunc(dataset.DirPatterns(p), func(pat string) bool { m, _ := filepath.Match(pat, base); return m }) {
				return true
			}
		case !st.IsDir() && fo != nil && os.SameFile(st, fo):
			return true
		}
	}
	return false
}
