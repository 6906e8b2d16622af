package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	pmodel "github.com/prometheus/common/model"

	"github.com/omen-sre/omen/alert"
	omenapi "github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/training"
	"github.com/omen-sre/omen/training/dataset"
	"github.com/omen-sre/omen/training/storesource"
)

// trainCmd implements "omen train": history from CSV folders, the store or
// a Prometheus server → a model file, optionally registered (and promoted)
// in the store's model registry.
func trainCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen train", flag.ContinueOnError)
	source := fs.String("source", "store", "history: csv, store or prometheus")
	dir := fs.String("dir", "", "csv: folders or files in the SMD/ASD format (comma-separated)")
	storagePath := fs.String("storage.path", "data/", "store: omen's storage path (also where --register writes)")
	promURL := fs.String("prometheus.url", "", "prometheus: base URL of the server to query_range")
	configFile := fs.String("config.file", "", "feature, label and entity definitions, the step and alerting settings, and the storage settings the store is opened with (default: the built-in set); with --url the daemon's step and alerting settings apply, and --source store takes none; offline, --source store reads at the step the store records, and refuses a file of another step")
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
	fs.IntVar(&o.Members, "members", 1, "networks trained from different seeds and averaged into one model file (an ensemble; 0: the default)")
	fs.Int64Var(&o.Seed, "seed", 1, "seed")
	if rc, ok := parseNoArgs(fs, args, stderr); !ok {
		return rc
	}
	if rc, ok := checkSizes(fs.Name(), stderr, []sizeFlag{{"window", o.Window, 2}, {"horizon", o.Horizon, 1},
		{"hidden", o.Hidden, 1}, {"layers", o.Layers, 1}, {"epochs", o.Epochs, 1}, {"members", o.Members, 1}}); !ok {
		return rc
	}
	if rc, ok := checkWritable(fs.Name(), "out", *out, stderr); !ok {
		return rc
	}
	if *source == "csv" && readsCSV(strings.Split(*dir, ","), *out) {
		fmt.Fprintf(stderr, "omen train: --out %s is a CSV file --dir reads: the model would replace it; give another file name\n", *out)
		return 2
	}
	if *source == "prometheus" && *promURL != "" {
		if u, err := url.Parse(*promURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fmt.Fprintf(stderr, "omen train: --prometheus.url %q: want the server's base URL, http://host:port or https://host:port\n", *promURL)
			return 2
		}
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
	var daemon daemonHistory
	if *cf.url != "" {
		c, err := cf.client()
		if err != nil {
			fmt.Fprintf(stderr, "omen train: %v\n", err)
			return 1
		}
		client = c
		daemon = daemonHistory{c: omenapi.HistoryClient{Client: c}, ctx: ctx, url: c.URL, timeout: *urlTimeout}
	}
	// The step the history is read at and the alert rule the threshold
	// is chosen for: the configuration's, or with --url the daemon's (the
	// model is for it; its vectors are stored at its step).
	step, alerting := time.Duration(cfg.Resolved().Step), cfg.Alerting
	// The features whose value makes a stored vector a row of the daemon's
	// windows: the vectors of absent entities, stored for their failure
	// labels, are none. The configuration's, or with --url the daemon's.
	presence := app.PresenceFeatures(cfg)
	if client != nil && *source != "csv" {
		var hs *omenapi.HistorySettings
		err := daemon.call(func(ctx context.Context) (err error) {
			hs, err = daemon.c.Settings(ctx)
			return err
		})
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Nothing stored yet: the source says so below.
		case err != nil:
			fmt.Fprintf(stderr, "omen train: the daemon's settings: %v\n", err)
			return 1
		case hs == nil:
			fmt.Fprintf(stderr, "omen train: warning: the daemon at %s does not say its step and alerting settings (an older omen): using %v and the alerting settings of %s\n",
				client.URL, step, cmp.Or(*configFile, "the built-in configuration"))
		default:
			if *configFile != "" && time.Duration(hs.StepMs)*time.Millisecond != step {
				fmt.Fprintf(stderr, "omen train: the daemon's step %v, not the %v of %s, applies (the model is for the daemon)\n",
					time.Duration(hs.StepMs)*time.Millisecond, step, *configFile)
			}
			step = time.Duration(hs.StepMs) * time.Millisecond
			alerting.For, alerting.ResolveRatio, alerting.MinLead = hs.AlertFor, hs.AlertResolveRatio, pmodel.Duration(time.Duration(hs.AlertMinLeadMs)*time.Millisecond)
			if hs.PresenceFeatures != nil {
				presence = hs.PresenceFeatures
			}
			// The severity the daemon gives the model's alerts: an older
			// omen does not say, the local value stands.
			if hs.AlertCriticalProbability != nil {
				alerting.CriticalProbability = *hs.AlertCriticalProbability
			}
		}
		if *source == "store" && err == nil && (hs == nil || hs.PresenceFeatures == nil) {
			fmt.Fprintf(stderr, "omen train: warning: the daemon at %s does not say which features make a stored vector a row of its windows (an older omen): using those of %s\n",
				client.URL, cmp.Or(*configFile, "the built-in configuration"))
		}
	}
	var st *store.Store
	openStore := func(open func(offlineStore) (*store.Store, error)) error {
		if st != nil {
			return nil
		}
		s, err := open(offlineStore{path: *storagePath, configFile: *configFile, storage: cfg.Storage, log: cliLogger(stderr, "omen train")})
		if err != nil {
			return err
		}
		st = s
		return nil
	}
	defer func() {
		if st != nil {
			_ = st.Close()
		}
	}()
	// storeStep makes the step the one the offline store records (the
	// daemon's last, as --url takes the daemon's), st being open: history
	// read, or a model registered, at another step does not fit the
	// stored vectors and the daemon (omen model promote refuses it).
	storeStep := func() (int, bool) {
		rec, err := recordedStep(st)
		if err != nil {
			fmt.Fprintf(stderr, "omen train: %v\n", err)
			return 1, false
		}
		switch {
		case rec == 0:
			// Not recorded (a store of an older daemon, or a new
			// store): the configuration's step.
		case *configFile == "":
			fmt.Fprintf(stderr, "omen train: the step the store records (the daemon's last), %v, applies; the alert rule the threshold is chosen for is the built-in one "+
				"(the store does not record alerting.for, resolve_ratio or min_lead: --config.file FILE applies the daemon's)\n", rec)
			step = rec
		case rec != step:
			fmt.Fprintf(stderr, "omen train: the store's history is at a step of %v (the daemon's last, which its schema records), not the %v of %s: "+
				"a model trained at %v would not fit the daemon (omen model promote refuses it): give --config.file the configuration the daemon runs with, or none (the recorded step applies)\n",
				rec, step, *configFile, step)
			return 1, false
		}
		return 0, true
	}
	where := *storagePath
	if client != nil {
		where = client.URL
	}
	now := time.Now()
	switch *source {
	case "csv":
		if *dir == "" {
			fmt.Fprintln(stderr, "omen train: --source csv needs --dir")
			return 2
		}
		o.Source = &dataset.CSVSource{Paths: strings.Split(*dir, ",")}
		o.TrainedOn = "csv:" + *dir
	case "store":
		var r storesource.Reader = daemon
		if client == nil {
			// A wrong path is a mistake to report, not a store to make.
			if err := openStore(openExistingStore); err != nil {
				fmt.Fprintf(stderr, "omen train: %v\n", err)
				return 1
			}
			r = st
			if rc, ok := storeStep(); !ok {
				return rc
			}
			// The daemon's presence features, which its schema records
			// (its last, as --url takes the daemon's): the local
			// configuration's may differ from what it ran with.
			rec, ok, err := recordedPresence(st)
			switch {
			case errors.Is(err, store.ErrNotFound):
				// Nothing stored yet: the source says so below.
			case err != nil:
				fmt.Fprintf(stderr, "omen train: %v\n", err)
				return 1
			case ok:
				if *configFile != "" && !slices.Equal(rec, presence) {
					fmt.Fprintf(stderr, "omen train: the features that make a stored vector a row of the daemon's windows are those the store records (the daemon's last: %s), not those of %s (%s)\n",
						listOrNone(rec), *configFile, listOrNone(presence))
				}
				presence = rec
			default:
				fmt.Fprintf(stderr, "omen train: warning: the store does not record which features make a stored vector a row of the daemon's windows (written by an older omen): using those of %s\n",
					cmp.Or(*configFile, "the built-in configuration"))
			}
		}
		o.Source = &storesource.Source{Store: r, From: now.Add(-time.Duration(hist)).UnixMilli(), To: now.UnixMilli(), Step: step.Milliseconds(),
			Presence: presence, Progress: stderr}
		o.TrainedOn = "store:" + where
	case "prometheus":
		if *promURL == "" {
			fmt.Fprintln(stderr, "omen train: --source prometheus needs --prometheus.url")
			return 2
		}
		if (*register || *promote) && client == nil {
			// The model goes into the store at --storage.path: at the
			// step it records, checked before training.
			if _, err := os.Stat(filepath.Join(*storagePath, "badger")); err == nil {
				if err := openStore(openExistingStore); err != nil {
					fmt.Fprintf(stderr, "omen train: %v\n", err)
					return 1
				}
				if rc, ok := storeStep(); !ok {
					return rc
				}
			}
		}
		pc, err := api.NewClient(api.Config{Address: *promURL})
		if err != nil {
			fmt.Fprintf(stderr, "prometheus client: %v\n", err)
			return 1
		}
		res := cfg.Resolved()
		ps := &dataset.PrometheusSource{API: v1.NewAPI(pc), EntityLabels: res.EntityLabels,
			Start: now.Add(-time.Duration(hist)), End: now, Step: step, Progress: stderr}
		for _, f := range res.Features {
			ps.Features = append(ps.Features, dataset.NamedQuery{Name: f.Name, Query: f.Expr})
		}
		for _, l := range res.Labels {
			if l.Expr != "" {
				ps.Failures = append(ps.Failures, dataset.NamedQuery{Name: l.Name, Query: l.Expr})
			}
		}
		o.Source = ps
		o.TrainedOn = "prometheus:" + *promURL
	default:
		fmt.Fprintf(stderr, "omen train: unknown --source %q (want csv, store or prometheus)\n", *source)
		return 2
	}
	if *source != "csv" {
		o.Step = step // recorded in the model: a daemon of another step refuses it
		// Failure labels from the configured definitions: choose the
		// threshold by what the daemon's alert rule would have done.
		o.Alerts = &training.AlertRule{For: alerting.For, ResolveRatio: alerting.ResolveRatio,
			MinLead: training.LeadSteps(time.Duration(alerting.MinLead), step), MissingSteps: alert.DefaultMissingSteps}
	}
	o.Progress = stderr
	// Its warnings (entities skipped as too short, a split that fell back
	// to the time split) say why a history is refused.
	o.Logger = cliLogger(stderr, "omen train")
	o.Version = "v" + now.UTC().Format("20060102T150405Z")
	m, rep, err := training.Train(ctx, o)
	if errors.Is(err, storesource.ErrNoData) {
		from, to := now.Add(-time.Duration(hist)).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)
		// Vectors that could not be mapped into the current schema are
		// not an empty store: say which were skipped, and why.
		var nd *storesource.NoDataError
		if errors.As(err, &nd) && nd.SkippedDetail() != "" {
			fmt.Fprintf(stderr, "omen train: no usable feature data in %s between %s and %s: %s\n", where, from, to, nd.SkippedDetail())
			return 1
		}
		fmt.Fprintf(stderr, "omen train: no feature data in %s between %s and %s (has omen run ingested anything?)\n", where, from, to)
		return 1
	}
	if errors.Is(err, dataset.ErrNoSeries) && *configFile == "" {
		fmt.Fprintf(stderr, "omen train: %v: these are the built-in features, of Kubernetes metrics (kube-state-metrics, cAdvisor): give --config.file the configuration with the features the daemon runs\n", err)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "omen train: %v\n", err)
		return 1
	}
	data, err := m.MarshalBinary()
	if err != nil {
		fmt.Fprintf(stderr, "encode model: %v\n", err)
		return 1
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fmt.Fprintf(stderr, "write model: %v\n", err)
		return 1
	}
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
	fmt.Fprintf(stdout, "model %s written to %s: %d entities, %d/%d train/val windows%s, val AUC-PR %s, val F1 %s, threshold %.3f (%s), %.1fs\n",
		m.Meta().Version, *out, rep.Entities, rep.TrainWindows, rep.ValWindows, withData, auc, f1,
		rep.Thresholds.Failure, rep.Thresholds.Method, rep.TrainSeconds)
	if rep.Thresholds.Failure >= 1 {
		why := "the training history holds no failure: "
		switch {
		case rep.Positives > 0:
			why = "" // the tail fit on validation probabilities reached 1
		case rep.ValPositives > 0:
			// The failures are all in the held-out part.
			why = fmt.Sprintf("the training part of the history holds no failure (its %d failure windows are all in the validation part, the %s held out); ",
				rep.ValPositives, valPart(rep.ValSplit))
		case *source == "csv":
			why += "no file has a label column with a 1 in it; "
		default:
			why += fmt.Sprintf("the failure labels (labels: of %s) match no step of it; ", cmp.Or(*configFile, "the built-in configuration"))
		}
		fmt.Fprintf(stderr, "omen train: warning: %sthe model's failure threshold is %.3g, so its failure head never alerts: %s\n", why, rep.Thresholds.Failure, noAlertsConsequence)
	} else if c := alerting.CriticalProbability; rep.Thresholds.Failure >= c {
		fmt.Fprintf(stderr, "omen train: warning: the model's failure threshold %s is at or above alerting.critical_probability %g: every alert it fires is critical; set alerting.critical_probability between the threshold and 1 (e.g. %s) so that severity separates its alerts\n",
			strconv.FormatFloat(rep.Thresholds.Failure, 'g', -1, 64), c, alert.Between(rep.Thresholds.Failure, 1))
	}
	if *register || *promote {
		var reg omenapi.ModelAdmin
		if client != nil {
			reg = client
		} else {
			if err := openStore(createStore); err != nil {
				fmt.Fprintf(stderr, "omen train: %v\n", err)
				return 1
			}
			// As omen model add: checked against --config.file's features,
			// else the store's recorded schema (see featureRef); a model
			// that does not fit is not promoted (nothing registered), as
			// a daemon refuses it. With neither, the default features
			// (a daemon without --config.file runs them) only warn.
			ref, err := offlineFeatures(st, *configFile, cfg)
			if err != nil {
				fmt.Fprintf(stderr, "omen train: %v\n", err)
				return 1
			}
			ref, warnOnly := ref.orDefaults()
			if err := ref.fit(m, m.Meta().Version); err != nil {
				if *promote && !warnOnly {
					fmt.Fprintf(stderr, "omen train: %v: not registered (a daemon would not load it; the model file %s is written)\n", err, *out)
					return 1
				}
				fmt.Fprintf(stderr, "omen train: warning: %v: a daemon with them will not load it\n", err)
			}
			reg = app.NewRegistry(st, *out)
		}
		var v omenapi.ModelVersion
		add := func(ctx context.Context) (err error) {
			v, err = reg.AddModel(ctx, data, omenapi.AddOptions{Promote: *promote})
			return err
		}
		if client != nil {
			if err = daemon.call(add); errors.Is(err, errCallTimeout) {
				err = fmt.Errorf("%w (omen model list --url says whether it registered the model)", err)
			}
		} else {
			err = add(ctx)
		}
		if err != nil {
			fmt.Fprintf(stderr, "omen train: register %s: %v\n", *out, err)
			return 1
		}
		fmt.Fprintf(stdout, "registered as %s\n", v.Version)
		if v.Active {
			fmt.Fprintf(stdout, "promoted %s\n", v.Version)
		}
	}
	return 0
}

