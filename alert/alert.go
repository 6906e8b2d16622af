package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/omen-sre/omen/internal/httptransport"
	"github.com/omen-sre/omen/internal/mapshrink"
	"github.com/omen-sre/omen/internal/redact"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// AlertName is the alertname label of every alert omen sends.
const AlertName = "ModuleLoadFailurePredicted"

// Severities: an alert fires critical when its probability is at least
// Options.CriticalProbability, else warning; a firing warning alert
// escalates to critical at the first step its probability reaches it, and
// stays critical until it resolves.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Outcomes: the outcome annotation of a resolved alert says why it
// resolved.
const (
	// OutcomeFailureBegan: the entity's failure labels were first set
	// while the alert fired (Prediction.Failing), and at one of its last
	// ResolveFor+1 steps seen: the predicted failure began and is under
	// way.
	OutcomeFailureBegan = "failure_began"
	// OutcomeFailureEnded: the failure labels were first set while the
	// alert fired, but not at its last ResolveFor+1 steps seen: the
	// predicted failure began and ended before the alert resolved.
	OutcomeFailureEnded = "failure_ended"
	// OutcomeFiredDuringFailure: the failure labels were set at or before
	// the step the alert fired at (while it was pending): it fired during
	// the failure, not ahead of it.
	OutcomeFiredDuringFailure = "fired_during_failure"
	// OutcomeNoLongerPredicted: the probability fell below ResolveRatio ×
	// threshold (for ResolveFor steps) with no failure label set.
	OutcomeNoLongerPredicted = "no_longer_predicted"
	// OutcomeEntityGone: the entity had no prediction for more than
	// MissingSteps steps, with no failure label set while it fired.
	OutcomeEntityGone = "entity_gone"
	// OutcomeEscalated: the warning version of an alert escalated to
	// critical, which ended as the critical one started (not resolved).
	OutcomeEscalated = "escalated"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultResendDelay         = time.Minute
	DefaultEvalInterval        = time.Minute
	DefaultFor                 = 2
	DefaultResolveRatio        = 0.8
	DefaultResolveFor          = 1
	DefaultResolvedRetention   = 15 * time.Minute
	DefaultMissingSteps        = 3
	DefaultCriticalProbability = 0.9
	DefaultTimeout             = 10 * time.Second
	DefaultMinBackoff          = 500 * time.Millisecond
	DefaultMaxBackoff          = 30 * time.Second
	DefaultMaxBatch            = 8
	DefaultExternalURL         = "http://localhost:9090"
)

// Prediction is the model's output for one entity at one evaluation step.
type Prediction struct {
	// ID identifies the prediction (store.PredictionID), passed to the
	// Explainer.
	ID string
	// Entity is the entity's id (e.g. namespace/pod).
	Entity string
	// Labels are the entity's identifying, low-cardinality labels
	// (namespace, pod or module, service); they become alert labels.
	Labels map[string]string
	// T is the step the prediction was made at.
	T time.Time
	// Prob is P(failure within Horizon) in [0, 1]; Anomaly is the
	// forecast-residual anomaly score; Threshold is the model's alerting
	// threshold for Prob. A NaN Prob or a Threshold outside (0, 1] counts as
	// no prediction.
	Prob, Anomaly, Threshold float64
	// Critical is the model's critical probability (model.Thresholds'
	// Critical, chosen on validation; 0 for a model without one): the
	// severity follows it when Options.CriticalProbability is 0.
	Critical     float64
	Horizon      time.Duration
	ModelVersion string
	// Unscored marks an entity that is present at this step but was not
	// scored (e.g. its window is not full yet after a restart or a
	// configuration reload, or there is no model): its alert state is left
	// as it is instead of counting the step as missing. Only Entity and
	// Labels are used; a scored prediction of the same entity wins.
	Unscored bool
	// Failing reports that the entity's failure labels are set at T: the
	// failure the model predicts is under way (also for an Unscored
	// prediction: an absent entity whose failure label fires). A firing
	// alert records the first such step (Alert.FailureBeganAt), and its
	// resolution says the predicted failure began rather than that omen
	// no longer predicts one: the model's probability collapses once the
	// failure is under way, and a bare "Resolved" would read as an
	// all-clear as the failure begins.
	Failing bool
	// AlertFingerprint is set by the Manager on the prediction it passes
	// to Explainer.Explain: the fingerprint of the alert expected to fire
	// (the explanation_url and generatorURL name it). The alert may not
	// fire after all (see Explainer): to store the explanation under it,
	// wait until Process returned and Alerts lists it firing on ID.
	AlertFingerprint string
}

// Cause is one ranked cause of a prediction.
type Cause struct {
	// Name is a feature name (for kind event, the event feature's name,
	// not the reasons it counts) or, for kind dependency, the blamed
	// service or entity.
	Name string `json:"name"`
	// Kind is "metric", "event" or "dependency".
	Kind string `json:"kind"`
	// Entity is the entity the cause was observed on (it may be a
	// dependency of the predicted entity).
	Entity string `json:"entity,omitempty"`
	// Share is the cause's share of the attribution, in [0, 1]: omen's
	// explainer gives |φ| / Σ|φ| over all the feature groups, the share
	// its API and UI show; for a dependency, its root-cause score (the
	// scores of the ranked entities sum to 1), shown apart from the
	// shares.
	Share float64 `json:"share"`
}

// Explanation is why a prediction was made.
type Explanation struct {
	// TopCauses are ranked, most important first.
	TopCauses []Cause `json:"top_causes,omitempty"`
	// URL is where the full explanation can be seen (explanation_url); when
	// empty, the firing's page in omen's UI, <ExternalURL>/ui/alerts/<id of
	// the prediction it fired on>, is used, and explanation_api_url is the
	// JSON, <ExternalURL>/api/v1/explanations/<that id>: the Explainer
	// stores the explanation under the prediction's id (omen's does).
	URL string `json:"url,omitempty"`
}

// Explainer explains predictions. Explain is called from Process for each
// alert that fires at its step, before Process returns, with up to
// explainWorkers (4) calls at once and without the Manager's lock held
// (Alerts, resends and deliveries are not blocked meanwhile), so it must be
// safe for concurrent use; it should be fast (a step waits for all its
// explanations) and honour ctx, which Close cancels; it must not retain p.
// Rarely (a reload changing For while a step is explained) a prediction is
// explained for an alert that then does not fire. An error is logged and
// the alert is sent without causes.
type Explainer interface {
	Explain(ctx context.Context, p Prediction) (Explanation, error)
}

// ExplainerFunc adapts a function (e.g. a fixed explanation in tests) to
// Explainer.
type ExplainerFunc func(ctx context.Context, p Prediction) (Explanation, error)

// Explain calls f.
func (f ExplainerFunc) Explain(ctx context.Context, p Prediction) (Explanation, error) {
	return f(ctx, p)
}

