package trainrun

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	pmodel "github.com/prometheus/common/model"

	"github.com/omen-sre/omen/alert"
	omenapi "github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/redact"
	"github.com/omen-sre/omen/internal/words"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/registry"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/training"
	"github.com/omen-sre/omen/training/dataset"
	"github.com/omen-sre/omen/training/storesource"
)

// Options configure Train.
type Options struct {
	// Source is the history: "csv", "store" or "prometheus".
	Source string
	// Dir is the csv source's folders or files in the SMD/ASD format,
	// comma-separated.
	Dir string
	// StoragePath is omen's storage path: the store source's offline
	// (without Daemon), and where Register writes; in messages.
	StoragePath string
	// PrometheusURL is the prometheus source's server base URL.
	PrometheusURL string
	// PrometheusClient, when not nil, is the prometheus source's client
	// of PrometheusURL: one with TLS and credentials
	// (config.HTTPClientConfig's transport); nil: a plain one.
	PrometheusClient api.Client
	// Config holds the feature, label and entity definitions, the step
	// and the alerting settings (with Daemon, the daemon's step and
	// alerting settings apply).
	Config *config.Config
	// ConfigFile names the file Config was loaded from, empty for the
	// built-in configuration: messages name it, offline the store's
	// recorded step and presence features apply only without it, and
	// with it the model is of its features (the store source offline and
	// the csv source read the history into them by name).
	ConfigFile string
	// History is how much history the store and prometheus sources read,
	// up to Now.
	History time.Duration
	// Daemon, when not nil, is a running daemon's API: it serves the
	// store source's history, its settings and the registry.
	Daemon *omenapi.Client
	// DaemonTimeout bounds each wait for Daemon: a call, or the wait for
	// an entity's next vectors; the error of a call that waited longer
	// names the call and the URL.
	DaemonTimeout time.Duration
	// OpenStore opens the existing offline store at StoragePath (a
	// missing one is an error: no daemon would read a store made there).
	// Train opens it to read the store source's history, and closes it
	// once the history is read (a daemon can start on it while the model
	// trains); Register opens it again.
	OpenStore func() (*store.Store, error)
	// Registering says the model is to be registered: offline, the store
	// is then opened before training, its absence (or a daemon holding
	// it) refused at once, and the prometheus source checks its step.
	Registering bool
	// Train sets the model's sizes and seed; Train sets its Source,
	// TrainedOn, Step, Alerts, Onset, Progress, Logger and Version.
	Train training.TrainOptions
	// Progress receives the sources' and the training's progress.
	Progress io.Writer
	// Logger receives the training's warnings.
	Logger *slog.Logger
	// Notice receives the messages about the settings that apply and
	// the warnings ("warning: …"), one line each, without a newline.
	Notice func(msg string)
	// Now is the end of the history and names the model's version (zero:
	// time.Now()).
	Now time.Time
}

// UsageError is the error of options that do not go together (a source
// without what it reads): the command's usage, not the history.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Result is a trained model, with what it was trained at. Close it.
type Result struct {
	Model  *model.Model
	Report training.TrainReport
	// Step is the step the history was read at (the model's, except for
	// the csv source).
	Step time.Duration
	// Alerting holds the alert rule the threshold was chosen for and the
	// critical probability: the configuration's, or the daemon's.
	Alerting config.AlertingConfig
	// Where names the store source's history (StoragePath, or the
	// daemon's URL).
	Where string

	o      Options
	st     *store.Store
	daemon daemonHistory
}

// Close closes the offline store Train or Register opened.
func (r *Result) Close() error {
	if r.st == nil {
		return nil
	}
	err := r.st.Close()
	r.st = nil
	return err
}

// msgError is an error whose text is the command's message for err.
type msgError struct {
	msg string
	err error
}

func (e *msgError) Error() string { return e.msg }
func (e *msgError) Unwrap() error { return e.err }

