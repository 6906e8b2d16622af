package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	pmodel "github.com/prometheus/common/model"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/atomicfile"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/sim"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/training"
	"github.com/omen-sre/omen/training/storesource"
)

// Options configure Run and Eval.
type Options struct {
	// onHistory, when set, is called as the history starts to be
	// published (Run: from then on the store holds this run's time).
	onHistory func()
	// App holds the daemon's options (listen addresses, storage path,
	// Alertmanager URLs, logger). Its Config is replaced by SimConfig.
	App app.Options
	// Seed of the simulated fleet. Default 1.
	Seed int64
	// Speed is simulated seconds per real second in the live phase.
	// Default 20.
	Speed float64
	// History is the simulated history trained on. Default 24h.
	History time.Duration
	// Live is the simulated time of the live phase's failure schedule
	// (the fleet keeps running after it). Default 4h.
	Live time.Duration
	// ModelFile loads a model instead of training one.
	ModelFile string
	// SaveModel, if set, writes the trained model there.
	SaveModel string
	// Train tunes the training run (zero fields: the demo's defaults).
	Train training.TrainOptions
	// Out receives progress and the alert lines. Default os.Stdout.
	Out io.Writer
}

func (o *Options) defaults() {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Speed == 0 {
		o.Speed = 20
	}
	if o.History == 0 {
		o.History = 24 * time.Hour
	}
	if o.Live == 0 {
		o.Live = 4 * time.Hour
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.App.Logger == nil {
		o.App.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
}

// Step is the simulated scrape interval and omen's evaluation step.
const Step = 15 * time.Second

// Horizon is the prediction horizon in steps (10 simulated minutes).
const Horizon = 40

// defaultWindow is the window TrainOnStore trains with, in steps: 8
// minutes, long enough to tell a precursor building over 10–25 minutes
// from a short glitch (16 steps could not).
const defaultWindow = 32

// SimConfig is omen's configuration for the simulated fleet: the default
// Kubernetes features plus the simulator's precursor features, the fleet's
// call graph, and ingest limits that admit simulated time running ahead of
// the wall clock.
func SimConfig(f *sim.Fleet) *config.Config {
	c := config.Default()
	c.Config = sim.FeatureConfig()
	c.Step = pmodel.Duration(Step)
	c.SetDefaults()
	c.Ingest.MaxSampleAge = pmodel.Duration(400 * 24 * time.Hour)
	c.Ingest.MaxSampleFuture = pmodel.Duration(400 * 24 * time.Hour)
	// Simulated days are published in minutes and evaluated as they come:
	// the stream needs no days of backlog (a 4-fleet "eval sim" would
	// otherwise keep about 12 GB).
	c.NATS.MaxBytes = 1 << 30
	c.Dependencies = nil
	for _, e := range f.Graph() {
		c.Dependencies = append(c.Dependencies, config.Dependency{Source: e.From, Target: e.To, Weight: 1})
	}
	return c
}

// schedule places as many scenarios as fit over the history and the live
// phase (one at a time: about one an hour); none when not even one fits
// (as when d is under 45 minutes).
func schedule(seed int64, d time.Duration) ([]sim.ScenarioSpec, error) {
	for n := int(d / (45 * time.Minute)); n > 0; n-- {
		specs, err := sim.Schedule(seed, d, sim.ScheduleOptions{N: n})
		if err == nil {
			return specs, nil
		}
	}
	return nil, nil
}

// withOpening clears the first 40 simulated minutes of the live phase
// (which starts at live) and puts a strong memory-growth failure there,
// its precursor starting as the live phase does, so that a new user sees
// an alert with its causes within the demo's first minutes instead of
// waiting for the schedule's next scenario.
func withOpening(specs []sim.ScenarioSpec, live time.Duration) []sim.ScenarioSpec {
	const (
		lead   = 12 * time.Minute
		clearF = 40 * time.Minute
	)
	fails := live + lead + 2*time.Minute
	out := specs[:0]
	for _, s := range specs {
		from := s.At - s.Lead
		to := s.At + max(s.FailFor, sim.DefaultFailFor)
		if to < live || from > live+clearF {
			out = append(out, s)
		}
	}
	return append(out, sim.ScenarioSpec{Kind: sim.MemoryGrowth, At: fails, Lead: lead, Strength: 1})
}

// validate rejects options no run can use (after defaults).
func (o *Options) validate() error {
	switch {
	case o.History < 0 || o.Live < 0:
		return fmt.Errorf("negative history %v or live phase %v", o.History, o.Live)
	case !(o.Speed > 0) || math.IsInf(o.Speed, 0):
		return fmt.Errorf("speed %g, want a positive number of simulated seconds per real second", o.Speed)
	}
	return CheckHistory("history", o.History, o.ModelFile == "", o.Train)
}

// MinHistory is the shortest simulated history TrainOnStore trains on
// with the training options t (zero fields: the demo's defaults). With
// the time split (training's default, and its fallback when too few
// entities are held out whole) every entity's first 1-ValFraction must
// hold more than Window+Horizon steps and its last ValFraction more than
// Window+1, and the pods' validation parts together give the anomaly
// threshold's training.MinValWindows windows (training.MinHistorySteps;
// the fleet's 29 pods give them at the first bound); the entity splits
// need less. A history of
// n steps gives each pod about n-10 steps of vectors (measured with the
// demo: the first steps fill the features' rate windows, the last few are
// not evaluated when training starts), so MinHistory adds historyMargin
// steps.
func MinHistory(t training.TrainOptions) time.Duration {
	w, h, f := t.Window, t.Horizon, t.ValFraction
	if w == 0 {
		w = defaultWindow
	}
	if h == 0 {
		h = Horizon
	}
	if !(f > 0 && f < 1) {
		f = 0.2
	}
	pods := 0
	for _, s := range sim.DefaultServices() {
		pods += s.Replicas
	}
	return time.Duration(training.MinHistorySteps(w, h, f, pods)+historyMargin) * Step
}

// historyMargin is the steps of a published history that the pods'
// series lack (see MinHistory).
const historyMargin = 12

// CheckHistory returns an error unless d (the flag name's value) holds
// enough steps: MinHistory's when a model is trained on it, else one step
// (a publisher of no steps would run until stopped).
func CheckHistory(name string, d time.Duration, train bool, t training.TrainOptions) error {
	switch min := MinHistory(t); {
	case train && d < min:
		return fmt.Errorf("--%s %v is too short to train on: want at least %v (%d steps of %v, for the training and validation windows of each pod)",
			name, d, min, min/Step, Step)
	case d < Step:
		return fmt.Errorf("--%s %v holds no step: want at least %v", name, d, Step)
	}
	return nil
}

// CheckStorage returns an error unless path is a directory the demo can
// start from: missing or empty. A used store cannot serve: its simulated
// time (which ran ahead of the wall clock in its live phase) is past the
// new run's, so the daemon would skip the new history as already
// evaluated and show the old run's alerts.
func CheckStorage(path string) error {
	ents, err := os.ReadDir(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			// A dangling symbolic link: creating the store failed with
			// "mkdir PATH: file exists".
			target, _ := os.Readlink(path) //nolint:errcheck // named when read
			return fmt.Errorf("the storage path %q is a symbolic link to %q, which does not exist: create the directory it names, or give another --storage.path", path, target)
		}
		return nil
	case err != nil:
		return fmt.Errorf("storage path: %w", err)
	case len(ents) > 0:
		var names []string
		store := false
		for _, e := range ents {
			names = append(names, e.Name())
			store = store || e.Name() == "badger" || e.Name() == "nats"
		}
		if len(names) > 3 {
			names = append(names[:3], "…")
		}
		found := fmt.Sprintf("holds files (%s), not a store", strings.Join(names, ", "))
		if store {
			found = fmt.Sprintf("holds a store (%s) used before, whose simulated time is ahead of a new run's", strings.Join(names, ", "))
		}
		return fmt.Errorf("the storage path %q is not empty: it %s; "+
			"give a new or empty --storage.path, remove this one, or leave --storage.path out for a temporary directory", path, found)
	}
	return nil
}

// Run is "omen demo": the embedded NATS server, a simulated fleet, a model
// trained on simulated history (or loaded), and the daemon scoring the
// live fleet, printing alerts with their causes and lead times until ctx
// ends. The store is o.App.StoragePath, which must be missing or empty
// (CheckStorage), or else a temporary directory removed at the end.
func Run(ctx context.Context, o Options) error {
	o.defaults()
	if err := o.validate(); err != nil {
		return err
	}
	out := o.Out
	storage := o.App.StoragePath
	historyStarted := false
	if o.App.StoragePath == "" {
		dir, err := os.MkdirTemp("", "omen-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.App.StoragePath = dir
		storage = dir + " (temporary: removed when the demo stops)"
	} else if err := CheckStorage(o.App.StoragePath); err != nil {
		return err
	} else {
		// Until the history starts, the store holds nothing of this run's
		// simulated time: when the run fails before (a busy port), what it
		// created goes, so that a retry is not refused as a used store.
		created := !exists(o.App.StoragePath)
		defer func() {
			if !historyStarted {
				removeNew(o.App.StoragePath, created)
			}
		}()
	}
	// What the daemon and training advise an operator on (no model yet,
	// short entities skipped) is the demo's normal course: info, not warn.
	o.App.Logger = slog.New(demoHandler{o.App.Logger.Handler()})
	start := time.Now().Add(-o.History).Truncate(Step)
	specs, err := schedule(o.Seed, o.History+o.Live)
	if err != nil {
		return fmt.Errorf("schedule scenarios: %w", err)
	}
	specs = withOpening(specs, o.History)
	fleet, err := sim.New(sim.Options{Seed: o.Seed, Start: start, Step: Step, Scenarios: specs})
	if err != nil {
		return fmt.Errorf("create fleet: %w", err)
	}
	o.App.Config = SimConfig(fleet)
	o.App.WallClock = false
	newAlertPrinter(out, fleet.Truth).install(&o.App)
	a, err := app.New(o.App)
	if err != nil {
		return err
	}
	if o.App.NATSURL != "" {
		if err := checkExternalStream(ctx, o.App.NATSURL, a.NATSClientOptions(), o.App.Config.NATS.Stream); err != nil {
			return err
		}
	}
	// Ctrl-C in any phase stops the demo cleanly: "stopping", no error.
	stopped := func(err error) error {
		if ctx.Err() != nil {
			// On a line of its own after a progress bar.
			fmt.Fprintln(out, "\nstopping")
			return nil
		}
		return err
	}
	if err := a.Start(ctx); err != nil {
		return stopped(err)
	}
	defer a.Stop(context.Background()) //nolint:errcheck // logged by Stop
	// https when the web server serves TLS: it answers http:// with 400.
	web := "http://" + a.Addr()
	if o.App.TLSCertFile != "" {
		web = "https://" + a.Addr()
	}
	fmt.Fprintf(out, "omen demo: web UI %s/ui/  metrics %s/metrics  NATS %s\n", web, web, app.RedactNATSURL(a.NATSURL()))
	fmt.Fprintf(out, "storage: %s\n", storage)
	fmt.Fprintf(out, "simulated fleet: %d pods, %d scenarios (seed %d)\n", len(fleet.Pods()), len(specs), o.Seed)

	// The fleet's publisher reconnects as the daemon does, riding out an
	// outage of an external server (sim.Publisher.Run publishes the tick
	// again once reconnected).
	nc, err := nats.Connect(a.NATSURL(), append(append(a.NATSClientOptions(), app.NATSReconnectOptions()...), nats.Name("omen-demo-sim"))...)
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()

	histTicks := int(o.History / Step)
	o.onHistory = func() { historyStarted = true }
	if err := ensureModel(ctx, a, fleet, nc, o, histTicks); err != nil {
		return stopped(err)
	}
	fmt.Fprintf(out, "live: the fleet runs at %gx; alerts are printed as they fire, escalate and resolve (Ctrl-C stops)\n", o.Speed)
	pub, err := sim.NewPublisher(fleet, sim.PublisherOptions{}, prometheus.NewRegistry(), o.App.Logger)
	if err != nil {
		return err
	}
	err = runUntilDone(ctx, a, func(ctx context.Context) error { return pub.Run(ctx, nc, o.Speed) })
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(out, "stopping")
		return nil
	}
	return stopped(err)
}

// checkExternalStream returns an error when the stream on the NATS
// server at rawURL (--nats.url, connected to with opts: --nats.creds-file
// and the like) holds messages: a previous demo's, whose
// simulated time ran ahead of the clock in its live phase, would be
// consumed before the new run's history (which then waited at 0.0%, as a
// used store's time did). The demo does not purge a stream it may not
// own.
func checkExternalStream(ctx context.Context, rawURL string, opts []nats.Option, name string) error {
	nc, err := nats.Connect(rawURL, append(opts, nats.Name("omen-demo-check"))...)
	// What the errors show: a password or token in the URL hidden.
	url := app.RedactNATSURL(rawURL)
	if err != nil {
		return fmt.Errorf("connect to NATS %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("NATS %s: %w", url, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("NATS %s: look up stream %s: %w", url, name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("NATS %s: stream %s: %w", url, name, err)
	}
	if n := info.State.Msgs; n > 0 {
		return fmt.Errorf("the stream %s on %s holds %d messages, which would be consumed first (a previous demo's are ahead of a new run's simulated time): "+
			"if only a previous demo filled it, purge it (nats stream purge %s); %s is also omen run's default stream, so on a server a daemon uses, "+
			"give the demo another server, or leave --nats.url out for the embedded one", name, url, n, name, name)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// removeNew removes what a run created in the storage directory path,
// which was empty (or, with created, missing) when it started: the
// daemon's store and embedded NATS directories, and path itself when the
// run created it and nothing else is in it. Files another process put
// there meanwhile stay.
func removeNew(path string, created bool) {
	for _, d := range []string{"badger", "nats"} {
		os.RemoveAll(filepath.Join(path, d)) //nolint:errcheck // best effort: CheckStorage names what is left
	}
	if created {
		os.Remove(path) //nolint:errcheck // only when empty
	}
}

// ensureModel makes sure the daemon has an active model for the fleet's
// features: the registry's, a file's, or one trained now on simulated
// history published through NATS (the real ingest path).
func ensureModel(ctx context.Context, a *app.App, fleet *sim.Fleet, nc *nats.Conn, o Options, histTicks int) error {
	out := o.Out
	names := a.FeatureNames()
	if o.ModelFile != "" {
		data, err := os.ReadFile(o.ModelFile)
		if err != nil {
			return fmt.Errorf("read model: %w", err)
		}
		m, err := model.Unmarshal(data)
		if err != nil {
			return fmt.Errorf("load model %q: %w", o.ModelFile, err)
		}
		if err := m.CheckFeatures(names); err != nil {
			return fmt.Errorf("model %q: %w", o.ModelFile, err)
		}
		th := m.Thresholds().Failure
		fmt.Fprintf(out, "model: %s from %s, threshold %.3g%s\n", m.Meta().Version, o.ModelFile, th, criticalNote(m.Thresholds()))
		if th >= 1 {
			warn(o, fmt.Sprintf("the model can never alert: its failure threshold is %.3g (trained without failures); use a model trained on more failures, or leave --model out to train one on --history 12h or more", th))
		}
		// History still flows, so windows are full when the live phase starts.
		if err := publishHistory(ctx, a, fleet, nc, o, histTicks); err != nil {
			return err
		}
		if err := setCritical(a, m.Thresholds()); err != nil {
			return err
		}
		return promote(a, data, o.ModelFile)
	}
	if err := publishHistory(ctx, a, fleet, nc, o, histTicks); err != nil {
		return err
	}
	m, data, err := TrainOnStore(ctx, a.Store(), fleet.Now().Add(-time.Duration(histTicks)*Step), fleet.Now(), o)
	if err != nil {
		return err
	}
	if err := setCritical(a, m.Thresholds()); err != nil {
		return err
	}
	if o.SaveModel != "" {
		if err := atomicfile.Write(o.SaveModel, data, 0o644); err != nil {
			return fmt.Errorf("save model: %w", err)
		}
	}
	return promote(a, data, "demo-training")
}

// publishHistory publishes the fleet's history as fast as omen evaluates
// it.
func publishHistory(ctx context.Context, a *app.App, fleet *sim.Fleet, nc *nats.Conn, o Options, ticks int) error {
	if o.onHistory != nil {
		o.onHistory()
	}
	t0 := time.Now()
	if err := publishPaced(ctx, a, fleet, nc, o, ticks, "history"); err != nil {
		return err
	}
	samples, _ := a.Progress()
	fmt.Fprintf(o.Out, "history: %d samples ingested and evaluated in %.0fs\n", samples, time.Since(t0).Seconds())
	return nil
}

// DefaultMinLead is the lead floor of the threshold TrainOnStore asks
// for unless the configuration sets alerting.min_lead (see TrainOnStore).
const DefaultMinLead = 420 * time.Second

// MinLead is the lead floor TrainOnStore uses with configuration c.
func MinLead(c *config.Config) time.Duration {
	if c != nil && c.Alerting.MinLead > 0 {
		return time.Duration(c.Alerting.MinLead)
	}
	return DefaultMinLead
}

// TrainOnStore trains a model on the store's vectors between from and to,
// with failure labels shifted by the horizon.
func TrainOnStore(ctx context.Context, st *store.Store, from, to time.Time, o Options) (*model.Model, []byte, error) {
	fmt.Fprintln(o.Out, "\ntraining: LSTM on the simulated history")
	t := o.Train
	src := &storesource.Source{Store: st, From: from.UnixMilli(), To: to.UnixMilli(), Step: Step.Milliseconds()}
	if o.App.Config != nil {
		src.Presence = app.PresenceFeatures(o.App.Config)
	}
	t.Source = src
	if t.Window == 0 {
		t.Window = defaultWindow
	}
	if t.Horizon == 0 {
		t.Horizon = Horizon
	}
	t.Onset = true
	if t.Hidden == 0 {
		t.Hidden = 32
	}
	if t.Epochs == 0 {
		t.Epochs = 6
	}
	if t.MaxWindowsPerEpoch == 0 {
		t.MaxWindowsPerEpoch = 120000
	}
	if t.Alerts == nil && o.App.Config != nil {
		// The threshold the daemon's alert rule does best with on the
		// validation data (events, not single windows).
		// MinLead: alerts are for acting before the failure, five minutes
		// ahead being the aim. The validation pods' median lead at a
		// threshold runs above the evaluated fleets': by about 80 s on the
		// development fleets (428 against 349 s over 16 ensemble×fleet
		// pairs) and by about 100 s on the fresh fleets of seeds 33-42,
		// where a floor of 390 s gave 284-293 s (docs/EVALUATION.md). So
		// the floor is 300 + 120 s (DefaultMinLead) unless the
		// configuration's alerting.min_lead says otherwise.
		t.Alerts = alertRule(o.App.Config)
	}
	if t.Logger == nil {
		t.Logger = o.App.Logger
	}
	if t.Seed == 0 {
		t.Seed = o.Seed
	}
	t.Progress = o.Out
	t.Step = Step
	t.TrainedOn = fmt.Sprintf("sim seed %d, %s", o.Seed, to.Sub(from))
	t.Version = fmt.Sprintf("sim-%d-%s", o.Seed, time.Now().UTC().Format("20060102T150405"))
	m, rep, err := training.Train(ctx, t)
	if err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	if t.ValSplit == "after" && rep.ValSplit != "after" {
		// Validation fleets were asked for and none could be held out.
		return nil, nil, fmt.Errorf("train: no entity starts after the validation cutoff %s (or none before it)", time.UnixMilli(t.ValFrom).UTC().Format(time.RFC3339))
	}
	data, err := m.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(o.Out, "training: %d windows, validation AUC-PR %.3f, threshold %.3g%s, %.0fs\n",
		rep.TrainWindows, rep.ValAUCPR, rep.Thresholds.Failure, criticalNote(rep.Thresholds), rep.TrainSeconds)
	if e := rep.Episodes; e != nil {
		fmt.Fprintf(o.Out, "training: on the validation data the alerts at that threshold predict %d of %d failures, %d false alarms, median lead %s\n",
			e.Predicted, e.Episodes, e.FalsePositives, time.Duration(e.LeadMedian*float64(Step)))
	}
	if w := historyWarning(to.Sub(from), rep); w != "" {
		warn(o, w)
	}
	return m, data, nil
}

// EnoughHistory is the simulated history the warnings after training
// advise (historyWarning): 12 hours hold about 13 failures, 2 in the
// validation part, for every seed (1 hour holds none, 3 hours 3 with 1 in
// the validation part); the default 24 hours hold about 28.
const EnoughHistory = 12 * time.Hour

// historyWarning is the warning printed after a training on d of
// simulated history (report rep) whose model can never alert (a failure
// threshold of 1 or more: no failure in the training part) or whose
// threshold no validation failure checked (validation AUC-PR 0.000);
// empty when neither. An accepted --history of 1h trains such a model
// and nothing said so.
func historyWarning(d time.Duration, rep training.TrainReport) string {
	th := rep.Thresholds.Failure
	hist := shortDuration(d)
	advice := "use --history " + shortDuration(EnoughHistory) + " or more"
	switch {
	case th >= 1 && rep.Positives == 0 && rep.ValPositives == 0:
		return fmt.Sprintf("the model can never alert (failure threshold %.3g): the %s of simulated history held no failure to learn from; %s", th, hist, advice)
	case th >= 1:
		return fmt.Sprintf("the model can never alert (failure threshold %.3g): the %s of simulated history held too few failures (%d failure windows in its training part, %d in its validation part); %s",
			th, hist, rep.Positives, rep.ValPositives, advice)
	case rep.ValPositives == 0:
		return fmt.Sprintf("the model's failure threshold %.3g was set with no failure to check it on: the validation part of the %s of simulated history held none (validation AUC-PR not measured), so its alerts may be few or false; %s",
			th, hist, advice)
	}
	return ""
}

// shortDuration is d without zero minutes or seconds: "1h", "1h30m",
// "45m".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// warn prints msg as a warning on the demo's output, where it follows
// the line it is about, and logs it (on stderr with omen demo's logger).
func warn(o Options, msg string) {
	fmt.Fprintf(o.Out, "WARNING: %s\n", msg)
	if o.App.Logger != nil {
		o.App.Logger.Warn(msg)
	}
}

// critical is the alerting.critical_probability the demo's daemon runs
// with for a model of thresholds th: the model's own (th.Critical, chosen
// by its training midway between the failure threshold and the highest
// validation probability, model.CriticalProbability), or, for a model
// file without one (written before it was recorded), midway between the
// failure threshold and 1, so that its alerts show both severities: they
// fire warning just over the threshold and escalate to critical when
// their probability rises halfway further. The failure probability is
// calibrated, so the threshold is wherever it lands for the model (about
// 0.4-0.8 on the simulated fleets, 0.002-0.07 after a short history): the
// default 0.9 would make the demo's alerts rarely critical, or, for a
// threshold over it, always. ok is false for a threshold outside (0, 1),
// whose model never alerts.
func critical(th model.Thresholds) (p float64, s string, ok bool) {
	p = th.Critical
	if !(p > th.Failure && p < 1) {
		p = model.CriticalProbability(th.Failure, 1)
	}
	if p == 0 {
		return 0, "", false
	}
	return p, strconv.FormatFloat(p, 'g', -1, 64), true
}

// criticalNote is what the summary lines print after the threshold: the
// critical probability the demo sets (critical).
func criticalNote(th model.Thresholds) string {
	if _, s, ok := critical(th); ok {
		return ", critical from p=" + s + " (alerting.critical_probability)"
	}
	return ""
}

// setCritical sets the daemon's alerting.critical_probability for a
// model of thresholds th (critical), before the model is promoted: it
// applies from the next step (to the alerts that fire, and to the firing
// warning alerts, which escalate when their probability reaches it).
func setCritical(a *app.App, th model.Thresholds) error {
	p, s, ok := critical(th)
	if !ok {
		return nil
	}
	c := *a.Config()
	c.Alerting.CriticalProbability = p
	if err := a.Apply(&c); err != nil {
		return fmt.Errorf("set alerting.critical_probability %s: %w", s, err)
	}
	return nil
}

func promote(a *app.App, data []byte, source string) error {
	_, err := a.Registry(source).AddModel(context.Background(), data, api.AddOptions{Promote: true})
	return err
}

// alertPrinter prints the daemon's alert reports, one at a time: an alert
// when it fires (printAlert), and a line when it escalates to critical
// and when it resolves, with how long it fired.
type alertPrinter struct {
	w     io.Writer
	truth func() []sim.Truth

	mu    sync.Mutex
	fired map[string]time.Time // by fingerprint: when the firing alerts fired
}

func newAlertPrinter(w io.Writer, truth func() []sim.Truth) *alertPrinter {
	return &alertPrinter{w: w, truth: truth, fired: map[string]time.Time{}}
}

// install sets o's OnAlert, OnEscalate and OnResolve to print.
func (p *alertPrinter) install(o *app.Options) {
	o.OnAlert, o.OnEscalate, o.OnResolve = p.alert, p.escalate, p.resolve
}

func (p *alertPrinter) alert(a app.FiredAlert) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fired[a.Fingerprint] = a.T
	printAlert(p.w, a, p.truth())
}

// escalate prints "ESCALATED entity  p=… (critical)  at hh:mm:ss", the
// probability as printAlert prints it.
func (p *alertPrinter) escalate(a app.FiredAlert) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\nESCALATED %s  p=%s  at %s\n", a.Entity, alertProb(a), a.T.UTC().Format("15:04:05"))
}

// resolve prints "RESOLVED entity (severity)  at hh:mm:ss  after 12m0s",
// the severity it resolved with and how long it fired (omitted for an
// alert this run did not see fire); when the predicted failure began
// while it fired (its failure labels set: the model's probability
// collapses then, and the alert resolves), a line "  failure began at
// hh:mm:ss (the predicted failure is under way, not over)" follows; a
// line says so too when that failure ended before the alert resolved, or
// when the alert fired during its failure (outcome annotations
// failure_ended, fired_during_failure).
func (p *alertPrinter) resolve(a app.FiredAlert) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sev := ""
	if s := a.Labels["severity"]; s != "" {
		sev = " (" + s + ")"
	}
	after := ""
	if t, ok := p.fired[a.Fingerprint]; ok {
		after = "  after " + a.T.Sub(t).Round(time.Second).String()
		delete(p.fired, a.Fingerprint)
	}
	fmt.Fprintf(p.w, "\nRESOLVED %s%s  at %s%s\n", a.Entity, sev, a.T.UTC().Format("15:04:05"), after)
	switch {
	case !a.FailureBegan.IsZero():
		fmt.Fprintf(p.w, "  failure began at %s (the predicted failure is under way, not over)\n", a.FailureBegan.UTC().Format("15:04:05"))
	case a.Outcome == alert.OutcomeFailureEnded:
		fmt.Fprintln(p.w, "  the predicted failure began while it fired and is over")
	case a.Outcome == alert.OutcomeFiredDuringFailure:
		fmt.Fprintln(p.w, "  it fired during the failure, not ahead of it")
	}
}

// alertProb is the alert's probability as printed, with its severity:
// the annotation's digits, which never read below the threshold printed
// with 3 decimals after training (p=0.99 against 0.993).
func alertProb(a app.FiredAlert) string {
	prob := a.Annotations["probability"]
	if prob == "" {
		prob = strconv.FormatFloat(a.Prob, 'f', 3, 64)
	}
	if sev := a.Labels["severity"]; sev != "" {
		prob += " (" + sev + ")"
	}
	return prob
}

// printAlert prints one alert with its causes and, from the simulator's
// ground truth, what it predicted.
func printAlert(w io.Writer, a app.FiredAlert, truth []sim.Truth) {
	causes := a.Annotations["top_causes"]
	if causes == "" {
		causes = strings.Join(a.Causes, ", ")
	}
	verdict := falseAlarmVerdict(a, truth)
	var best *sim.Truth
	for i := range truth {
		tr := &truth[i]
		if !sim.Matches(a.Labels, tr.Entity) || a.T.After(tr.EndAt) || a.T.Before(tr.Onset.Add(-Horizon*Step)) {
			continue
		}
		if best == nil || tr.FailureAt.Before(best.FailureAt) {
			best = tr
		}
	}
	if best != nil {
		switch {
		case !best.Fails:
			verdict = fmt.Sprintf("precursor of %s that will fade without failing (bait)", best.Scenario)
		case a.T.Before(best.FailureAt):
			verdict = fmt.Sprintf("%s failure in %s (true cause %s)", best.Scenario, best.FailureAt.Sub(a.T).Round(time.Second), best.Cause)
		default:
			verdict = fmt.Sprintf("%s failure already under way (late)", best.Scenario)
		}
	}
	fmt.Fprintf(w, "\nALERT %s  p=%s  at %s\n  causes: %s\n  action: %s\n  truth:  %s\n",
		a.Entity, alertProb(a), a.T.UTC().Format("15:04:05"), causes, a.Annotations["recommended_action"], verdict)
}

// falseAlarmVerdict says what an alert that predicts no scenario was
// nearest to on its pod, as `omen eval sim` places a false alert: after
// a scenario's end (the pod had recovered), or before a scenario's
// precursor began.
func falseAlarmVerdict(a app.FiredAlert, truth []sim.Truth) string {
	best, verdict := time.Duration(math.MaxInt64), "no failure scheduled for this pod (false alarm)"
	for i := range truth {
		tr := &truth[i]
		if !sim.Matches(a.Labels, tr.Entity) {
			continue
		}
		what := tr.Scenario + " failure"
		if !tr.Fails {
			what = tr.Scenario + " precursor that fades (bait)"
		}
		switch {
		case a.T.After(tr.EndAt) && a.T.Sub(tr.EndAt) < best:
			best = a.T.Sub(tr.EndAt)
			verdict = fmt.Sprintf("false alarm, %s after the pod recovered from a %s", best.Round(time.Second), what)
		case a.T.Before(tr.Onset) && tr.Onset.Sub(a.T) < best:
			best = tr.Onset.Sub(a.T)
			verdict = fmt.Sprintf("false alarm, %s before the precursor of a %s begins", best.Round(time.Second), what)
		}
	}
	return verdict
}

// runUntilDone runs fn until it returns, ctx ends or the daemon stops.
func runUntilDone(ctx context.Context, a *app.App, fn func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- fn(ctx) }()
	select {
	case err := <-errc:
		return err
	case <-a.Done():
		cancel()
		<-errc //nolint:errcheck // moot: the daemon has stopped
		return fmt.Errorf("omen stopped: %w", a.Err())
	}
}