// Alert is an alert as the API shows it.
type Alert struct {
	// Fingerprint is the fingerprint of the labels the alert fired with
	// (severity included): it identifies the alert in omen
	// (/ui/alerts/<fingerprint> and its stored explanation show its
	// latest firing; the links it is sent with name the prediction it
	// fired on, see the package doc) for its whole life. An alert escalated to critical keeps it, so it is then not the
	// fingerprint of Labels (severity critical), under which Alertmanager
	// knows the critical alert: EscalatedFingerprint is that one. A
	// pending alert's labels have no severity yet, so its fingerprint is
	// not the one it will have firing.
	Fingerprint string `json:"fingerprint"`
	// EscalatedFingerprint is, for an alert escalated to critical
	// (EscalatedAt set), the fingerprint of Labels (severity critical):
	// the critical alert's as Alertmanager computes it, the second label
	// set omen sent the alert under. Empty when it did not escalate.
	EscalatedFingerprint string `json:"escalatedFingerprint,omitempty"`
	Entity               string `json:"entity"`
	// State is "pending" (at or over the threshold for fewer than For
	// steps: not sent to Alertmanager), "firing" or "resolved".
	State       string            `json:"state"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	// StartsAt is the step the alert fired at; for a pending alert, the
	// step it started pending at (zero when unknown: a state persisted
	// before it was kept).
	StartsAt time.Time `json:"startsAt"`
	// EscalatedAt is the step at which the firing alert escalated from
	// warning to critical (zero when it did not: it fired critical, or is
	// warning); Alertmanager has the critical alert start then, or when
	// it was sent if that step was ahead of the wall clock.
	EscalatedAt time.Time `json:"escalatedAt,omitzero"`
	ResolvedAt  time.Time `json:"resolvedAt,omitzero"`
	// FailureBeganAt is the first step since the alert started pending at
	// which the entity's failure labels were set (Prediction.Failing): at
	// or before StartsAt, the alert fired during the failure; after it,
	// the predicted failure began. Zero when they have not been.
	FailureBeganAt time.Time `json:"failureBeganAt,omitzero"`
	LastSent       time.Time `json:"lastSent,omitzero"`
	Severity       string    `json:"severity"`
	// Probability and Threshold are, as the annotations show them, the
	// newest prediction's while the alert is pending or firing, and those
	// of the prediction it resolved with once resolved (the newest
	// prediction's in states persisted before the resolution was kept).
	Probability float64 `json:"probability"`
	Threshold   float64 `json:"threshold"`
	// PredictionID is the prediction the alert fired on (the one
	// explained, which its links show), FiredProbability that
	// prediction's probability (0 when unknown: a state persisted before
	// it was kept, whose alert fired on an older prediction than the
	// newest).
	PredictionID     string       `json:"predictionId"`
	FiredProbability float64      `json:"firedProbability,omitempty"`
	ModelVersion     string       `json:"modelVersion"`
	GeneratorURL     string       `json:"generatorURL"`
	Explanation      *Explanation `json:"explanation,omitempty"`
}

// Options configure New. The zero value of every field but Store is valid
// and means the documented default.
type Options struct {
	// Store keeps the alert states and the outbox. Required; not closed by
	// the Manager.
	Store *store.Store
	// Alertmanagers are base URLs (http://host:9093); every alert goes to
	// every one of them. None: alerts are logged and kept in the store.
	Alertmanagers []string
	// ResendDelay is how often firing (and, for ResolvedRetention,
	// resolved) alerts are re-sent. Default 1m.
	ResendDelay time.Duration
	// EvalInterval is the evaluation step, used for endsAt. Default 1m.
	EvalInterval time.Duration
	// For is how many consecutive steps at or over the threshold fire an
	// alert. Default 2.
	For int
	// ResolveRatio: an alert resolves below ResolveRatio × threshold, in
	// (0, 1]. Default 0.8.
	ResolveRatio float64
	// ResolveFor is how many consecutive steps below ResolveRatio ×
	// threshold resolve a firing alert (a step at or over it starts the
	// count again); it resolves at the last of them (ResolvedAt, and the
	// prediction its resolved description shows). Steps without a
	// prediction neither count nor reset it: the entity's absence resolves
	// by MissingSteps. The count is persisted with the alert state, so a
	// restart resumes it. Default 1: the first step below resolves.
	ResolveFor int
	// ResolvedRetention is how long resolved alerts are re-sent. Default 15m.
	ResolvedRetention time.Duration
	// MissingSteps is how many consecutive steps an entity may lack a
	// prediction and keep its alert: at the next one without, the alert
	// resolves (and a pending one is dropped). Default 3: it resolves at
	// the 4th step without a prediction.
	MissingSteps int
	// CriticalProbability is the probability from which the severity is
	// critical rather than warning: at fire time, and, for a firing warning
	// alert, at any later step (it escalates, see the package doc). 0
	// follows the model: each prediction's Critical, or
	// DefaultCriticalProbability (0.9) for a model without one.
	CriticalProbability float64
	// ExternalURL is omen's URL as seen by SREs (generatorURL,
	// explanation_url). Default http://localhost:9090.
	ExternalURL string
	// RunbookBaseURL prefixes the relative runbook URLs of the remediation
	// tables. Default <ExternalURL>/docs/runbooks/.
	RunbookBaseURL string
	// Remediations extend and override DefaultRemediations.
	Remediations []Remediation
	// Explainer attaches explanations; nil: alerts carry no causes.
	Explainer Explainer
	// HTTPClient posts to the Alertmanagers Clients has no client for.
	// Default: a new http.Client with a clone of http.DefaultTransport,
	// its errors worded by httptransport.Explain (a server certificate
	// that does not verify names the certificate, its issuer and, for an
	// unknown authority, the system's CAs it was checked against).
	HTTPClient *http.Client
	// Clients are the HTTP clients of some Alertmanagers (their TLS
	// settings and credentials), by URL as listed in Alertmanagers (a
	// trailing "/" aside); one for a URL not listed is not used. The
	// Manager closes the idle connections of a client of Clients it stops
	// using (Reconfigure removes its Alertmanager or gives it another
	// client) and of all at Close.
	Clients map[string]*http.Client
	// Timeout bounds one POST. Default 10s.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential retry backoff per
	// Alertmanager. Defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// MaxBatch bounds the outbox items pending for one Alertmanager: beyond
	// it (an outage) they are compacted into one item holding the newest
	// version of each alert (see collapse), so the backlog is bounded by
	// MaxBatch resends (each up to one version of every alert), not by the
	// outage's length. One POST carries the newest version of each alert
	// of every pending item. The items of a POST in flight are left out
	// of a compaction (they are acknowledged when the POST ends), so the
	// backlog may reach MaxBatch+1 items meanwhile. Default 8.
	MaxBatch int
	// Now is the wall clock: Alertmanager's, against which the endsAt of
	// the alerts sent is set (see the package doc), and the step time when
	// Process is given a zero time; also the clock of the delivery
	// failures' log records (their pace, failing_since). Default time.Now.
	Now        func() time.Time
	Registerer prometheus.Registerer
	Logger     *slog.Logger

	ownClient bool // HTTPClient was made by New
}

func (o *Options) defaults() error {
	if o.Store == nil {
		return errors.New("alert options: Store is required")
	}
	if o.ResendDelay == 0 {
		o.ResendDelay = DefaultResendDelay
	}
	if o.EvalInterval == 0 {
		o.EvalInterval = DefaultEvalInterval
	}
	if o.For == 0 {
		o.For = DefaultFor
	}
	if o.ResolveRatio == 0 {
		o.ResolveRatio = DefaultResolveRatio
	}
	if o.ResolveFor == 0 {
		o.ResolveFor = DefaultResolveFor
	}
	if o.ResolvedRetention == 0 {
		o.ResolvedRetention = DefaultResolvedRetention
	}
	if o.MissingSteps == 0 {
		o.MissingSteps = DefaultMissingSteps
	}
	if o.ExternalURL == "" {
		o.ExternalURL = DefaultExternalURL
	}
	o.ExternalURL = strings.TrimRight(o.ExternalURL, "/")
	if o.RunbookBaseURL == "" {
		o.RunbookBaseURL = o.ExternalURL + "/docs/runbooks/"
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.HTTPClient == nil {
		// Go's default transport's timeouts and connections, its
		// errors worded as those of omen's client settings (a server
		// certificate that does not verify is named).
		o.HTTPClient = &http.Client{Transport: httptransport.Explain(http.DefaultTransport.(*http.Transport).Clone(), "")}
		o.ownClient = true
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	for name, d := range map[string]time.Duration{
		"resend delay": o.ResendDelay, "evaluation interval": o.EvalInterval,
		"resolved retention": o.ResolvedRetention, "timeout": o.Timeout,
		"min backoff": o.MinBackoff, "max backoff": o.MaxBackoff,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	if o.MaxBackoff < o.MinBackoff {
		errs = append(errs, fmt.Errorf("max backoff %s is below min backoff %s", o.MaxBackoff, o.MinBackoff))
	}
	if o.For < 1 {
		errs = append(errs, fmt.Errorf("for must be at least 1 step, got %d", o.For))
	}
	if o.ResolveFor < 1 {
		errs = append(errs, fmt.Errorf("resolve for must be at least 1 step, got %d", o.ResolveFor))
	}
	if o.MissingSteps < 1 {
		errs = append(errs, fmt.Errorf("missing steps must be at least 1, got %d", o.MissingSteps))
	}
	if o.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("max batch must be at least 1, got %d", o.MaxBatch))
	}
	if r := o.ResolveRatio; !(r > 0 && r <= 1) {
		errs = append(errs, fmt.Errorf("resolve ratio must be in (0, 1], got %g", r))
	}
	if c := o.CriticalProbability; !(c >= 0 && c <= 1) {
		errs = append(errs, fmt.Errorf("critical probability must be in (0, 1], or 0 to follow the model's, got %g", c))
	}
	if err := absURL(o.ExternalURL); err != nil {
		errs = append(errs, fmt.Errorf("external URL: %w", err))
	}
	seen := map[string]bool{}
	for i, am := range o.Alertmanagers {
		am = strings.TrimRight(am, "/")
		if err := absURL(am); err != nil {
			errs = append(errs, fmt.Errorf("alertmanager %d: %w", i, err))
		}
		// Two URLs differing only in a password or query value show
		// the same: their metrics (labelled by the display) would merge.
		shown := redact.URL(am)
		if seen[shown] {
			errs = append(errs, fmt.Errorf("alertmanager %q listed twice (with its password and query values hidden: its metrics would merge with the other's)", shown))
		}
		seen[shown] = true
		o.Alertmanagers[i] = am
	}
	if len(o.Clients) > 0 {
		clients := make(map[string]*http.Client, len(o.Clients))
		for am, c := range o.Clients {
			if c != nil {
				clients[strings.TrimRight(am, "/")] = c
			}
		}
		o.Clients = clients
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("alert options: %w", err)
	}
	return nil
}

// clientFor returns the HTTP client that posts to the Alertmanager am (a
// URL of Alertmanagers, defaults applied).
func (o *Options) clientFor(am string) *http.Client {
	if c := o.Clients[am]; c != nil {
		return c
	}
	return o.HTTPClient
}

// absURL checks s; its errors do not show a password in s.
func absURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", redact.URL(s))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", redact.URL(s))
	}
	return nil
}

// Manager runs the alerting pipeline. See the package documentation.
type Manager struct {
	opts    Options
	logger  *slog.Logger
	hyst    hysteresis
	remedy  *remedies
	targets []*target

	// procMu serialises Process; mu guards the rest (Process holds it
	// but while the alerts firing at its step are explained).
	procMu sync.Mutex
	mu     sync.Mutex
	states map[string]*entityState
	// statesPeak is the most states held: states is rebuilt once it
	// shrank to a quarter of that (mapshrink), so that the states of a
	// churn of entities (a rollout of pods), deleted once dropped, do not
	// keep their buckets.
	statesPeak mapshrink.Peak
	closed     bool
	// closeCtx is cancelled by Close (explanations in flight stop).
	closeCtx    context.Context
	closeCancel context.CancelFunc
	runCtx      context.Context // Run's, while it runs (for targets added)
	runWG       sync.WaitGroup  // delivery loops
	tm          *targetMetrics
	// lastT is the time of the last step, lastCall the wall-clock time
	// it ran (see resend).
	lastT, lastCall time.Time

	runMu   sync.Mutex
	running bool
	stop    context.CancelFunc
	done    chan struct{}

	alertsGauge *prometheus.GaugeVec
	explainErrs prometheus.Counter
	// critical is omen_alerting_critical_probability: the
	// CriticalProbability in force, set by New and Reconfigure, or, when
	// it follows the model, by Process from the step's predictions.
	critical prometheus.Gauge
	// modelCritical is the model's critical probability (Prediction's
	// Critical) of the last step's predictions, 0 before the first: while
	// Options.CriticalProbability is 0 (following the model), a
	// Reconfigure keeps the gauge at it rather than back at 0.9 (the
	// shipped critical rule compares with the gauge: each flip would
	// page).
	modelCritical float64

	// delivered, when set (tests), is called after an Alertmanager accepted
	// a POST, with the fingerprints it carried.
	delivered func(target string, fps []string, at time.Time)
}

// New builds a Manager and loads the alert states persisted in the store.
func New(opts Options) (*Manager, error) {
	opts.Alertmanagers = append([]string(nil), opts.Alertmanagers...)
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	rem := make([]Remediation, len(opts.Remediations))
	copy(rem, opts.Remediations)
	r, err := newRemedies(rem, opts.RunbookBaseURL)
	if err != nil {
		return nil, fmt.Errorf("alert options: %w", err)
	}
	f := promauto.With(opts.Registerer)
	m := &Manager{
		opts:   opts,
		logger: opts.Logger,
		hyst: hysteresis{For: opts.For, ResolveRatio: opts.ResolveRatio, ResolveFor: opts.ResolveFor,
			MissingSteps: opts.MissingSteps},
		remedy: r,
		states: map[string]*entityState{},
		alertsGauge: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "omen", Name: "alerts", Help: "Alerts by state (pending, firing, resolved and still re-sent).",
		}, []string{"state"}),
		explainErrs: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "alert_explain_errors_total", Help: "Explanations that could not be attached to a firing alert.",
		}),
		critical: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "omen", Name: "alerting_critical_probability",
			Help: "The critical probability in force: an alert whose failure probability reaches it is critical rather than warning. alerting.critical_probability when set (follows reloads), else the active model's from its first step (0.9 before it, and for a model without one).",
		}),
	}
	m.critical.Set(CriticalProbability(opts.CriticalProbability, 0))
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(newCauseCollector(m)); err != nil {
			return nil, fmt.Errorf("register cause metrics: %w", err)
		}
		if err := opts.Registerer.Register(newAgeCollector(m)); err != nil {
			return nil, fmt.Errorf("register outbox age metric: %w", err)
		}
	}
	tm := newTargetMetrics(f)
	m.tm = tm
	for _, am := range opts.Alertmanagers {
		tg := newTarget(am, tm, opts.clientFor(am))
		pend, err := opts.Store.Pending(tg.name, 0)
		if err != nil {
			return nil, fmt.Errorf("read outbox of %s: %w", redact.URL(am), scrub(err, am))
		}
		tg.resync(pend)
		m.targets = append(m.targets, tg)
	}
	sts, err := opts.Store.AlertStates()
	if err != nil {
		return nil, fmt.Errorf("load alert states: %w", err)
	}
	for _, st := range sts {
		s, err := decodeState(st)
		if err != nil {
			m.logger.Warn("dropping undecodable alert state", "fingerprint", st.Fingerprint, "err", err)
			continue
		}
		s.Runbook = r.relative(s.Runbook)
		m.states[s.Key] = s
	}
	m.updateGauges()
	m.closeCtx, m.closeCancel = context.WithCancel(context.Background())
	return m, nil
}

// Process runs one evaluation step at t (Now() when zero) with the
// predictions of every scored entity: it advances the hysteresis, fires and
// resolves alerts, and enqueues the due notifications in the durable outbox.
// It returns after the notifications and the changed states are durable.
// An error leaves the unsent notifications due, so that the next call sends
// them. When ctx is cancelled (or Close is called) while the alerts firing
// at the step are explained, the step is not applied and ctx's error is
// returned: those alerts fire, explained, at the next step, instead of
// firing now without their explanations.
func (m *Manager) Process(ctx context.Context, t time.Time, preds []Prediction) error {
	if t.IsZero() {
		t = m.opts.Now()
	}
	// Steps are serialised by procMu, not by mu: mu is released while the
	// alerts firing at this step are explained (see explainFiring).
	m.procMu.Lock()
	defer m.procMu.Unlock()
	byKey, labelsOf, unscored, failing := dedupe(preds)

	// Close cancels the explanations in flight.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(m.closeCtx, cancel)()

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("alert manager closed")
	}
	// The model's critical probability, from the prediction of the
	// least key (the map's order is random; the predictions of a step
	// normally come from one model), replayed ones included.
	first := ""
	for key := range byKey {
		if first == "" || key < first {
			first = key
		}
	}
	if p, ok := byKey[first]; ok {
		m.modelCritical = modelCritical(p)
		// Following the model: the gauge says the critical probability
		// of the model that scored this step.
		m.critical.Set(m.criticalFor(p))
	}
	// A prediction a state has already taken (its last, by ID: the same
	// entity and data step) is not counted again: a restarted daemon
	// evaluates the step its predecessor evaluated last once more, and
	// the restored state must not count that step twice. It keeps the
	// state as it is.
	var replayed map[string]bool
	for key, p := range byKey {
		if s, ok := m.states[key]; ok && p.ID != "" && s.Last.ID == p.ID {
			delete(byKey, key)
			if unscored == nil {
				unscored = map[string]bool{}
			}
			unscored[key] = true
			if replayed == nil {
				replayed = map[string]bool{}
			}
			replayed[key] = true // its failure labels are noted already
		}
	}
	expl, err := m.explainFiring(ctx, t, byKey, labelsOf)
	if err != nil {
		return err
	}

	// Whether the failure labels are set is noted at every step an
	// entity is seen at (scored or not) for its firing alert, and for one
	// counting toward firing (pending). A firing alert notes it before the
	// step, so that a resolution at this very step (the probability
	// collapses as the failure begins) says so; a pending one after it,
	// which may start a new run (and forget an older run's failure).
	for key, s := range m.states {
		_, scored := byKey[key]
		if (scored || unscored[key]) && !replayed[key] &&
			(s.State == store.AlertFiring || !scored && s.Count > 0) {
			m.noteFailing(s, t, failing[key])
		}
	}
	var fired []firing
	var dropped []*entityState
	step := func(s *entityState, p *Prediction) {
		tr := m.hyst.step(s, p, t)
		if p != nil && (tr == trFired || s.State != store.AlertFiring && s.Count > 0) {
			m.noteFailing(s, t, failing[s.Key])
		}
		switch tr {
		case trFired:
			fired = append(fired, firing{s, p})
		case trResolved:
			m.logger.Info("alert resolved", "entity", s.Entity, "fingerprint", s.AlertFP)
		case trDropped:
			dropped = append(dropped, s)
		case trNone:
			if p != nil && s.State == store.AlertFiring && s.Severity == SeverityWarning && p.Prob >= m.criticalFor(p) {
				m.escalate(s, p, t)
			}
		}
	}
	for key, p := range byKey {
		s, ok := m.states[key]
		if !ok {
			if p.Prob < p.Threshold {
				continue // nothing to track
			}
			s = &entityState{Key: key, Entity: p.Entity, Labels: labelsOf[key]}
			m.states[key] = s
		}
		step(s, p)
	}
	for key, s := range m.states {
		if _, ok := byKey[key]; !ok && !unscored[key] {
			step(s, nil)
		}
	}
	for _, f := range fired {
		m.fire(ctx, f.s, f.p, expl)
	}
	m.lastT, m.lastCall = t, time.Now()
	return m.finish(t, t, dropped)
}

// noteFailing notes whether the entity's failure labels are set at step t
// (see entityState.FailedAt).
func (m *Manager) noteFailing(s *entityState, t time.Time, failing bool) {
	if !failing {
		if !s.FailedAt.IsZero() {
			s.FailQuiet++
		}
		return
	}
	if s.FailedAt.IsZero() {
		s.FailedAt = t
		if s.State == store.AlertFiring {
			m.logger.Info("predicted failure began", "entity", s.Entity, "fingerprint", s.AlertFP)
		}
	}
	s.FailLast, s.FailQuiet = t, 0
}

// firing is an entity whose alert fires at a step, with the prediction it
// fires on.
type firing struct {
	s *entityState
	p *Prediction
}

// dedupe keeps the newest scored prediction per entity fingerprint (with
// the entity's alert labels) and collects the fingerprints of the unscored
// entities and of those whose failure labels are set (Failing, scored or
// not).
func dedupe(preds []Prediction) (byKey map[string]*Prediction, labelsOf map[string]map[string]string, unscored, failing map[string]bool) {
	byKey = make(map[string]*Prediction, len(preds))
	labelsOf = make(map[string]map[string]string, len(preds))
	for i := range preds {
		p := &preds[i]
		if p.Failing {
			if failing == nil {
				failing = map[string]bool{}
			}
			failing[fingerprint(baseLabels(p))] = true
		}
		if p.Unscored {
			if unscored == nil {
				unscored = map[string]bool{}
			}
			unscored[fingerprint(baseLabels(p))] = true
			continue
		}
		if math.IsNaN(p.Prob) || !(p.Threshold > 0 && p.Threshold <= 1) {
			continue
		}
		ls := baseLabels(p)
		key := fingerprint(ls)
		if q, ok := byKey[key]; ok && q.T.After(p.T) {
			continue
		}
		byKey[key] = p
		labelsOf[key] = ls
	}
	return byKey, labelsOf, unscored, failing
}

// explained is the explanation of the prediction p an alert (fingerprint
// fp) fires on.
type explained struct {
	key string // the entity's
	fp  string
	p   *Prediction
	e   Explanation
	err error
}

// explainWorkers bounds the concurrent Explain calls of one step.
const explainWorkers = 4

// explainRounds bounds how often explainFiring releases mu: beyond it
// (the states keep changing in between, e.g. a reload at every round),
// it explains what is left under mu, as Process always did before.
const explainRounds = 3

// explainFiring explains the alerts that will fire when the step at t runs
// on the current states (under mu, which it releases while Explain runs
// and re-takes). The explanations are computed without mu, so that a step
// firing many alerts at once does not block Alerts, resends, deliveries
// and reloads for the time of all the explanations. The step is tried on
// copies of the states, which stay as they are meanwhile: a reader sees
// the states of the last step until this one is applied, at once, by the
// caller. Whatever ran while mu was released (a resend, a reload changing
// For, Close) is accounted for by trying again on the states as they are
// now, until the alerts that fire are the ones explained: the caller
// applies the step in the same critical section as the last try. When ctx
// is done after some alerts were explained (the caller is stopping, or
// Close), it returns an error and the step must not be applied.
func (m *Manager) explainFiring(ctx context.Context, t time.Time, byKey map[string]*Prediction,
	labelsOf map[string]map[string]string) (map[string]explained, error) {
	x := m.opts.Explainer
	if x == nil {
		return nil, nil
	}
	var expl map[string]explained
	for round := 0; ; round++ {
		var todo []explained
		for key, p := range byKey {
			if p.Prob < p.Threshold {
				continue // does not fire
			}
			var c entityState
			if s := m.states[key]; s != nil {
				c = *s
			} else {
				c = entityState{Key: key, Entity: p.Entity, Labels: labelsOf[key]}
			}
			if m.hyst.step(&c, p, t) != trFired {
				continue
			}
			c.Severity = m.severity(p)
			fp := fingerprint(c.alertLabels())
			if r, ok := expl[key]; ok && r.fp == fp && r.p == p {
				continue
			}
			todo = append(todo, explained{key: key, fp: fp, p: p})
		}
		if len(todo) == 0 {
			break
		}
		// The last round runs under mu: the states cannot change, the
		// alerts explained are the ones that fire.
		last := round == explainRounds
		if !last {
			m.mu.Unlock()
		}
		explainAll(ctx, x, todo)
		if !last {
			m.mu.Lock()
			if m.closed {
				return nil, errors.New("alert manager closed")
			}
		}
		// Cancelled (the caller is stopping): the explanations failed for
		// that reason only; applying the step would fire its alerts
		// without them for good. Not applied, they fire explained at the
		// next step.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("step not applied: explanations of the firing alerts cancelled: %w", err)
		}
		if expl == nil {
			expl = make(map[string]explained, len(todo))
		}
		for _, r := range todo {
			expl[r.key] = r
		}
		if last {
			break
		}
	}
	return expl, nil
}

// explainAll explains the predictions of todo concurrently (at most
// explainWorkers at once), filling in their explanations.
func explainAll(ctx context.Context, x Explainer, todo []explained) {
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(explainWorkers, len(todo)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := &todo[i]
				p := *r.p
				p.AlertFingerprint = r.fp
				r.e, r.err = x.Explain(ctx, p)
			}
		}()
	}
	for i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
}

// finish ends a step at t (under mu): it stops re-sending resolved alerts
// after the retention, drops the states in dropped, enqueues the due
// notifications (due by the wall clock, see needsSending) and persists
// what changed. sent is the data time recorded as the alerts' LastSent:
// the step's; zero when no step has run since New (the alert's own last
// transition time stands in then).
func (m *Manager) finish(t, sent time.Time, dropped []*entityState) error {
	// Resolved alerts stop being re-sent after the retention.
	for _, s := range m.states {
		if s.State == store.AlertResolved && t.Sub(s.ResolvedAt) > m.opts.ResolvedRetention && !s.LastSent.Before(s.ResolvedAt) {
			if s.Count > 0 {
				s.State = store.AlertPending
			} else {
				dropped = append(dropped, s)
			}
		}
	}
	m.statesPeak.Note(len(m.states))
	for _, s := range dropped {
		delete(m.states, s.Key)
	}
	m.states = mapshrink.Compact(m.states, &m.statesPeak)

	// Route: the alerts due for sending.
	wall := m.opts.Now()
	var due []*entityState
	var payload []queued
	for _, s := range m.states {
		if m.needsSending(s, wall) {
			due = append(due, s)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].AlertFP < due[j].AlertFP })
	for _, s := range due {
		payload = append(payload, m.versions(s)...)
	}
	var errs []error
	if len(due) > 0 {
		if err := m.enqueue(m.targets, payload); err != nil {
			errs = append(errs, err)
			due = nil
		}
	}
	for _, s := range due {
		s.SentWall = wall
		switch {
		case !sent.IsZero():
			s.LastSent = sent
		case s.State == store.AlertResolved && s.LastSent.Before(s.ResolvedAt):
			s.LastSent = s.ResolvedAt
		case s.LastSent.Before(s.ActiveAt):
			s.LastSent = s.ActiveAt
		case s.State == store.AlertFiring && s.LastSent.Before(s.EscalatedAt):
			s.LastSent = s.EscalatedAt
		}
	}

	// Persist what changed.
	var changed []*entityState
	for _, s := range m.states {
		if s.core() != s.saved {
			changed = append(changed, s)
		}
	}
	errs = append(errs, m.persist(changed)...)
	for _, s := range dropped {
		if s.saved.State == "" {
			continue // never persisted
		}
		if err := m.opts.Store.DeleteAlertState(s.Key); err != nil {
			errs = append(errs, fmt.Errorf("delete alert state of %s: %w", s.Entity, err))
			continue
		}
		s.saved = stateCore{}
	}
	m.updateGauges()
	return errors.Join(errs...)
}

// resend re-sends the firing (and retained resolved) alerts whose resend
// delay has passed on the wall clock, between steps: when the steps are
// further apart than the resend delay (data time running slower than the
// wall clock, or a data stall: the evaluator steps only when data
// arrives), so that Alertmanager does not time them out (endsAt) and they
// do not flap. Their LastSent is the last step's time. When no step has
// run for a resend delay (a stall, or none since New), the retention of
// resolved alerts goes by the last step's time plus the wall-clock time
// elapsed since (stepTime). The hysteresis is not advanced: resolution
// still follows the alert rules at the next step.
func (m *Manager) resend() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	t := m.lastT
	if m.lastCall.IsZero() || time.Since(m.lastCall) >= m.opts.ResendDelay {
		t = m.stepTime()
	}
	if err := m.finish(t, m.lastT, nil); err != nil {
		m.logger.Error("re-send alerts", "err", err)
	}
}

// stepTime is the data time now: the last step's and the wall time since
// (under mu); the wall clock before the first step.
func (m *Manager) stepTime() time.Time {
	if m.lastCall.IsZero() {
		return m.opts.Now()
	}
	return m.lastT.Add(time.Since(m.lastCall))
}

// persistWorkers bounds the concurrent PutAlertState calls of one step;
// concurrent Badger commits share fsyncs.
const persistWorkers = 8

// persist writes the states of changed concurrently and marks them saved.
func (m *Manager) persist(changed []*entityState) []error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	next := make(chan *entityState)
	for w := 0; w < min(persistWorkers, len(changed)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range next {
				st, err := s.encode()
				if err == nil {
					err = m.opts.Store.PutAlertState(st)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("persist alert state of %s: %w", s.Entity, err))
					mu.Unlock()
					continue
				}
				s.saved = s.core()
			}
		}()
	}
	for _, s := range changed {
		next <- s
	}
	close(next)
	wg.Wait()
	return errs
}

// severity is the severity of an alert firing on p.
func (m *Manager) severity(p *Prediction) string {
	if p.Prob >= m.criticalFor(p) {
		return SeverityCritical
	}
	return SeverityWarning
}

// criticalFor is the critical probability in force for p: the
// configured one, or, when that is 0, the model's (p.Critical), or
// DefaultCriticalProbability for a model without one.
func (m *Manager) criticalFor(p *Prediction) float64 {
	return CriticalProbability(m.opts.CriticalProbability, modelCritical(p))
}

// modelCritical is the critical probability of p's model: p.Critical,
// or, for a model without one (a file from before it was recorded, or
// one whose value was not in (threshold, 1)) whose failure threshold is
// at or above DefaultCriticalProbability, midway from its threshold to 1
// (model.CriticalProbability), as the demo sets it: 0.9 would make its
// every alert critical. 0 otherwise (DefaultCriticalProbability applies).
func modelCritical(p *Prediction) float64 {
	if p.Critical > 0 {
		return p.Critical
	}
	if p.Threshold >= DefaultCriticalProbability {
		return model.CriticalProbability(p.Threshold, 1)
	}
	return 0
}

// CriticalProbability is the critical probability in force: configured
// (alerting.critical_probability) when positive, else the model's
// (model.Thresholds' Critical) when in (0, 1], else
// DefaultCriticalProbability.
func CriticalProbability(configured, model float64) float64 {
	switch {
	case configured > 0:
		return configured
	case model > 0 && model <= 1:
		return model
	}
	return DefaultCriticalProbability
}

// fire fixes the severity and labels of a newly firing alert, firing on
// p, and attaches its explanation (from expl, computed by explainFiring,
// whose last try runs under mu; Explain is called here, under mu, only as
// a safeguard should the step fire an alert explainFiring did not
// foresee) and remediation.
func (m *Manager) fire(ctx context.Context, s *entityState, p *Prediction, expl map[string]explained) {
	s.Severity = m.severity(p)
	s.AlertFP = fingerprint(s.alertLabels())
	s.EscalatedAt, s.EscalatedProb = time.Time{}, 0
	s.FiredID, s.FiredProb = p.ID, p.Prob
	s.Explanation = nil
	if m.opts.Explainer != nil {
		r, ok := expl[s.Key]
		if !ok || r.fp != s.AlertFP || r.p != p {
			rs := []explained{{key: s.Key, fp: s.AlertFP, p: p}}
			explainAll(ctx, m.opts.Explainer, rs)
			r = rs[0]
		}
		if r.err != nil {
			m.explainErrs.Inc()
			m.logger.Warn("explain firing alert", "entity", s.Entity, "prediction", p.ID, "err", r.err)
		} else {
			e := r.e
			s.Explanation = &e
		}
	}
	var causes []Cause
	if s.Explanation != nil {
		causes = s.Explanation.TopCauses
	}
	s.Action, s.Runbook = m.remedy.pick(causes)
	m.logger.Info("alert firing", "entity", s.Entity, "fingerprint", s.AlertFP, "severity", s.Severity,
		"probability", p.Prob, "threshold", p.Threshold)
}

// escalate makes the firing warning alert s critical at step t, its
// probability p.Prob having reached CriticalProbability. Its fingerprint
// (omen's identifier of the alert, which its links name), explanation,
// action and runbook stay; the next send carries the critical alert
// firing and the warning one resolved (see versions). It stays critical
// until it resolves: a lower probability, or a higher CriticalProbability
// after a reload, does not make it warning again.
func (m *Manager) escalate(s *entityState, p *Prediction, t time.Time) {
	s.Severity = SeverityCritical
	s.EscalatedAt, s.EscalatedProb = t, p.Prob
	m.logger.Info("alert escalated", "entity", s.Entity, "fingerprint", s.AlertFP, "severity", s.Severity,
		"probability", p.Prob, "critical_probability", m.criticalFor(p))
}

// needsSending follows Prometheus' rule manager: pending alerts are not
// sent; an alert is sent when it fired or resolved since its last send
// (data times: LastSent against ActiveAt or ResolvedAt), or when the
// resend delay has passed since its last send on the wall clock (wall,
// Options.Now): Alertmanager times a firing alert out by its clock (the
// endsAt lead counts from the send's wall time), so resends keep to it
// whether data time runs slower or faster than the wall clock.
//
// A firing alert whose entity had no prediction at its last step(s)
// (Missing > 0: it may resolve within MissingSteps more steps, e.g. during
// the idle steps after a stall, which run at once) is re-sent only once
// half of its endsAt lead has passed: often it resolves first, and a
// firing resend just before its resolution only adds a notification.
func (m *Manager) needsSending(s *entityState, wall time.Time) bool {
	switch s.State {
	case store.AlertFiring:
		if s.LastSent.Before(s.ActiveAt) || s.LastSent.Before(s.EscalatedAt) {
			return true
		}
		if s.Missing > 0 {
			return !wall.Before(s.SentWall.Add(2 * max(m.opts.EvalInterval, m.opts.ResendDelay)))
		}
		return !wall.Before(s.SentWall.Add(m.opts.ResendDelay))
	case store.AlertResolved:
		return s.LastSent.Before(s.ResolvedAt) || !wall.Before(s.SentWall.Add(m.opts.ResendDelay))
	}
	return false
}

// Pending returns the pending alerts (over the threshold for fewer than
// For steps: never sent), ordered by fingerprint. A pending alert (see
// Alert) has no severity, no causes, no links and no GeneratorURL: it has
// not fired.
func (m *Manager) Pending() []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Alert
	for _, s := range m.states {
		if s.State == store.AlertPending {
			out = append(out, m.pendingAlert(s))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out
}

// Alerts returns the firing and resolved (still re-sent) alerts, ordered by
// fingerprint; Pending returns the pending ones.
func (m *Manager) Alerts() []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Alert
	for _, s := range m.states {
		if s.State != store.AlertFiring && s.State != store.AlertResolved {
			continue
		}
		pa := m.postable(s)
		a := Alert{
			Fingerprint: s.AlertFP, Entity: s.Entity, State: s.State,
			Labels: pa.Labels, Annotations: pa.Annotations,
			StartsAt: s.ActiveAt, EscalatedAt: s.EscalatedAt, LastSent: s.LastSent, Severity: s.Severity,
			Probability: s.Last.Prob, Threshold: s.Last.Threshold,
			PredictionID: s.FiredID, ModelVersion: s.Last.ModelVersion,
			GeneratorURL: pa.GeneratorURL,
		}
		if a.PredictionID == "" {
			a.PredictionID = s.Last.ID // a state persisted before FiredID was kept
		}
		if !s.EscalatedAt.IsZero() {
			a.EscalatedFingerprint = fingerprint(pa.Labels)
		}
		a.FiredProbability = s.firedProb()
		if s.State == store.AlertFiring {
			a.FailureBeganAt = s.FailedAt
		}
		if s.State == store.AlertResolved {
			a.ResolvedAt = s.ResolvedAt
			if r := s.Resolution; r != nil && r.FailureBegan != 0 {
				a.FailureBeganAt = fromMS(r.FailureBegan)
			}
			// As the annotations say it: the prediction it resolved
			// with, not a later one (the entity's next steps, over the
			// threshold again or none at all, change Last).
			if r := s.Resolution; r != nil {
				a.Probability, a.Threshold = r.Prob, r.Threshold
				if r.ModelVersion != "" {
					a.ModelVersion = r.ModelVersion
				}
			}
		}
		if s.Explanation != nil {
			e := *s.Explanation
			e.TopCauses = append([]Cause(nil), e.TopCauses...)
			a.Explanation = &e
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out
}

// pendingAlert is the pending alert of s (under mu): its labels without
// severity, the step it started pending at, and its newest prediction.
func (m *Manager) pendingAlert(s *entityState) Alert {
	ls := make(map[string]string, len(s.Labels))
	for k, v := range s.Labels {
		ls[k] = v
	}
	p := s.Last
	ps := Percents(p.Prob, p.Threshold)
	summary := "Module load failure predicted for " + s.Entity
	if p.Horizon > 0 {
		summary += " within " + formatDuration(p.Horizon)
	}
	detail := fmt.Sprintf("anomaly score %.2f", finite(p.Anomaly))
	if p.ModelVersion != "" {
		detail = "model " + p.ModelVersion + ", " + detail
	}
	an := map[string]string{
		"summary": "Pending: " + summary,
		"description": fmt.Sprintf("Pending: the probability of a module-load failure of %s is %s, at or over the threshold %s "+
			"for %d of the %d steps that fire an alert (%s).", s.Entity, ps[0], ps[1], s.Count, m.hyst.For, detail),
		"probability": Probability(p.Prob, p.Threshold),
		"horizon":     formatDuration(p.Horizon),
	}
	for k, v := range an {
		if v == "" {
			delete(an, k)
		}
	}
	return Alert{
		Fingerprint: s.Key, Entity: s.Entity, State: store.AlertPending, Labels: ls, Annotations: an,
		StartsAt: s.PendingSince, Probability: finite(p.Prob), Threshold: p.Threshold,
		PredictionID: p.ID, ModelVersion: p.ModelVersion,
	}
}

func (m *Manager) updateGauges() {
	n := map[string]int{store.AlertPending: 0, store.AlertFiring: 0, store.AlertResolved: 0}
	for _, s := range m.states {
		n[s.State]++
	}
	for st, c := range n {
		m.alertsGauge.WithLabelValues(st).Set(float64(c))
	}
}

// Run delivers the outbox to every Alertmanager, and re-sends the firing
// alerts when no step has run for a resend delay (see resend), until ctx is
// done or Close is called; it returns nil then. It must be called at most
// once.
func (m *Manager) Run(ctx context.Context) error {
	m.runMu.Lock()
	if m.running || m.done != nil {
		m.runMu.Unlock()
		return errors.New("alert manager: Run called twice")
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		m.runMu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	m.running, m.stop, m.done = true, cancel, make(chan struct{})
	m.runMu.Unlock()
	defer close(m.done)
	defer cancel()
	m.mu.Lock()
	m.runCtx = ctx
	for _, tg := range m.targets {
		m.startTarget(tg)
	}
	m.mu.Unlock()
	// Firing alerts are re-sent on a wall-clock schedule too (resend).
	for done := false; !done; {
		m.mu.Lock()
		period := max(m.opts.ResendDelay/2, time.Millisecond)
		m.mu.Unlock()
		tick := time.NewTimer(period)
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			m.resend()
		}
		tick.Stop()
	}
	m.mu.Lock()
	m.runCtx = nil // no more targets start
	m.mu.Unlock()
	m.runWG.Wait()
	return nil
}

// startTarget starts tg's delivery loop when Run runs (under mu).
func (m *Manager) startTarget(tg *target) {
	if m.runCtx == nil || m.runCtx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(m.runCtx)
	tg.stop, tg.done = cancel, make(chan struct{})
	m.runWG.Add(1)
	go func() {
		defer m.runWG.Done()
		defer close(tg.done)
		m.deliver(ctx, tg)
	}()
}

// Reload is what Reconfigure can change while the Manager runs; the
// fields mean what the Options fields of the same names mean (zero: the
// default).
type Reload struct {
	Alertmanagers []string
	ResendDelay   time.Duration
	EvalInterval  time.Duration
	For           int
	ResolveRatio  float64
	// ResolveFor: default DefaultResolveFor; applies from the next step,
	// also to the count of a firing alert already below the resolve
	// threshold (which resolves at its next step below when the count
	// already reaches it).
	ResolveFor int
	// CriticalProbability: 0 follows the model (see Options); applies
	// from the next step, to the alerts that fire and to the firing
	// warning alerts, which escalate when their probability reaches it (a
	// critical alert stays critical).
	CriticalProbability float64
	ExternalURL         string
	// RunbookBaseURL: default <ExternalURL>/docs/runbooks/.
	RunbookBaseURL string
	Remediations   []Remediation
	// Clients: as Options.Clients (an Alertmanager not in it posts with
	// Options.HTTPClient); a kept Alertmanager given another client posts
	// with it from its next POST.
	Clients map[string]*http.Client
}

// ExternalURL returns the external URL in force: the base of the links
// (generatorURL, explanation_url, runbook_url) of the alerts rendered now.
func (m *Manager) ExternalURL() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.opts.ExternalURL
}

// CheckReload reports whether Reconfigure would accept r, changing
// nothing.
func (m *Manager) CheckReload(r Reload) error {
	_, _, err := m.reloaded(r)
	return err
}

func (m *Manager) reloaded(r Reload) (Options, *remedies, error) {
	m.mu.Lock()
	o := m.opts
	m.mu.Unlock()
	o.Alertmanagers = append([]string(nil), r.Alertmanagers...)
	o.ResendDelay, o.EvalInterval, o.For, o.ResolveRatio = r.ResendDelay, r.EvalInterval, r.For, r.ResolveRatio
	o.ResolveFor = r.ResolveFor
	o.CriticalProbability = r.CriticalProbability
	o.ExternalURL, o.RunbookBaseURL = r.ExternalURL, r.RunbookBaseURL
	o.Clients = r.Clients
	if err := o.defaults(); err != nil {
		return Options{}, nil, err
	}
	rem, err := newRemedies(append([]Remediation(nil), r.Remediations...), o.RunbookBaseURL)
	if err != nil {
		return Options{}, nil, fmt.Errorf("alert options: %w", err)
	}
	return o, rem, nil
}

// Reconfigure applies a configuration reload, keeping the alert states:
// thresholds (For, ResolveRatio, ResolveFor) and the resend delay apply from the next
// step; the external URL, and the remediation tables, apply to the alerts
// rendered and fired from now on (a firing alert keeps its action and
// runbook, but a relative runbook such as a built-in one is rendered with
// the new runbook base URL, as all of omen's own links); Alertmanagers added get a delivery loop and the current
// firing and resolved alerts at once; those removed have their delivery
// loop stopped and their pending outbox items dropped. An invalid r
// changes nothing.
func (m *Manager) Reconfigure(r Reload) error {
	o, rem, err := m.reloaded(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errors.New("alert manager closed")
	}
	m.opts.ResendDelay, m.opts.EvalInterval = o.ResendDelay, o.EvalInterval
	m.opts.For, m.opts.ResolveRatio, m.opts.ResolveFor = o.For, o.ResolveRatio, o.ResolveFor
	m.opts.CriticalProbability = o.CriticalProbability
	// Following the model (0): the model's of the last step, kept
	// (0.9 before the first step).
	m.critical.Set(CriticalProbability(o.CriticalProbability, m.modelCritical))
	m.opts.ExternalURL, m.opts.RunbookBaseURL = o.ExternalURL, o.RunbookBaseURL
	m.hyst.For, m.hyst.ResolveRatio, m.hyst.ResolveFor = o.For, o.ResolveRatio, o.ResolveFor
	m.remedy = rem

	want := make(map[string]bool, len(o.Alertmanagers))
	for _, am := range o.Alertmanagers {
		want[am] = true
	}
	have := make(map[string]bool, len(m.targets))
	var kept, removed, added []*target
	for _, tg := range m.targets {
		have[tg.name] = true
		if want[tg.name] {
			kept = append(kept, tg)
		} else {
			removed = append(removed, tg)
		}
	}
	var errs []error
	for _, am := range o.Alertmanagers {
		if have[am] {
			continue
		}
		// Items pending for it are left over from an earlier
		// configuration: stale.
		if err := m.opts.Store.DropTarget(am); err != nil {
			errs = append(errs, fmt.Errorf("drop stale outbox of %s: %w", redact.URL(am), scrub(err, am)))
		}
		tg := newTarget(am, m.tm, o.clientFor(am))
		added = append(added, tg)
		kept = append(kept, tg)
	}
	// A kept Alertmanager's new client (its TLS settings or credentials
	// changed) posts from its next POST; the one it replaces may be
	// posting now, and is closed once no longer in use (below).
	var dropped []*http.Client
	for _, tg := range kept {
		if c := o.clientFor(tg.name); c != tg.client.Load() {
			dropped = append(dropped, tg.client.Swap(c))
			tg.check.Store(true)
			// Checked before its next POST: at once when its loop is idle
			// (not at its next poll), after the backoff when it retries.
			select {
			case tg.wake <- struct{}{}:
			default:
			}
			m.logger.Info("alertmanager connection settings applied from the next POST", "alertmanager", tg.label)
		}
	}
	for _, tg := range removed {
		dropped = append(dropped, tg.client.Load())
	}
	m.targets = kept
	m.opts.Alertmanagers = o.Alertmanagers
	m.opts.Clients = o.Clients
	// Labels still in use: a changed password keeps the redacted label.
	inUse := make(map[string]bool, len(kept))
	for _, tg := range kept {
		inUse[tg.label] = true
	}
	if len(added) > 0 {
		if err := m.sendAll(added); err != nil {
			errs = append(errs, err)
		}
		for _, tg := range added {
			m.startTarget(tg)
			m.logger.Info("alertmanager added", "alertmanager", tg.label)
		}
	}
	m.mu.Unlock()

	for _, tg := range removed {
		if tg.stop != nil {
			tg.stop()
			<-tg.done
		}
		if err := m.opts.Store.DropTarget(tg.name); err != nil {
			errs = append(errs, fmt.Errorf("drop outbox of removed %s: %w", tg.label, scrub(err, tg.name)))
		}
		if !inUse[tg.label] {
			m.tm.forget(tg.label)
		}
		m.removed(tg)
	}
	m.closeIdle(dropped)
	return errors.Join(errs...)
}

// closeIdle closes the idle connections of the clients cs that no
// Alertmanager posts with any more (the default client stays open until
// Close).
func (m *Manager) closeIdle(cs []*http.Client) {
	m.mu.Lock()
	inUse := map[*http.Client]bool{m.opts.HTTPClient: true}
	for _, tg := range m.targets {
		inUse[tg.client.Load()] = true
	}
	m.mu.Unlock()
	for _, c := range cs {
		if c != nil && !inUse[c] {
			c.CloseIdleConnections()
			inUse[c] = true // once
		}
	}
}

// sendAll enqueues the firing and resolved (still re-sent) alerts for tgs
// only (under mu), e.g. Alertmanagers just added.
func (m *Manager) sendAll(tgs []*target) error {
	var due []*entityState
	for _, s := range m.states {
		if s.State == store.AlertFiring || s.State == store.AlertResolved {
			due = append(due, s)
		}
	}
	if len(due) == 0 {
		return nil
	}
	sort.Slice(due, func(i, j int) bool { return due[i].AlertFP < due[j].AlertFP })
	payload := make([]queued, 0, len(due))
	for _, s := range due {
		payload = append(payload, m.versions(s)...)
	}
	return m.enqueue(tgs, payload)
}

// Close stops Run (waiting for it to return) and makes later Process calls
// fail. Undelivered notifications stay in the store's outbox. Close is
// idempotent.
func (m *Manager) Close() {
	m.runMu.Lock()
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.closeCancel()
	stop, done := m.stop, m.done
	m.runMu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	m.mu.Lock()
	closing := map[*http.Client]bool{}
	if m.opts.ownClient {
		closing[m.opts.HTTPClient] = true
	}
	for _, tg := range m.targets {
		if c := tg.client.Load(); c != m.opts.HTTPClient {
			closing[c] = true
		}
	}
	m.mu.Unlock()
	for c := range closing {
		c.CloseIdleConnections()
	}
}