// daemonHistory reads a running daemon's history for training's store
// source (storesource.Reader and storesource.SchemaLister, which take no
// context): each call is bound to ctx (omen train's: Ctrl-C stops it)
// and may wait timeout for the daemon, so that a stalled daemon fails
// the command with an error naming the call and the URL instead of
// holding it. An entity's history streams for as long as it takes: the
// timeout bounds each wait for its next vectors, not fn's work.
type daemonHistory struct {
	c       omenapi.HistoryClient
	ctx     context.Context
	url     string
	timeout time.Duration
}

// errCallTimeout is wrapped by the error of a call to the daemon that
// waited longer than --url.timeout.
var errCallTimeout = errors.New("did not answer within --url.timeout")

// callIdle runs f with a context cancelled when f waits longer than
// d.timeout for the daemon; its error then wraps errCallTimeout, with
// the URL and the timeout. f calls reset(false) before work of its own
// (not a wait for the daemon) and reset(true) after it: the timeout
// counts from then.
func (d daemonHistory) callIdle(f func(ctx context.Context, reset func(waiting bool)) error) error {
	ctx, cancel := context.WithCancelCause(d.ctx)
	defer cancel(nil)
	timeout := fmt.Errorf("the daemon at %s %w %v", d.url, errCallTimeout, d.timeout)
	timer := time.AfterFunc(d.timeout, func() { cancel(timeout) })
	defer timer.Stop()
	err := f(ctx, func(waiting bool) {
		if waiting {
			timer.Reset(d.timeout)
		} else {
			timer.Stop()
		}
	})
	if err != nil && errors.Is(context.Cause(ctx), errCallTimeout) && !errors.Is(err, errCallTimeout) {
		// An error that does not say why (the HTTP client's say).
		return fmt.Errorf("%w: %w", timeout, err)
	}
	return err
}