// demoHandler logs at info the warnings that describe the demo's normal
// course rather than something for its user to fix: the daemon's "no
// model" before the demo trains one, and training's short entities (the
// simulated rolling deploys replace pods). Everything else passes as is.
type demoHandler struct{ h slog.Handler }

// demoted reports whether a warning with this message is logged at info.
func demoted(msg string) bool {
	return strings.HasPrefix(msg, "no model:") || msg == "skipping short entity" || msg == "skipping more entities"
}

func (d demoHandler) Enabled(ctx context.Context, l slog.Level) bool { return d.h.Enabled(ctx, l) }

func (d demoHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && demoted(r.Message) {
		if !d.h.Enabled(ctx, slog.LevelInfo) {
			return nil
		}
		r.Level = slog.LevelInfo
	}
	return d.h.Handle(ctx, r)
}

func (d demoHandler) WithAttrs(as []slog.Attr) slog.Handler { return demoHandler{d.h.WithAttrs(as)} }

func (d demoHandler) WithGroup(name string) slog.Handler { return demoHandler{d.h.WithGroup(name)} }

// alertRule is the daemon's alert rule under cfg as the threshold choice
// plays it (TrainOnStore), with the demo's lead floor (MinLead).
func alertRule(cfg *config.Config) *training.AlertRule {
	return &training.AlertRule{For: cfg.Alerting.For, ResolveRatio: cfg.Alerting.ResolveRatio, ResolveFor: cfg.Alerting.ResolveFor,
		MinLead: training.LeadSteps(MinLead(cfg), Step)}
}