// Train reads the history of o.Source at the step the model is for and
// trains a model on it (see the package documentation). Its errors are
// messages for the command to print; *UsageError marks o's mistakes.
func Train(ctx context.Context, o Options) (*Result, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Notice == nil {
		o.Notice = func(string) {}
	}
	r := &Result{o: o, Where: o.StoragePath}
	if o.Daemon != nil {
		r.daemon = daemonHistory{c: omenapi.HistoryClient{Client: o.Daemon}, ctx: ctx, url: o.Daemon.URL, timeout: o.DaemonTimeout}
		r.Where = o.Daemon.URL
	}
	if err := r.train(ctx); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Result) train(ctx context.Context) error {
	o, cfg, client := r.o, r.o.Config, r.o.Daemon
	// The step the history is read at and the alert rule the threshold
	// is chosen for: the configuration's, or with a daemon the daemon's
	// (the model is for it; its vectors are stored at its step).
	r.Step, r.Alerting = time.Duration(cfg.Resolved().Step), cfg.Alerting
	// The features whose value makes a stored vector a row of the daemon's
	// windows: the vectors of absent entities, stored for their failure
	// labels, are none. The configuration's, or the daemon's.
	presence := cfg.PresenceFeatures()
	if client != nil && o.Source != "csv" {
		var err error
		if presence, err = r.daemonSettings(presence); err != nil {
			return err
		}
	}
	var trainOpts = o.Train
	switch o.Source {
	case "csv":
		if o.Dir == "" {
			return &UsageError{"--source csv needs --dir"}
		}
		cs := &dataset.CSVSource{Paths: strings.Split(o.Dir, ","), Notice: o.Notice}
		if o.ConfigFile != "" {
			// The model is for FILE's features: the files' columns are
			// read into them by name, a file lacking one refused.
			cs.Features, cs.FeaturesOf = cfg.FeatureNames(), o.ConfigFile
		} else {
			// Columns that are the built-in features in another order
			// are read in theirs (a daemon refuses the model otherwise).
			cs.Order, cs.OrderOf = cfg.FeatureNames(), "the built-in configuration"
		}
		if o.Registering && client == nil {
			// The store the model goes into, checked before training.
			if err := r.openStore(); err != nil {
				return err
			}
			if sc, err := r.st.Schema(); err == nil && o.ConfigFile == "" {
				// The model is checked against the features the
				// store records.
				cs.Order, cs.OrderOf = sc.Features, "the store's feature schema (the daemon's last)"
			}
			if err := r.Close(); err != nil {
				return err
			}
		}
		trainOpts.Source = cs
		trainOpts.TrainedOn = "csv:" + o.Dir
	case "store":
		var hr storesource.Reader = r.daemon
		if client == nil {
			// A wrong path is a mistake to report, not a store to make.
			if err := r.openStore(); err != nil {
				return err
			}
			hr = r.st
			if err := r.storeStep(); err != nil {
				return err
			}
			var err error
			if presence, err = r.storePresence(presence); err != nil {
				return err
			}
		}
		ss := &storesource.Source{Store: hr, From: o.Now.Add(-o.History).UnixMilli(), To: o.Now.UnixMilli(), Step: r.Step.Milliseconds(),
			Presence: presence, Progress: o.Progress}
		if client == nil && o.ConfigFile != "" {
			// The model is for FILE's features (a daemon started with
			// it checks it against them): the stored vectors are mapped
			// into them by name.
			var err error
			if ss.Features, err = r.storeFeatures(); err != nil {
				return err
			}
			ss.FeaturesOf = o.ConfigFile
		}
		var src training.Source = ss
		if client == nil {
			// The store is closed once the history is read: training
			// may take hours, and a daemon can start on it meanwhile.
			src = closingSource{src, r.Close}
		}
		trainOpts.Source = src
		trainOpts.TrainedOn = "store:" + r.Where
	case "prometheus":
		if o.PrometheusURL == "" {
			return &UsageError{"--source prometheus needs --prometheus.url"}
		}
		if o.Registering && client == nil {
			// The model goes into the store at StoragePath: at the
			// step it records, checked before training (and the store
			// closed: a daemon can start on it meanwhile).
			if err := r.openStore(); err != nil {
				return err
			}
			err := r.storeStep()
			if cerr := r.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
		res := cfg.Resolved()
		names := make([]string, len(res.Features))
		for i, f := range res.Features {
			names[i] = f.Name
		}
		if client != nil {
			// The model is for the daemon, which refuses one of other
			// features: checked before any query.
			if err := r.daemonFeatures(names); err != nil {
				return err
			}
		} else if err := r.eventFeatures(); err != nil {
			return err
		}
		pc := o.PrometheusClient
		if pc == nil {
			var err error
			if pc, err = api.NewClient(api.Config{Address: o.PrometheusURL}); err != nil {
				return fmt.Errorf("prometheus client: %w", err)
			}
		}
		ps := &dataset.PrometheusSource{API: v1.NewAPI(pc), URL: o.PrometheusURL, EntityLabels: res.EntityLabels,
			Start: o.Now.Add(-o.History), End: o.Now, Step: r.Step, Progress: o.Progress}
		for _, f := range res.Features {
			ps.Features = append(ps.Features, dataset.NamedQuery{Name: f.Name, Query: f.Expr})
		}
		for _, l := range res.Labels {
			if l.Expr != "" {
				ps.Failures = append(ps.Failures, dataset.NamedQuery{Name: l.Name, Query: l.Expr})
			}
		}
		trainOpts.Source = ps
		// The model's metadata is shown (the model list, the daemon's
		// log): no password.
		trainOpts.TrainedOn = "prometheus:" + redact.URL(o.PrometheusURL)
	default:
		return &UsageError{fmt.Sprintf("unknown --source %q (want csv, store or prometheus)", o.Source)}
	}
	if o.Source != "csv" {
		trainOpts.Step = r.Step // recorded in the model: a daemon of another step refuses it
		// Failure labels from the configured definitions: choose the
		// threshold by what the daemon's alert rule would have done.
		trainOpts.Alerts = &training.AlertRule{For: r.Alerting.For, ResolveRatio: r.Alerting.ResolveRatio, ResolveFor: r.Alerting.ResolveFor,
			MinLead: training.LeadSteps(time.Duration(r.Alerting.MinLead), r.Step), MissingSteps: alert.DefaultMissingSteps}
	}
	// The model predicts failures that have not begun (the daemon's
	// alert resolves once one is under way): a window ending at a
	// failing step is no example, neither positive nor negative, so
	// that the model learns the precursors of a failure, not the
	// failure itself (as the demo trains).
	trainOpts.Onset = true
	trainOpts.Progress = o.Progress
	// Its warnings (entities skipped as too short, a split that fell back
	// to the time split) say why a history is refused.
	trainOpts.Logger = o.Logger
	trainOpts.Version = "v" + o.Now.UTC().Format("20060102T150405Z")
	m, rep, err := training.Train(ctx, trainOpts)
	if errors.Is(err, storesource.ErrNoData) {
		from, to := o.Now.Add(-o.History).UTC().Format(time.RFC3339), o.Now.UTC().Format(time.RFC3339)
		// Vectors that could not be mapped into the current schema are
		// not an empty store: say which were skipped, and why.
		var nd *storesource.NoDataError
		if errors.As(err, &nd) && nd.SkippedDetail() != "" {
			return &msgError{fmt.Sprintf("no usable feature data in %s between %s and %s: %s", r.Where, from, to, nd.SkippedDetail()), err}
		}
		return &msgError{fmt.Sprintf("no feature data in %s between %s and %s (has omen run ingested anything?)", r.Where, from, to), err}
	}
	if errors.Is(err, dataset.ErrNoSeries) && o.ConfigFile == "" {
		return fmt.Errorf("%w: these are the built-in features, of Kubernetes metrics (kube-state-metrics, cAdvisor): give --config.file the configuration with the features the daemon runs", err)
	}
	if err != nil {
		return err
	}
	r.Model, r.Report = m, rep
	return nil
}

// daemonSettings applies the daemon's step and alerting settings and
// returns its presence features (presence, the configuration's, when it
// does not say them).
func (r *Result) daemonSettings(presence []string) ([]string, error) {
	o := r.o
	var hs *omenapi.HistorySettings
	err := r.daemon.call(func(ctx context.Context) (err error) {
		hs, err = r.daemon.c.Settings(ctx)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Nothing stored yet: the source says so.
	case err != nil:
		return nil, fmt.Errorf("the daemon's settings: %w", err)
	case hs == nil:
		o.Notice(fmt.Sprintf("warning: the daemon at %s does not say its step and alerting settings (an older omen): using %v and the alerting settings of %s",
			o.Daemon.URL, r.Step, builtinOr(o.ConfigFile)))
	default:
		step := time.Duration(hs.StepMs) * time.Millisecond
		if o.ConfigFile != "" && step != r.Step {
			o.Notice(fmt.Sprintf("the daemon's step %v, not the %v of %s, applies (the model is for the daemon)", step, r.Step, o.ConfigFile))
		}
		r.Step = step
		r.Alerting.For, r.Alerting.ResolveRatio, r.Alerting.MinLead = hs.AlertFor, hs.AlertResolveRatio, pmodel.Duration(time.Duration(hs.AlertMinLeadMs)*time.Millisecond)
		// An omen older than resolve_for does not say it: it resolved at
		// the first step below, resolve_for 1.
		r.Alerting.ResolveFor = max(hs.AlertResolveFor, 1)
		if hs.PresenceFeatures != nil {
			presence = hs.PresenceFeatures
		}
		// The severity the daemon gives the model's alerts: unset, the
		// model's (0); an older omen does not say, the local value
		// stands.
		switch {
		case hs.AlertCriticalFromModel:
			r.Alerting.CriticalProbability = 0
		case hs.AlertCriticalProbability != nil:
			r.Alerting.CriticalProbability = *hs.AlertCriticalProbability
		}
	}
	if o.Source == "store" && err == nil && (hs == nil || hs.PresenceFeatures == nil) {
		o.Notice(fmt.Sprintf("warning: the daemon at %s does not say which features make a stored vector a row of its windows (an older omen): using those of %s",
			o.Daemon.URL, builtinOr(o.ConfigFile)))
	}
	return presence, nil
}

// closingSource is the offline store's history source: it closes the
// store (close) once the history is loaded, read or not.
type closingSource struct {
	training.Source
	close func() error
}

// Load implements training.Source.
func (s closingSource) Load(ctx context.Context) ([]*dataset.Series, error) {
	series, err := s.Source.Load(ctx)
	if cerr := s.close(); err == nil && cerr != nil {
		return nil, fmt.Errorf("close the store: %w", cerr)
	}
	return series, err
}

// daemonFeatures refuses the prometheus source's features (names: the
// configuration's PromQL features, in order, the model's) when they are
// not the features the daemon runs, which its schema records (it refuses
// such a model: 422 at the registration); the error names the features
// missing and unexpected. A daemon with nothing stored has no schema to
// check against: the registration checks.
func (r *Result) daemonFeatures(names []string) error {
	o := r.o
	sc, err := r.daemon.Schema()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("the daemon's features: %w", err)
	case slices.Equal(sc.Features, names):
		return nil
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	runs := make(map[string]bool, len(sc.Features))
	for _, n := range sc.Features {
		runs[n] = true
	}
	var missing, unexpected []string
	for _, n := range sc.Features {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	for _, n := range names {
		if !runs[n] {
			unexpected = append(unexpected, n)
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing "+quoteList(missing)+" (the daemon's, not PromQL features here)")
	}
	if len(unexpected) > 0 {
		parts = append(parts, "unexpected "+quoteList(unexpected)+" (not the daemon's)")
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("in another order (the daemon's: %s)", quoteList(sc.Features)))
	}
	msg := fmt.Sprintf("the PromQL features of %s are not those the daemon at %s runs: %s: it would refuse the model (nothing queried, nothing trained)",
		builtinOr(o.ConfigFile), o.Daemon.URL, strings.Join(parts, ", "))
	var events []string
	for _, e := range o.Config.EventFeatures {
		if slices.Contains(missing, e.Name) {
			events = append(events, e.Name)
		}
	}
	if len(events) > 0 {
		msg += fmt.Sprintf("; %s: event features (Kubernetes events), which Prometheus does not serve: train on the daemon's own history instead (--source store --url)", quoteList(events))
	}
	if len(events) < len(missing) || len(unexpected) > 0 || len(missing) == 0 {
		msg += "; give --config.file the configuration the daemon runs with"
	}
	return errors.New(msg)
}

// eventFeatures checks, before any query, the event features (Kubernetes
// events) of the configuration the prometheus source trains for without a
// daemon: Prometheus does not serve them, so the model lacks them and a
// daemon running them refuses it, as --url's check says (daemonFeatures).
// With --config.file (the model is for its features) that is an error;
// with the built-in configuration a warning (Notice), as omen model add
// only warns of the default features: a daemon without --config.file
// runs them, but omen train cannot tell that the model is for one.
func (r *Result) eventFeatures() error {
	o := r.o
	if len(o.Config.EventFeatures) == 0 {
		return nil
	}
	events := make([]string, len(o.Config.EventFeatures))
	for i, e := range o.Config.EventFeatures {
		events[i] = e.Name
	}
	what := fmt.Sprintf("%s: event features (Kubernetes events), which Prometheus does not serve", quoteList(events))
	if o.ConfigFile == "" {
		o.Notice(fmt.Sprintf("warning: the built-in features include %s: the model is of the %d PromQL features only, and a daemon running the built-in features will not load it; "+
			"train on the daemon's own history instead (--source store --url), or give --config.file the configuration the daemon runs, without event_features",
			what, len(o.Config.Features)))
		return nil
	}
	fix := "remove event_features from " + o.ConfigFile
	of := o.ConfigFile
	if slices.Equal(o.Config.FeatureNames(), config.Default().FeatureNames()) {
		// A file without features, event_features and labels has the
		// built-in ones.
		of += " (the built-in ones: it lists none of features, event_features and labels)"
		fix = "list in " + o.ConfigFile + " the PromQL features and labels to use (docs/features.default.yml's, without event_features)"
	}
	return fmt.Errorf("the features of %s include %s: a model trained from Prometheus would lack them, and a daemon running %s would refuse it (nothing queried, nothing trained); "+
		"train on the daemon's own history instead (--source store --url), or %s and run the daemon with it",
		of, what, o.ConfigFile, fix)
}

// quoteList quotes names and joins them with commas.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// openStore opens the offline store, unless it is open.
func (r *Result) openStore() error {
	if r.st != nil {
		return nil
	}
	st, err := r.o.OpenStore()
	if err != nil {
		return err
	}
	r.st = st
	return nil
}

// storeStep makes the step the one the offline store records (the
// daemon's last, as a daemon's own applies), the store being open:
// history read, or a model registered, at another step does not fit
// the stored vectors and the daemon (omen model promote refuses it).
func (r *Result) storeStep() error {
	o := r.o
	rec, err := recordedStep(r.st)
	if err != nil {
		return err
	}
	switch {
	case rec == 0:
		// Not recorded (a store of an older daemon, or a new store):
		// the configuration's step.
	case o.ConfigFile == "":
		o.Notice(fmt.Sprintf("the step the store records (the daemon's last), %v, applies; the alert rule the threshold is chosen for is the built-in one "+
			"(the store does not record alerting.for, resolve_ratio, resolve_for or min_lead: --config.file FILE applies the daemon's)", rec))
		r.Step = rec
	case rec != r.Step:
		return fmt.Errorf("the store's history is at a step of %v (the daemon's last, which its schema records), not the %v of %s: "+
			"a model trained at %v would not fit the daemon (omen model promote refuses it): give --config.file the configuration the daemon runs with, or none (the recorded step applies)",
			rec, r.Step, o.ConfigFile, r.Step)
	}
	return nil
}

// storePresence returns the daemon's presence features, which the
// offline store's schema records (its last, as a daemon's own apply):
// the local configuration's (presence) may differ from what it ran
// with; they stand when the store records none.
func (r *Result) storePresence(presence []string) ([]string, error) {
	o := r.o
	rec, ok, err := recordedPresence(r.st)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Nothing stored yet: the source says so.
	case err != nil:
		return nil, err
	case ok:
		if o.ConfigFile != "" && !slices.Equal(rec, presence) {
			o.Notice(fmt.Sprintf("the features that make a stored vector a row of the daemon's windows are those the store records (the daemon's last: %s), not those of %s (%s)",
				listOrNone(rec), o.ConfigFile, listOrNone(presence)))
		}
		presence = rec
	default:
		o.Notice(fmt.Sprintf("warning: the store does not record which features make a stored vector a row of the daemon's windows (written by an older omen): using those of %s",
			builtinOr(o.ConfigFile)))
	}
	return presence, nil
}

// storeFeatures returns the features of the configuration file, which
// the offline store source reads the history into, the store being open;
// when the file names a feature that no schema version the store records
// has (the history holds no value of it), the error names them, before
// any history is read. A store without a schema has no history: the
// source says so.
func (r *Result) storeFeatures() ([]string, error) {
	o := r.o
	want := o.Config.FeatureNames()
	all, err := r.st.Schemas()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return want, nil
	case err != nil:
		return nil, fmt.Errorf("read the store's schemas: %w", err)
	case len(all) == 0:
		return want, nil
	}
	stored := map[string]bool{}
	for _, sc := range all {
		for _, f := range sc.Features {
			stored[f] = true
		}
	}
	var none []string
	for _, f := range want {
		if !stored[f] {
			none = append(none, f)
		}
	}
	cur := all[len(all)-1]
	if sc, err := r.st.Schema(); err == nil {
		cur = sc
	}
	if len(none) > 0 {
		return nil, fmt.Errorf("%s names %s %s that no feature schema the store at %s records has: its history holds no value of %s (the store's current features: %s); "+
			"nothing trained: give --config.file the configuration the history was stored with, or train once a daemon running %s has stored some",
			o.ConfigFile, words.Plural(len(none), "a feature", "features"), quoteList(none), o.StoragePath, words.Plural(len(none), "it", "them"), quoteList(cur.Features), o.ConfigFile)
	}
	if !slices.Equal(want, cur.Features) {
		var dropped []string
		for _, f := range cur.Features {
			if !slices.Contains(want, f) {
				dropped = append(dropped, f)
			}
		}
		msg := fmt.Sprintf("the history is read into the %d features of %s, mapped by name from the store's (the daemon's last: %d features)", len(want), o.ConfigFile, len(cur.Features))
		if len(dropped) > 0 {
			msg += "; not in " + o.ConfigFile + ", not read: " + strings.Join(dropped, ", ")
		}
		o.Notice(msg)
	}
	return want, nil
}

// RegisterOptions configure Result.Register.
type RegisterOptions struct {
	// Promote makes the model the active one (a running daemon uses it
	// at once).
	Promote bool
	// Out is the model file written: the offline registry's source, in
	// messages.
	Out string
	// Check, when not nil, is called offline before the model is
	// registered in st: its error refuses it.
	Check func(st *store.Store, m *model.Model) error
}

// Register registers the model, encoded as data, in the daemon's
// registry or, offline, the store's at StoragePath, opened again (Train
// closed it; Close closes it).
func (r *Result) Register(ctx context.Context, data []byte, ro RegisterOptions) (omenapi.ModelVersion, error) {
	var reg omenapi.ModelAdmin
	if r.o.Daemon != nil {
		reg = r.o.Daemon
	} else {
		if err := r.openStore(); err != nil {
			// A daemon started on it while the model trained, say.
			return omenapi.ModelVersion{}, fmt.Errorf("register %s: %w; the model file %[1]s is written: omen model add %[1]s registers it (with --url through a running daemon)", ro.Out, err)
		}
		if ro.Check != nil {
			if err := ro.Check(r.st, r.Model); err != nil {
				return omenapi.ModelVersion{}, err
			}
		}
		reg = registry.New(r.st, ro.Out)
	}
	var v omenapi.ModelVersion
	add := func(ctx context.Context) (err error) {
		v, err = reg.AddModel(ctx, data, omenapi.AddOptions{Promote: ro.Promote})
		return err
	}
	var err error
	if r.o.Daemon != nil {
		if err = r.daemon.call(add); errors.Is(err, errCallTimeout) {
			err = fmt.Errorf("%w (omen model list --url says whether it registered the model)", err)
		}
	} else {
		err = add(ctx)
	}
	if err != nil {
		return omenapi.ModelVersion{}, fmt.Errorf("register %s: %w", ro.Out, err)
	}
	return v, nil
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

// builtinOr names the configuration file, or the built-in configuration.
func builtinOr(configFile string) string {
	return cmp.Or(configFile, "the built-in configuration")
}

// listOrNone joins names with commas, or says "none".
func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