// call is callIdle for a call that only waits for the daemon.
func (d daemonHistory) call(f func(ctx context.Context) error) error {
	return d.callIdle(func(ctx context.Context, _ func(bool)) error { return f(ctx) })
}

// Schema implements storesource.Reader.
func (d daemonHistory) Schema() (s store.Schema, err error) {
	err = d.call(func(ctx context.Context) (err error) {
		s, err = d.c.Schema(ctx)
		return err
	})
	return s, err
}

// Schemas implements storesource.SchemaLister.
func (d daemonHistory) Schemas() (ss []store.Schema, err error) {
	err = d.call(func(ctx context.Context) (err error) {
		ss, err = d.c.Schemas(ctx)
		return err
	})
	return ss, err
}

// Entities implements storesource.Reader.
func (d daemonHistory) Entities() (es []store.EntityInfo, err error) {
	err = d.call(func(ctx context.Context) (err error) {
		es, err = d.c.Entities(ctx)
		return err
	})
	return es, err
}

// Vectors implements storesource.Reader: the timeout bounds each wait
// for the daemon's next vector, not the whole history.
func (d daemonHistory) Vectors(entity string, from, to int64, fn func(store.Vector) error) error {
	return d.callIdle(func(ctx context.Context, reset func(bool)) error {
		return d.c.Vectors(ctx, entity, from, to, func(v store.Vector) error {
			reset(false)
			defer reset(true)
			return fn(v)
		})
	})
}

// recordedStep returns the step the store's schema records (the daemon's
// last), or 0 when it records none (no schema, or one of an older daemon).
func recordedStep(st *store.Store) (time.Duration, error) {
	sc, err := st.Schema()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("read the store's schema: %w", err)
	}
	return time.Duration(sc.StepMS) * time.Millisecond, nil
}

// recordedPresence returns the presence features the store's schema
// records (the daemon's last, store.Schema.Presence), and whether it
// records them (not: a schema of an older omen). Without a schema the
// error wraps store.ErrNotFound.
func recordedPresence(st *store.Store) ([]string, bool, error) {
	sc, err := st.Schema()
	if err != nil {
		return nil, false, fmt.Errorf("read the store's schema: %w", err)
	}
	return sc.Presence, sc.Presence != nil, nil
}

// listOrNone joins names with commas, or says "none".
func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
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
