package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/stream/natsembed"
)

// Options configure an App. Zero values take the documented defaults.
type Options struct {
	// Config is the configuration; nil loads ConfigFile, or the defaults
	// when ConfigFile is empty.
	Config *config.Config
	// ConfigFile is re-read on Reload. Empty: reload keeps Config.
	ConfigFile string
	// ListenAddress is the HTTP address. Default 127.0.0.1:9464; ":0"
	// style ports pick a free port (see App.Addr).
	ListenAddress string
	// StoragePath is Badger's directory; the embedded NATS server keeps
	// its data under StoragePath/nats. Default data/.
	StoragePath string
	// Retention of feature vectors, predictions and events. Default 15d,
	// at least MinRetention.
	Retention time.Duration
	// TokenFile holds the bearer token required by the API and UI (and
	// reload and remote-write). Required when ListenAddress is not a
	// loopback address.
	TokenFile string
	// TLSCertFile and TLSKeyFile serve HTTPS.
	TLSCertFile, TLSKeyFile string
	// EnablePprof serves Go's runtime profiles (net/http/pprof) under
	// /debug/pprof/, behind the API's protection (the token, else a
	// loopback Host). Off by default.
	EnablePprof bool
	// NATSURL is an external NATS server. Empty starts the embedded one.
	NATSURL string
	// NATSClient authenticates to the NATS server NATSURL and sets up
	// TLS with files (--nats.creds-file, --nats.tls-ca-file, …); only
	// with NATSURL (CheckNATSClient). New reads and checks its files.
	NATSClient NATSClient
	// NATSListenAddress is the embedded NATS server's address, a loopback
	// one (CheckEmbeddedNATSAddress). Default 127.0.0.1:4222.
	NATSListenAddress string
	// AlertmanagerURLs add to the config's alerting.alertmanagers.
	AlertmanagerURLs []string
	// WallClock caps evaluation at the wall clock (production). The demo
	// and tests with simulated time set it false.
	WallClock bool
	// OnAlert, if set, is called when an alert starts firing; the demo
	// prints alerts with it. Alerts restored firing from the store at
	// start are not reported. OnAlert, OnEscalate and OnResolve are
	// called one at a time, in the order the alerts fired, escalated and
	// resolved, on a goroutine of their own (the evaluation does not wait
	// for them); Stop waits for those reported (within ShutdownTimeout).
	// At most AlertCallbackQueue calls wait their turn: see there.
	OnAlert func(FiredAlert)
	// OnEscalate, if set, is called when a firing warning alert (reported
	// to OnAlert, or restored firing at start) escalates to critical
	// (alerting.critical_probability), with its critical labels; its
	// Fingerprint stays the one it fired with.
	OnEscalate func(FiredAlert)
	// OnResolve, if set, is called when an alert reported to OnAlert, or
	// restored firing at start, stops firing, with the labels it had then
	// (severity critical once it escalated).
	OnResolve func(FiredAlert)
	// AlertCallbackQueue is the most OnAlert, OnEscalate and OnResolve
	// calls queued behind the one running. Default 10000. When a slow
	// callback lets the queue fill, reports are dropped so that what the
	// callbacks see stays consistent: the oldest queued OnAlert is dropped
	// together with its alert's later reports (its OnEscalate and
	// OnResolve, queued or still to come: the callbacks never hear of that
	// alert); with no OnAlert queued, the oldest OnEscalate (the alert's
	// OnResolve still comes, with the critical labels). An OnResolve is
	// never dropped on its own: every OnAlert delivered is followed by its
	// alert's OnResolve once it resolves, and no OnEscalate or OnResolve is
	// delivered for an alert whose OnAlert was dropped. A queue holding
	// only OnResolve calls grows past the bound (by at most one per alert
	// delivered, or restored firing, then resolved). Drops are counted in omen_alert_callbacks_dropped_total,
	// with a warning once until the queue drains.
	AlertCallbackQueue int
	// ShutdownTimeout bounds Stop. Default 30s.
	ShutdownTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer and Gatherer default to a new registry (not the global
	// one), so several Apps can run in one process.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
}

// MinRetention is the shortest retention (Options.Retention, --storage.retention).
// The evaluator rewrites a live entity's last-seen time only every
// entityRefresh (10 minutes) and retention deletes entities by it, so a
// retention under 2×entityRefresh deleted live entities from the store's
// entity index (their history and training data gone from the API); an
// hour leaves room for data that arrives late.
const MinRetention = time.Hour

// CheckRetention refuses a retention under MinRetention.
func CheckRetention(d time.Duration) error {
	if d < MinRetention {
		return fmt.Errorf("retention %v is below the minimum %v (a live entity's last-seen time is refreshed every %v only: a shorter retention deletes live entities from the store's index, and training from the store then finds no data)", d, MinRetention, entityRefresh)
	}
	return nil
}

// CheckEmbeddedNATSAddress refuses a listen address of the embedded NATS
// server that is not a loopback address (an empty host, 0.0.0.0, [::] or
// another interface's address): the embedded server has no authentication
// and no TLS, so anyone reaching it could publish data and use the
// JetStream API (delete or purge the stream). A NATS server for other hosts
// is an external one, with authentication, given with --nats.url.
func CheckEmbeddedNATSAddress(addr string) error {
	if api.IsLoopback(addr) {
		return nil
	}
	return fmt.Errorf("embedded NATS listen address %q is not a loopback address: the embedded server has no authentication, so it listens only on loopback (127.0.0.1, [::1], localhost); for publishers on other hosts, run an external nats-server with authentication and give its URL with --nats.url", addr)
}

func (o *Options) applyDefaults() error {
	if o.ListenAddress == "" {
		o.ListenAddress = "127.0.0.1:9464"
	}
	if o.StoragePath == "" {
		o.StoragePath = "data"
	}
	if o.Retention == 0 {
		o.Retention = 15 * 24 * time.Hour
	}
	if err := CheckRetention(o.Retention); err != nil {
		return err
	}
	// Checked here too (the API checks it when it starts), so that it is
	// reported before anything starts.
	if err := api.CheckListenAddress(o.ListenAddress, o.TokenFile != ""); err != nil {
		return err
	}
	if o.NATSListenAddress == "" {
		o.NATSListenAddress = "127.0.0.1:4222"
	}
	if o.NATSURL == "" {
		if err := CheckEmbeddedNATSAddress(o.NATSListenAddress); err != nil {
			return err
		}
	}
	if err := CheckNATSClient(o.NATSURL, o.NATSClient); err != nil {
		return err
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.AlertCallbackQueue == 0 {
		o.AlertCallbackQueue = DefaultAlertCallbackQueue
	}
	if o.AlertCallbackQueue < 0 {
		return fmt.Errorf("alert callback queue %d: must be positive", o.AlertCallbackQueue)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registerer == nil {
		r := prometheus.NewRegistry()
		o.Registerer, o.Gatherer = r, r
	}
	if o.Gatherer == nil {
		g, ok := o.Registerer.(prometheus.Gatherer)
		if !ok {
			return errors.New("gatherer is required when the registerer is not a registry")
		}
		o.Gatherer = g
	}
	if o.Config == nil {
		if o.ConfigFile == "" {
			o.Config = config.Default()
		} else {
			c, err := config.LoadFile(o.ConfigFile)
			if err != nil {
				return err
			}
			o.Config = c
		}
	}
	if err := o.Config.Validate(); err != nil {
		return fmt.Errorf("feature configuration: %w", err)
	}
	return nil
}

// App is the omen daemon. Start and Stop may each be called once; Stop may
// be called while Start runs, from another goroutine (see Start), never
// from the Logger's handler or the Registerer (see Stop).
type App struct {
	opts   Options
	logger *slog.Logger
	reg    prometheus.Registerer

	cfg atomic.Pointer[config.Config]

	store     *store.Store
	natsSrv   *natsembed.Server
	natsURL   string
	head      *features.Head
	extractor *features.Extractor
	sources   *sources
	ingest    *ingester
	eval      *evaluator
	scorer    *scorer
	explainer *explainer
	alerts    *alerter
	// natsOpts authenticate to the external NATS server and set up TLS
	// (Options.NATSClient); nil for the embedded server.
	natsOpts []nats.Option

	ln    net.Listener
	srv   *http.Server
	ready atomic.Bool

	reloadCh chan reloadRequest
	// reloadStopped is closed when the reload loop has returned (the run
	// context ended, by Stop or a fatal error): the requests waiting for
	// it are answered then, not when the whole daemon has stopped (a POST
	// /-/reload waiting for the loop held the HTTP server's shutdown, and
	// with it Stop, for the whole ShutdownTimeout).
	reloadStopped chan struct{}
	// streams ends when the daemon stops (stopStreams, as the HTTP
	// server's shutdown begins): a store backup or a history stream in
	// flight stops then, at once, even while a write waits on a client
	// that stopped reading (api.Options.Stop), where the shutdown waited
	// for it, holding Stop for up to ShutdownTimeout.
	streams     context.Context
	stopStreams context.CancelFunc
	// started is set by the first Start (or a Stop before any); running
	// once Start succeeded: Reload and Apply before it fail.
	started, running atomic.Bool
	// startMu orders Start and a Stop called while it runs: Start sets
	// starting (closed when it has returned) and cancelStart, and checks
	// stopping before it runs the components; Stop sets stopping and
	// waits for starting. The fields Start sets (stop, the components)
	// are read by Stop once starting is closed, or startReturned set.
	// Whichever of Stop giving up (its bound ended) and Start reaching its
	// end comes first decides, under startMu, who stops what Start
	// started: Start sets startReturned unless stopGaveUp is set (then it
	// stops the components itself and fails with ErrStopped); Stop sets
	// stopGaveUp unless startReturned is set (then it stops them).
	startMu       sync.Mutex
	starting      chan struct{}
	cancelStart   context.CancelFunc
	stopping      bool
	stopGaveUp    bool
	startReturned bool
	stop          context.CancelFunc
	done          chan struct{}
	doneOnce      sync.Once
	runErr        error
	stopOnce      sync.Once

	reloads *prometheus.CounterVec
	// reloadOK is 1 at start and after a reload that applied (restart-only
	// keys aside, which keep their start-time values), 0 after a refused
	// reload; reloadTime is when a configuration last applied.
	reloadOK, reloadTime prometheus.Gauge
	// restartRequired is 1 while the configuration in force came from a
	// reload that changed restart-only keys (restartOnlyKeys): they keep
	// their start-time values until a restart.
	restartRequired prometheus.Gauge
	// restoreRuntime undoes the runtime settings of config.RuntimeConfig.
	restoreRuntime func()
}

// New validates the options and builds an App. It opens nothing: Start does.
func New(opts Options) (*App, error) {
	if err := opts.applyDefaults(); err != nil {
		return nil, fmt.Errorf("app options: %w", err)
	}
	a := &App{
		opts:          opts,
		logger:        opts.Logger,
		reg:           opts.Registerer,
		reloadCh:      make(chan reloadRequest),
		reloadStopped: make(chan struct{}),
		done:          make(chan struct{}),
	}
	a.streams, a.stopStreams = context.WithCancel(context.Background())
	a.cfg.Store(opts.Config)
	// The NATS client's files are read (and refused) here, before
	// anything is opened.
	natsOpts, err := opts.NATSClient.connectOptions(opts.Logger.With("component", "stream"))
	if err != nil {
		return nil, fmt.Errorf("app options: %w", err)
	}
	a.natsOpts = natsOpts
	// The URL's text too: checked at the connect, after the store had
	// opened, a mistyped --nats.url left the storage directory made.
	if opts.NATSURL != "" {
		if err := checkNATSURL(opts.NATSURL); err != nil {
			return nil, fmt.Errorf("app options: NATS URL %s: %w", RedactNATSURL(opts.NATSURL), err)
		}
	}
	a.reloads = promauto.With(a.reg).NewCounterVec(prometheus.CounterOpts{
		Namespace: "omen", Name: "config_reloads_total",
		Help: "Configuration reloads by result.",
	}, []string{"result"})
	// Both results' series from the start, at 0: one that appeared at its
	// first failure, at 1, made increase() miss that failure.
	a.reloads.WithLabelValues("success")
	a.reloads.WithLabelValues("failure")
	a.reloadOK = promauto.With(a.reg).NewGauge(prometheus.GaugeOpts{
		Namespace: "omen", Name: "config_last_reload_successful",
		Help: "Whether the last configuration reload applied (1; also at start, with the configuration loaded) or was refused (0: omen runs on the configuration it last accepted, not the file's).",
	})
	a.reloadTime = promauto.With(a.reg).NewGauge(prometheus.GaugeOpts{
		Namespace: "omen", Name: "config_last_reload_success_timestamp_seconds",
		Help: "Time of the last configuration reload that applied, or of the start's load, in seconds since the epoch.",
	})
	a.restartRequired = promauto.With(a.reg).NewGauge(prometheus.GaugeOpts{
		Namespace: "omen", Name: "config_restart_required",
		Help: "Whether the configuration in force changed keys that apply only at a restart (1: a reload accepted them and logged which; they keep their start-time values until omen restarts), else 0.",
	})
	// The configuration was loaded (applyDefaults, or the caller) just
	// now: it is the one in force.
	a.reloadApplied()
	a.reg.MustRegister(
		versioncollector.NewCollector("omen"),
	)
	if r, ok := a.reg.(*prometheus.Registry); ok && opts.Gatherer == prometheus.Gatherer(r) {
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return a, nil
}

// Config returns the configuration in force.
func (a *App) Config() *config.Config { return a.cfg.Load() }

// Addr returns the HTTP listen address once Start has returned.
func (a *App) Addr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// NATSURL returns the NATS server omen consumes from once Start has returned.
func (a *App) NATSURL() string { return a.natsURL }

// NATSClientOptions returns the NATS client options that authenticate to
// the server NATSURL returns and set up TLS (Options.NATSClient), for
// another connection to it (the demo's publisher); nil for the embedded
// server. The caller may append to them.
func (a *App) NATSClientOptions() []nats.Option { return slices.Clip(a.natsOpts) }

// badgerDir is the store's directory under the storage path.
func (a *App) badgerDir() string { return filepath.Join(a.opts.StoragePath, "badger") }

// Store returns the store once Start has returned (for tests and the demo).
func (a *App) Store() *store.Store { return a.store }

// Start opens the store, rebuilds the in-memory window from the ingest log,
// starts the embedded NATS server when no URL is given, and runs every
// component until Stop or a component's fatal error. It returns once the
// daemon is ready to accept data. When it fails, what it opened is closed
// and Done is closed (Err returns the error).
//
// A Stop called while Start runs cancels ctx for Start and waits for it:
// Start then fails with an error wrapping ErrStopped (having closed what
// it opened), unless it had already started the components, which Stop
// then stops. Should Stop give up waiting (its bound ended), Start, once
// it gets there, stops what it started itself and fails with ErrStopped:
// whatever the timing, the daemon ends stopped once Stop was called. A
// Start after Stop fails with ErrStopped.
func (a *App) Start(ctx context.Context) error {
	a.startMu.Lock()
	if !a.started.CompareAndSwap(false, true) {
		stopping := a.stopping
		a.startMu.Unlock()
		if stopping {
			return fmt.Errorf("start after Stop: %w", ErrStopped)
		}
		return errors.New("start: omen was started already")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	starting := make(chan struct{})
	a.starting, a.cancelStart = starting, cancel
	a.startMu.Unlock()
	defer close(starting)
	err := a.start(ctx)
	if err != nil {
		if a.stopRequested() && !errors.Is(err, ErrStopped) {
			err = fmt.Errorf("start cut short by Stop: %w: %w", ErrStopped, err)
		}
		a.finish(err)
	}
	return err
}

// ErrStopped is the error of a Start cut short by a Stop, or called after
// it (it also wraps ErrNotRunning).
var ErrStopped = fmt.Errorf("%w: Stop was called", ErrNotRunning)

// stopRequested reports whether Stop was called.
func (a *App) stopRequested() bool {
	a.startMu.Lock()
	defer a.startMu.Unlock()
	return a.stopping
}

// finish records err as the error that stopped the daemon and closes Done
// and the reload loop's channel, once.
func (a *App) finish(err error) {
	a.doneOnce.Do(func() {
		a.runErr = err
		select {
		case <-a.reloadStopped:
		default:
			close(a.reloadStopped)
		}
		close(a.done)
	})
}

func (a *App) start(ctx context.Context) error {
	cfg := a.cfg.Load()
	log := a.logger
	// The web server's token and TLS pair are read first: a bad one is
	// reported before the store is opened and NATS connected (a durable
	// consumer created on an external server).
	if a.opts.TokenFile != "" {
		if _, err := api.ReadTokenFile(a.opts.TokenFile); err != nil {
			return fmt.Errorf("web: %w", err)
		}
	}
	var tlsConfig *tls.Config
	if a.opts.TLSCertFile != "" || a.opts.TLSKeyFile != "" {
		tc, err := api.NewTLSConfig(api.TLSOptions{CertFile: a.opts.TLSCertFile, KeyFile: a.opts.TLSKeyFile,
			Logger: log.With("component", "web"), Registerer: a.reg})
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		tlsConfig = tc
	}
	// So are the files of the Prometheus servers' and Alertmanagers'
	// TLS settings and credentials.
	if err := errors.Join(CheckConnectionFiles(cfg)...); err != nil {
		return err
	}
	warnInsecureTLS(log, cfg, true)
	a.restoreRuntime = applyRuntimeConfig(cfg.Runtime)

	// Store: Badger under the storage path; everything durable lives there.
	so := cfg.Storage.StoreOptions(a.badgerDir())
	so.Retention = a.opts.Retention
	// The startup replay rebuilds the PromQL window from the raw batches
	// received within the lookback and an hour (ingester.replay).
	so.IngestLogRetention = time.Duration(cfg.Lookback) + time.Hour
	so.Logger, so.Registerer = log.With("component", "store"), a.reg
	// fail undoes what Start did before err, in one place: the runtime
	// settings too (a store another omen holds or a full disk left them
	// set in the process, for an embedder such as the demo or a test),
	// the NATS connection and the listener (closeResourcesBy).
	fail := func(err error) error {
		return errors.Join(err, a.closeResources())
	}
	// The store is opened before anything listens or writes elsewhere: a
	// store another omen holds (store.ErrInUse) fails here, with no NATS
	// server started nor its directory made, no port bound.
	st, err := store.Open(so)
	if errors.Is(err, store.ErrDiskFull) {
		return fail(fmt.Errorf("%w; free space on that filesystem, or start with a lower storage.disk_reserve (negative: no check) and let retention (a minute after the start) and a shorter --storage.retention shrink the store", err))
	}
	if err != nil {
		return fail(err) // names the path
	}
	a.store = st

	// Features: the bounded in-memory PromQL window and the extractor.
	a.head, err = features.NewHead(features.HeadOptions{
		Lookback:  time.Duration(cfg.Lookback),
		MaxSeries: cfg.MaxSeries,
		// A second line of defence behind the sources' time window (the
		// same bound): a sample far ahead of the clock would move the
		// head's clock and age every series out.
		MaxFuture: time.Duration(cfg.Ingest.MaxSampleFuture),
		// omen's decoders intern fresh label sets: share, don't copy.
		ImmutableLabels: true,
		Registerer:      a.reg,
		Logger:          log.With("component", "head"),
	})
	if err != nil {
		return fail(fmt.Errorf("create feature head: %w", err))
	}
	a.extractor, err = features.NewExtractor(features.ExtractorOptions{
		Config:     cfg.Config,
		Head:       a.head,
		Logger:     log.With("component", "features"),
		Registerer: a.reg,
	})
	if err != nil {
		return fail(fmt.Errorf("create feature extractor: %w", err))
	}

	// The vector layout in the store follows the feature definitions; the
	// step is recorded with it, for offline commands to check models by,
	// and the presence features, for offline training to see the windows
	// the daemon scores.
	if err := st.PutSchemaPresence(a.extractor.FeatureNames(), a.extractor.LabelNames(), time.Duration(cfg.Step), a.extractor.Config().PresenceFeatures()); err != nil {
		return fail(fmt.Errorf("record feature schema: %w", err))
	}

	// Ingest: store first, then the head; replay what the store holds.
	a.ingest = newIngester(st, a.head, a.extractor, a.reg, log.With("component", "ingest"))
	if err := a.ingest.replay(ctx, time.Duration(cfg.Lookback)); err != nil {
		return fail(fmt.Errorf("replay ingest log: %w", err))
	}

	// Scorer and alerts: the model from the registry, predictions, alerts.
	a.scorer, err = newScorer(scorerOptions{
		Store: st, Config: cfg, Features: a.extractor.FeatureNames,
		Instant:    func() []bool { return a.extractor.Config().InstantFeatures() },
		Registerer: a.reg, Logger: log.With("component", "scorer"),
	})
	if err != nil {
		return fail(err)
	}
	a.explainer = newExplainer(st, a.scorer, cfg)
	a.alerts, err = newAlerter(alerterOptions{
		Store: st, Config: cfg, ExtraURLs: a.opts.AlertmanagerURLs,
		ListenAddress: a.opts.ListenAddress, TLS: a.opts.TLSCertFile != "", Explainer: a.explainer, Step: time.Duration(cfg.Step),
		OnAlert: a.opts.OnAlert, OnEscalate: a.opts.OnEscalate, OnResolve: a.opts.OnResolve, CallbackQueue: a.opts.AlertCallbackQueue,
		Registerer: a.reg, Logger: log.With("component", "alerts"),
	})
	if err != nil {
		return fail(err)
	}
	a.eval = newEvaluator(evaluatorOptions{
		Extractor: a.extractor, Store: st, Ingest: a.ingest, Scorer: a.scorer, Alerts: a.alerts,
		Step: time.Duration(cfg.Step), Lookback: time.Duration(cfg.Resolved().Lookback), WallClock: a.opts.WallClock,
		Registerer: a.reg, Logger: log.With("component", "evaluator"),
	})

	// NATS: the embedded server unless a URL is given.
	a.natsURL = a.opts.NATSURL
	if a.natsURL == "" {
		srv, err := natsembed.Start(natsembed.Options{
			ListenAddress: a.opts.NATSListenAddress,
			StoreDir:      filepath.Join(a.opts.StoragePath, "nats"),
			MaxMemory:     cfg.NATS.EmbeddedMaxMemory,
			Logger:        log.With("component", "nats"),
		})
		if err != nil {
			return fail(fmt.Errorf("start embedded NATS on %s: %w", a.opts.NATSListenAddress, err))
		}
		a.natsSrv = srv
		a.natsURL = srv.ClientURL()
	}
	src, err := newSources(sourceOptions{
		Config: cfg, NATSURL: a.natsURL, NATSClient: a.natsOpts, ExternalNATS: a.natsSrv == nil, Appender: a.ingest, Registerer: a.reg,
		Logger: log.With("component", "stream"),
	})
	if err != nil {
		return fail(err)
	}
	a.sources = src
	// The stream and the durable consumer exist once Start returns, so
	// publishers can start right away; unless the external NATS server
	// was unreachable (natsPending): then the consumer's Run sets them up
	// once it answers, and omen serves meanwhile.
	if !src.natsPending {
		if _, err := src.consumer.Setup(ctx); err != nil {
			return fail(fmt.Errorf("set up JetStream stream %q: %w", cfg.NATS.Stream, err))
		}
	}

	// HTTP: metrics, health, reload, remote-write, API and UI.
	ln, err := net.Listen("tcp", a.opts.ListenAddress)
	if err != nil {
		return fail(fmt.Errorf("listen on %s: %w", a.opts.ListenAddress, err))
	}
	a.ln = ln
	// Without alerting.external_url, alert links name the bound port
	// (a listen address with port 0 picks one) on the configured host.
	if err := a.alerts.bind(boundAddress(a.opts.ListenAddress, ln.Addr())); err != nil {
		return fail(err)
	}
	handler, err := a.routes(src)
	if err != nil {
		return fail(err)
	}
	a.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Bounds reading a whole request (a remote-write body of at most
		// 32 MiB, a model upload): a client trickling a body cannot hold
		// a connection and its buffer for ever. No WriteTimeout: history
		// answers stream and explanations can take long.
		ReadTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute,
		TLSConfig:   tlsConfig,
		// The server's own errors go to the structured log (serverErrorHandler).
		ErrorLog: slog.NewLogLogger(serverErrorHandler{log.With("component", "web").Handler()}, slog.LevelError),
	}

	// A Stop called meanwhile: nothing runs yet, fail closes what
	// Start opened. Past this point Stop waits for Start and stops the
	// components.
	a.startMu.Lock()
	stopping := a.stopping
	a.startMu.Unlock()
	if stopping {
		return fail(fmt.Errorf("start cut short by Stop: %w", ErrStopped))
	}
	runCtx, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	var g run.Group
	// Stop: the group ends when Stop cancels runCtx.
	g.Add(func() error { <-runCtx.Done(); return nil }, func(error) { cancel() })
	// HTTP server.
	g.Add(func() error {
		serve := a.srv.Serve
		if a.srv.TLSConfig != nil {
			serve = func(l net.Listener) error { return a.srv.ServeTLS(l, "", "") }
		}
		if err := serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
		}
		return nil
	}, func(error) {
		a.stopStreams()
		sctx, c := context.WithTimeout(context.Background(), a.opts.ShutdownTimeout)
		defer c()
		if err := a.srv.Shutdown(sctx); err != nil {
			// Requests still running (a client that stopped reading):
			// close their connections, so that their handlers end
			// before the store closes.
			_ = a.srv.Close()
		}
	})
	// Sources: NATS consumer and Prometheus pollers.
	srcCtx, srcCancel := context.WithCancel(runCtx)
	g.Add(func() error { return src.run(srcCtx) }, func(error) { srcCancel() })
	// Evaluator: features, scores and alerts at every step.
	evCtx, evCancel := context.WithCancel(runCtx)
	g.Add(func() error { return a.eval.run(evCtx) }, func(error) { evCancel() })
	// Alerts: delivery of the outbox to every Alertmanager.
	alCtx, alCancel := context.WithCancel(runCtx)
	g.Add(func() error { return a.alerts.run(alCtx) }, func(error) { alCancel() })
	// Maintenance: retention and model hot-reload.
	mCtx, mCancel := context.WithCancel(runCtx)
	g.Add(func() error { return a.maintain(mCtx) }, func(error) { mCancel() })
	// Memory: return freed heap to the OS after bursts, and page out
	// the store's mapped files.
	if iv := time.Duration(cfg.Runtime.MemoryReleaseInterval); iv > 0 {
		files := ""
		if !cfg.Runtime.KeepFilePages {
			// As the kernel shows mapped files: absolute, links resolved.
			files, err = filepath.EvalSymlinks(a.badgerDir())
			if err == nil {
				files, err = filepath.Abs(files)
			}
			if err != nil {
				log.Warn("the storage's memory-mapped files stay resident", "err", err)
				files = ""
			}
		}
		mr := newMemoryReleaser(iv, cfg.Runtime.MemoryReleaseMinBytes, files, a.reg, log.With("component", "memory"))
		mrCtx, mrCancel := context.WithCancel(runCtx)
		g.Add(func() error { return mr.run(mrCtx) }, func(error) { mrCancel() })
	}
	// Reload: SIGHUP and /-/reload arrive here. Once the run context
	// ends, the requests waiting are answered at once (reloadStopped).
	rCtx, rCancel := context.WithCancel(runCtx)
	g.Add(func() error {
		defer close(a.reloadStopped)
		for {
			select {
			case <-rCtx.Done():
				return nil
			case r := <-a.reloadCh:
				if rCtx.Err() != nil {
					r.done <- fmt.Errorf("%s: %w: stopping", r.op, ErrNotRunning)
					return nil
				}
				r.done <- a.reload(r.cfg)
			}
		}
	}, func(error) { rCancel() })

	go func() { a.finish(g.Run()) }()
	a.running.Store(true)
	a.ready.Store(true)
	log.Info("omen started", "web", a.Addr(), "nats", RedactNATSURL(a.natsURL), "storage", a.opts.StoragePath,
		"features", len(cfg.Features)+len(cfg.EventFeatures), "entity_labels", cfg.EntityLabels)
	// A Stop called past the check above waits for Start to return and
	// stops the components; one that gave up waiting meanwhile left that
	// to Start (see startMu).
	a.startMu.Lock()
	gaveUp := a.stopGaveUp
	a.startReturned = !gaveUp
	a.startMu.Unlock()
	if gaveUp {
		a.ready.Store(false)
		log.Warn("omen stopping: Stop gave up waiting for start to return")
		sctx, scancel := context.WithTimeout(context.Background(), a.opts.ShutdownTimeout)
		defer scancel()
		err := a.stopStarted(context.Background(), sctx)
		log.Info("omen stopped")
		return errors.Join(fmt.Errorf("start: stopped what it started, Stop having given up waiting for it: %w", ErrStopped), err)
	}
	return nil
}

// ErrNotRunning is returned by Reload, Apply and ReloadModel on an App
// that is not running: before Start, after a failed Start, or once it is
// stopping.
var ErrNotRunning = errors.New("omen is not running")

// errNotStarted is ErrNotRunning for op before a successful Start.
func errNotStarted(op string) error {
	return fmt.Errorf("%s: %w (not started, or its start failed)", op, ErrNotRunning)
}

// Progress reports the samples applied to the feature head since start
// and the data time (ms) of the last evaluated step; zero before Start
// succeeded.
func (a *App) Progress() (samples int64, lastStep int64) {
	if !a.running.Load() {
		return 0, 0
	}
	return a.ingest.applied.Load(), a.eval.done.Load()
}

// FeatureNames are the names of the feature vector's columns, in order;
// nil before Start succeeded.
func (a *App) FeatureNames() []string {
	if !a.running.Load() {
		return nil
	}
	return a.extractor.FeatureNames()
}

// ReloadModel loads the registry's active model now (the daemon also
// notices a promotion within seconds on its own). Before Start succeeded
// it returns ErrNotRunning.
func (a *App) ReloadModel() error {
	if !a.running.Load() {
		return errNotStarted("reload model")
	}
	return a.scorer.reloadModel()
}

// Alerts returns the current alerts of the alert pipeline; none before
// Start succeeded.
func (a *App) Alerts() []alert.Alert {
	if !a.running.Load() {
		return nil
	}
	return a.alerts.Alerts()
}

// Done is closed when the daemon has stopped: by Stop, a fatal error or
// a failed Start (also when Stop is called without Start).
func (a *App) Done() <-chan struct{} { return a.done }

// Err returns the error that stopped the daemon, if any, after Done: a
// component's fatal error, or Start's.
func (a *App) Err() error { return a.runErr }

// Stop shuts the daemon down. Every component is cancelled at once: the
// HTTP server stops accepting and waits for its requests (remote-write
// appends, reloads: those waiting for the reload loop are answered with
// ErrNotRunning), the NATS consumer commits its in-flight batch or leaves
// it unacknowledged (redelivered after a restart), the evaluator ends its
// step; once all have returned, the store is closed. It waits at most
// ShutdownTimeout (or ctx), the store's close included: store calls
// still running then (a value-log GC pass) close it when they return.
//
// A Stop called while Start runs cancels Start's context and waits for
// Start to return (see Start) within the same bound, then stops what
// Start started. Should Start outlast the bound (a slow store open),
// Stop returns an error and Start, which sees the Stop, fails with
// ErrStopped, having closed what it opened or stopped what it started.
//
// Stop must not be called from code that Start or Stop run on their own
// goroutine: the Logger's handler and the Registerer's methods. Such a
// call waits for the Start or Stop it is part of: until its bound ends
// from within Start, for ever from within Stop (as a sync.Once entered
// again). Call Stop from another goroutine (go a.Stop(ctx)).
func (a *App) Stop(ctx context.Context) error {
	var err error
	parent := ctx
	a.stopOnce.Do(func() {
		a.ready.Store(false)
		ctx, cancel := context.WithTimeout(parent, a.opts.ShutdownTimeout)
		defer cancel()
		a.startMu.Lock()
		a.stopping = true
		// Stop without Start: a later Start fails, Done is closed.
		if a.started.CompareAndSwap(false, true) {
			a.finish(nil)
		}
		starting, cancelStart := a.starting, a.cancelStart
		a.startMu.Unlock()
		if starting != nil {
			cancelStart()
			select {
			case <-starting:
			case <-ctx.Done():
				a.startMu.Lock()
				returned := a.startReturned
				a.stopGaveUp = !returned
				a.startMu.Unlock()
				if returned {
					break // Start has nothing left to do but return
				}
				err = fmt.Errorf("stop: start still running %s: it stops what it started once it returns", boundEnded(parent, a.opts.ShutdownTimeout))
				a.logger.Warn("omen stopping: start still running", "err", err)
				return
			}
			a.ready.Store(false) // Start set it meanwhile
		}
		err = a.stopStarted(parent, ctx)
		a.logger.Info("omen stopped")
	})
	return err
}

// stopStarted stops the components Start started, if any, and closes
// what the daemon opened, within ctx (derived from parent, the Stop's
// context, with ShutdownTimeout).
func (a *App) stopStarted(parent, ctx context.Context) error {
	var err error
	if a.stop != nil {
		a.stop()
		select {
		case <-a.done:
		case <-ctx.Done():
			err = fmt.Errorf("stop: components still running %s", boundEnded(parent, a.opts.ShutdownTimeout))
		}
	}
	if cerr := a.closeResourcesBy(ctx); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// boundEnded says which bound of a stop ended: the caller's context
// parent, or the shutdown timeout d.
func boundEnded(parent context.Context, d time.Duration) string {
	if cerr := parent.Err(); cerr != nil {
		return fmt.Sprintf("when the Stop's context ended (%v), before the shutdown timeout %v", cerr, d)
	}
	return fmt.Sprintf("after the shutdown timeout %v", d)
}

func (a *App) closeResources() error { return a.closeResourcesBy(context.Background()) }

// closeResourcesBy closes what the daemon opened (what a failed Start
// opened so far), waiting for the store's calls in flight until ctx ends
// (store.CloseContext).
func (a *App) closeResourcesBy(ctx context.Context) error {
	var errs []error
	if a.restoreRuntime != nil {
		a.restoreRuntime()
		a.restoreRuntime = nil
	}
	// The listener and the NATS connection: the HTTP server's shutdown
	// and sources.run close them once running (closing again is
	// harmless), a failed Start did not get there.
	if a.ln != nil {
		_ = a.ln.Close()
	}
	if a.sources != nil {
		a.sources.nc.Close()
	}
	if a.alerts != nil {
		if err := a.alerts.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if a.natsSrv != nil {
		a.natsSrv.Shutdown()
		a.natsSrv = nil
	}
	// a.store stays set: components still running past the deadline (a
	// reload waiting for a step, the last store call) get ErrClosed from
	// it; a nil store made them panic. Closing it again is harmless.
	if a.store != nil {
		if err := a.store.CloseContext(ctx); err != nil {
			errs = append(errs, err) // names the store
		}
	}
	return errors.Join(errs...)
}

// Reload re-reads the configuration file and applies what can change at
// run time (feature definitions, alerting, the remote_write and NATS
// decoder limits; see sources.setConfig), all or nothing. A file that
// changes entity_labels, step or lookback is refused (checkRestartNeeded);
// one that changes other start-time settings applies the rest and warns
// (restartOnlyKeys). A file omen run would refuse is refused, even for a
// section applied only at restart (CheckConfig: the daemon would not
// start again with it), as is a file of the prometheus or alertmanager
// entries' TLS settings and credentials that does not read or parse
// (CheckConnectionFiles), and a model.file that does not load when a
// restart would read it (App.checkModelFile). It is what SIGHUP and POST
// /-/reload do.
func (a *App) Reload() error { return a.requestReload(nil, "reload") }

// reload applies the configuration file, or next when not nil (Apply); a
// failure is counted and logged here (once), sets
// omen_config_last_reload_successful to 0 until a reload applies, and is
// returned to the caller (SIGHUP, POST /-/reload, Apply).
func (a *App) reload(next *config.Config) error {
	err := a.applyConfig(next)
	var applied *AppliedError
	if errors.As(err, &applied) {
		a.reloads.WithLabelValues("success").Inc()
		a.reloadApplied()
		a.logger.Warn("configuration reloaded, with errors", "file", a.opts.ConfigFile, "err", applied.Err)
		return err
	}
	if err != nil {
		a.reloads.WithLabelValues("failure").Inc()
		a.reloadOK.Set(0)
		a.logger.Error("reload configuration", "file", a.opts.ConfigFile, "err", err)
		return err
	}
	a.reloads.WithLabelValues("success").Inc()
	a.reloadApplied()
	a.logger.Info("configuration reloaded", "file", a.opts.ConfigFile)
	return nil
}

// reloadApplied records that a configuration took effect (a reload that
// applied, with errors after it or not; the start's): the last reload
// succeeded, now.
func (a *App) reloadApplied() {
	a.reloadOK.Set(1)
	a.reloadTime.SetToCurrentTime()
}

func (a *App) applyConfig(next *config.Config) error {
	old := a.cfg.Load()
	cfg := old
	if next != nil {
		cfg = next
	} else if a.opts.ConfigFile != "" {
		c, err := config.LoadFile(a.opts.ConfigFile)
		if err != nil {
			return err
		}
		cfg = c
	}
	// What the running daemon cannot change consistently is refused
	// outright (it needs a restart).
	start := a.opts.Config
	if err := checkRestartNeeded(start, cfg); err != nil {
		return err
	}
	// What a start would refuse is refused too, restart-only sections
	// included: the daemon would not start again with the file.
	if err := CheckConfig(cfg); err != nil {
		return fmt.Errorf("%w (omen run and omen check config refuse this configuration: the daemon would not start again with it); nothing was reloaded", err)
	}
	if err := errors.Join(CheckConnectionFiles(cfg)...); err != nil {
		return fmt.Errorf("%w (omen run refuses to start with these files: the daemon would not start again with them); nothing was reloaded", err)
	}
	// Prepare: every component that can refuse cfg checks it before
	// anything changes, so that a refused reload keeps the running state
	// whole (event windows, Kubernetes event de-duplication, polled
	// values, limits, poller queries).
	if err := a.alerts.checkConfig(cfg); err != nil {
		return err
	}
	fx, err := a.extractor.PrepareConfig(cfg.Config)
	if err != nil {
		return fmt.Errorf("apply feature config: %w", err)
	}
	if err := a.sources.checkConfig(cfg); err != nil {
		return err
	}
	// The model.file decision and the switch to the new features hold the
	// registry lock, which promotions and rollbacks (omen model promote,
	// the API) hold from their check to the model in use: the registry's
	// active model the decision read stays active until the features have
	// switched, and a change waiting for the lock is then checked against
	// the new features. Without it a promotion between the two made a
	// model that does not fit them active, and the reload, accepted with a
	// warning, left a daemon that would not start again.
	unlock := a.scorer.lockRegistry()
	modelFileWarning, err := a.checkModelFile(cfg, fx)
	if err != nil {
		unlock()
		return err
	}
	if a.scorer.testHook != nil {
		a.scorer.testHook("model file checked")
	}
	// Apply, between two steps (a step's vectors are evaluated, stored
	// and scored under one layout): the schema first (a write, which can
	// still fail: then nothing changed), then the sources (whose checked
	// changes do not fail; if they did, the schema goes back), then the
	// extractor, which cannot fail. The extractor switches under the
	// registry lock, and the model must fit the features now extracted
	// (else it is unloaded).
	err = a.eval.changeLayout(func() error {
		// A reload cannot change the step (refused above): the one in use.
		step := time.Duration(old.Step)
		if err := a.store.PutSchemaPresence(fx.FeatureNames(), fx.LabelNames(), step, PresenceFeatures(cfg)); err != nil {
			return fmt.Errorf("record feature schema: %w", err)
		}
		if err := a.sources.setConfig(cfg); err != nil {
			return errors.Join(err, a.store.PutSchemaPresence(a.extractor.FeatureNames(), a.extractor.LabelNames(), step, a.extractor.Config().PresenceFeatures()))
		}
		a.scorer.featuresChanged(func() { a.extractor.ApplyConfig(fx) })
		return nil
	})
	unlock()
	if err != nil {
		return err
	}
	keys := restartOnlyKeys(start, cfg)
	if len(keys) > 0 {
		a.logger.Warn("configuration changes not applied until restart: the daemon keeps their start-time values", "sections", keys)
		a.restartRequired.Set(1)
	} else {
		a.restartRequired.Set(0)
	}
	if modelFileWarning != nil {
		a.logger.Warn("model.file does not load: a restart does not read it while the store's active model fits the features, "+
			"but omen run refuses to start with it on a store without one (a new store, or after the model is deleted)", "err", modelFileWarning)
	}
	err = a.alerts.setConfig(cfg)
	a.cfg.Store(cfg)
	if err != nil {
		return &AppliedError{Err: err}
	}
	// The Alertmanagers' settings were applied; the prometheus
	// entries' are not (restart-only).
	warnInsecureTLS(a.logger, cfg, false)
	return nil
}

// checkModelFile checks cfg's model.file (none: nothing to check) as a
// start reads it, against the features of fx (cfg's prepared feature
// configuration) and the step: a start reads it when the store's active
// model does not load or does not fit the features (readActiveModel, which
// the start's scorer loads it with). When it does not (no active model,
// or one that does not fit fx's features), a restart would read the file:
// one that does not load is refused (err). When the active model fits, in
// use or not (unloaded by an earlier reload of other features: this
// reload loads it again), a restart does not read the file: one that
// does not load is returned as warn, for the reload to log once applied.
func (a *App) checkModelFile(cfg *config.Config, fx *features.PreparedConfig) (warn, err error) {
	if cfg.Model.File == "" {
		return nil, nil
	}
	names, step := fx.FeatureNames(), time.Duration(a.cfg.Load().Step)
	ferr := checkModelFile(cfg.Model.File, names, step)
	if ferr == nil {
		return nil, nil
	}
	if readActiveModel(a.store, names, step) == nil {
		return ferr, nil
	}
	return nil, fmt.Errorf("%w (omen run refuses to start with it on this store, which has no active model that fits these features); nothing was reloaded", ferr)
}

// AppliedError is a reload's error from after the new configuration took
// effect (the alert pipeline's outbox writes for an added or removed
// Alertmanager): the configuration is in force, the error is reported.
type AppliedError struct{ Err error }

func (e *AppliedError) Error() string { return "configuration applied, but: " + e.Err.Error() }

// Unwrap returns the error.
func (e *AppliedError) Unwrap() error { return e.Err }

// checkRestartNeeded refuses a reloaded configuration cfg that changes,
// from the start-time configuration start, a setting the components read
// at start and that cannot change in some of them without the others:
// entity_labels (the Prometheus pollers' result labels, the scorer's
// per-entity history, the prediction metrics' labels and the stored
// predictions' entity keys), step (the evaluator, the scorer's windows,
// the alert pipeline and the pollers run at it) and lookback (the
// in-memory PromQL window and the ingest log kept to rebuild it). The
// feature extractor alone could take them; half of the daemon on the new
// values is worse than a refused reload, which keeps everything as it was.
func checkRestartNeeded(start, cfg *config.Config) error {
	s, c := start.Resolved(), cfg.Resolved()
	var changed []string
	if !slices.Equal(s.EntityLabels, c.EntityLabels) {
		changed = append(changed, fmt.Sprintf("entity_labels from %q to %q", s.EntityLabels, c.EntityLabels))
	}
	if s.Step != c.Step {
		changed = append(changed, fmt.Sprintf("step from %v to %v", s.Step, c.Step))
	}
	if s.Lookback != c.Lookback {
		changed = append(changed, fmt.Sprintf("lookback from %v to %v", s.Lookback, c.Lookback))
	}
	if len(changed) > 0 {
		return fmt.Errorf("configuration changes %s: these need a restart; nothing was reloaded", strings.Join(changed, ", "))
	}
	return nil
}

// restartOnlyKeys returns the keys whose change from start to cfg a
// reload accepts but does not apply (the daemon keeps the start-time
// values, and the reload logs a warning naming them): the sources'
// (restartOnly: ingest, the nats stream and consumer keys,
// remote_write.disabled, prometheus), max_series (the in-memory window's
// series and the event store's entities), runtime (GC settings and the
// memory releaser), model.file (read at start when the registry has no
// active model that fits; checkModelFile refuses or warns about a file
// that does not load) and storage (Badger's options).
func restartOnlyKeys(start, cfg *config.Config) []string {
	keys := restartOnlyOf(start).changed(restartOnlyOf(cfg))
	if start.Resolved().MaxSeries != cfg.Resolved().MaxSeries {
		keys = append(keys, "max_series")
	}
	if start.Runtime != cfg.Runtime {
		keys = append(keys, "runtime")
	}
	if start.Model.File != cfg.Model.File {
		keys = append(keys, "model.file")
	}
	if start.Storage != cfg.Storage {
		keys = append(keys, "storage")
	}
	return keys
}

// maintain runs retention a minute after the start and then hourly (a
// daemon restarted more often than hourly still runs it), and checks the
// model registry for a newly promoted model every few seconds.
func (a *App) maintain(ctx context.Context) error {
	retention := time.NewTimer(time.Minute)
	defer retention.Stop()
	models := time.NewTicker(2 * time.Second)
	defer models.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-retention.C:
			retention.Reset(time.Hour)
			n, err := a.store.RunRetention(ctx, now)
			if ctx.Err() != nil {
				return nil // stopping: the run was cut short
			}
			if err != nil {
				a.logger.Error("retention", "err", err)
				continue
			}
			a.logger.Debug("retention", "deleted", n)
		case <-models.C:
			if err := a.scorer.reloadModel(); err != nil {
				a.logger.Error("load promoted model", "err", err)
			}
		}
	}
}
