package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/explain"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/mapshrink"
	"github.com/omen-sre/omen/internal/redact"
	"github.com/omen-sre/omen/store"
)

// FiredAlert is reported to Options.OnAlert when an alert starts firing,
// to Options.OnEscalate when a firing warning alert becomes critical, and
// to Options.OnResolve (with T the data time of the step that resolved
// it, and no probability, causes nor annotations) when it stops. The
// Fingerprint identifies the alert for its whole life: an escalated alert
// keeps the one it fired with.
type FiredAlert struct {
	Fingerprint string
	Entity      string
	// Labels are the alert's labels at the report: for OnAlert those it
	// fired with, for OnEscalate the critical ones (severity critical),
	// for OnResolve those it had when it resolved (critical once it
	// escalated).
	Labels map[string]string
	// T is the data time of the prediction that fired it (OnAlert), of the
	// step it escalated (OnEscalate) or resolved (OnResolve) at.
	T time.Time
	// Prob is the probability of the prediction that fired it (OnAlert)
	// or escalated it (OnEscalate).
	Prob float64
	// Causes are the ranked metric and event causes (feature names), best
	// first.
	Causes []string
	// Annotations are the alert's annotations as sent to Alertmanager.
	Annotations map[string]string
	// FailureBegan (OnResolve only) is the step at which the entity's
	// failure labels were first set while the alert fired, when they
	// were still set as it resolved: the predicted failure began and is
	// under way, and the alert resolved because of it, not as an
	// all-clear (alert.OutcomeFailureBegan). Zero otherwise: also when
	// they were set before the alert fired
	// (alert.OutcomeFiredDuringFailure) or not since long before it
	// resolved (alert.OutcomeFailureEnded).
	FailureBegan time.Time
	// Outcome (OnResolve only) is the resolved alert's outcome
	// annotation (alert.Outcome*).
	Outcome string
}

// markFailing sets the Failing flag of the predictions whose entity's
// vector of the step (vs) has a failure label set: the alerts resolving
// as their predicted failure begins say so (alert.Prediction.Failing).
func markFailing(preds []prediction, vs []features.Vector) {
	var failing map[string]bool
	for _, v := range vs {
		if slices.Contains(v.Failure, true) {
			if failing == nil {
				failing = map[string]bool{}
			}
			failing[v.Entity] = true
		}
	}
	for i := range preds {
		preds[i].Failing = failing[preds[i].Entity]
	}
}

type alerterOptions struct {
	Store         *store.Store
	Config        *config.Config
	ExtraURLs     []string
	ListenAddress string
	// TLS is whether the web server serves HTTPS: the links built from
	// ListenAddress (no external URL configured) then use https.
	TLS        bool
	Explainer  *explainer
	Step       time.Duration
	OnAlert    func(FiredAlert)
	OnEscalate func(FiredAlert)
	OnResolve  func(FiredAlert)
	// CallbackQueue bounds the calls queued (callbacks.max); 0:
	// DefaultAlertCallbackQueue.
	CallbackQueue int
	Registerer    prometheus.Registerer
	Logger        *slog.Logger
}

// alerter adapts the scorer's predictions to the alert pipeline and the
// explainer to the pipeline's Explainer, and reports newly fired alerts.
type alerter struct {
	opts alerterOptions
	m    *alert.Manager

	mu sync.Mutex
	// firing are the alerts reported to OnAlert (or restored firing) by
	// fingerprint, with the labels last reported (OnEscalate updates
	// them), which OnResolve reports.
	firing map[string]FiredAlert
	// firingPeak is the most entries firing held: it is rebuilt once it
	// shrank to a quarter of that (mapshrink), so that the alerts of a
	// churn of entities, deleted once resolved, do not keep its buckets.
	firingPeak mapshrink.Peak
	// calls runs OnAlert, OnEscalate and OnResolve.
	calls callbacks

	// listenMu guards opts.ListenAddress, which bind changes once the
	// HTTP listener is bound (a reload reads it meanwhile), and clients.
	listenMu sync.Mutex
	// clients are the HTTP clients of the Alertmanagers of the
	// configuration in force that set tls_config, basic_auth or
	// authorization, by URL (alertmanagerClients).
	clients map[string]amClient

	// docs are the explanation documents (or notes, see unexplained)
	// computed at the running step, by the fingerprint of the alert
	// expected to fire on them; process stores those of the alerts that
	// did fire under their fingerprint (see storeFired).
	docsMu sync.Mutex
	docs   map[string]firedDoc

	// failing logs a run of failed steps (process); the evaluator's
	// goroutine alone runs them.
	failing failureLog
}

// firedDoc is the explanation document of the prediction predID.
type firedDoc struct {
	predID string
	doc    []byte
}

func newAlerter(o alerterOptions) (*alerter, error) {
	clients, err := alertmanagerClients(o.Config, nil)
	if err != nil {
		return nil, fmt.Errorf("create alert manager: %w", err)
	}
	r := reloadOf(o, o.Config)
	a := &alerter{opts: o, firing: map[string]FiredAlert{}, clients: clients, failing: failureLog{logger: o.Logger, now: time.Now}}
	a.calls = callbacks{
		max: o.CallbackQueue, logger: o.Logger,
		dropped: promauto.With(o.Registerer).NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "alert_callbacks_dropped_total",
			Help: "Alert reports (OnAlert, OnEscalate, OnResolve calls of an embedder such as the demo) dropped because the callback queue was full (a callback slower than the alerts): an alert's fire with its later reports, else an escalation.",
		}),
	}
	m, err := alert.New(alert.Options{
		Store:         o.Store,
		Alertmanagers: r.Alertmanagers,
		ResendDelay:   r.ResendDelay,
		EvalInterval:  r.EvalInterval,
		For:           r.For,
		ResolveRatio:  r.ResolveRatio,
		ResolveFor:    r.ResolveFor,
		ExternalURL:   r.ExternalURL,

		CriticalProbability: r.CriticalProbability,
		Remediations:        r.Remediations,
		Clients:             httpClientsOf(clients),
		Explainer:           alertExplainer{a},
		Registerer:          o.Registerer,
		Logger:              o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("create alert manager: %w", err)
	}
	a.m = m
	// The alerts restored firing (a restart) were reported by the process
	// that fired them: not reported again, but their resolution is.
	for _, al := range m.Alerts() {
		if al.State == "firing" {
			a.firing[al.Fingerprint] = FiredAlert{Fingerprint: al.Fingerprint, Entity: al.Entity, Labels: al.Labels}
		}
	}
	return a, nil
}

// bind sets the address the HTTP listener is bound to (the port chosen
// for a listen address with port 0, e.g. 127.0.0.1:0): without
// alerting.external_url, the alerts' links (generatorURL, explanation_url,
// runbook_url) are built from it, not from the configured address. The
// alerts rendered from now on (and those re-sent) carry the new links;
// Start calls it before any step runs.
func (a *alerter) bind(addr string) error {
	a.listenMu.Lock()
	defer a.listenMu.Unlock()
	if addr == a.opts.ListenAddress {
		return nil
	}
	a.opts.ListenAddress = addr
	r := reloadOf(a.opts, a.opts.Config)
	r.Clients = httpClientsOf(a.clients)
	if err := a.m.Reconfigure(r); err != nil {
		return fmt.Errorf("alerting: links to %s: %w", addr, err)
	}
	return nil
}

// options returns a.opts as bind left it.
func (a *alerter) options() alerterOptions {
	a.listenMu.Lock()
	defer a.listenMu.Unlock()
	return a.opts
}

// reloadOf is the alert manager's part of cfg: the whole alerting section
// but min_lead (read by omen train only). The step is the daemon's. Without
// an external URL, the links are built from o.ListenAddress: the bound
// address once the listener is bound (see alerter.bind), with https when the
// web server serves TLS (http://… would be answered 400 by it).
func reloadOf(o alerterOptions, cfg *config.Config) alert.Reload {
	urls := make([]string, 0, len(cfg.Alerting.Alertmanagers)+len(o.ExtraURLs))
	for _, am := range cfg.Alerting.Alertmanagers {
		urls = append(urls, am.URL)
	}
	urls = append(urls, o.ExtraURLs...)
	ext := cfg.Alerting.ExternalURL
	if ext == "" {
		scheme := "http://"
		if o.TLS {
			scheme = "https://"
		}
		ext = scheme + externalHost(o.ListenAddress)
	}
	rem := make([]alert.Remediation, 0, len(cfg.Alerting.Remediations))
	for _, r := range cfg.Alerting.Remediations {
		rem = append(rem, alert.Remediation{Cause: r.Cause, Action: r.Action, RunbookURL: r.RunbookURL})
	}
	return alert.Reload{
		Alertmanagers: urls, ResendDelay: time.Duration(cfg.Alerting.ResendDelay), EvalInterval: o.Step,
		For: cfg.Alerting.For, ResolveRatio: cfg.Alerting.ResolveRatio, ResolveFor: cfg.Alerting.ResolveFor,
		ExternalURL: ext, Remediations: rem,
		CriticalProbability: cfg.Alerting.CriticalProbability,
	}
}

// amClient is the HTTP client of an Alertmanager, made with settings.
type amClient struct {
	settings config.HTTPClientConfig
	client   *http.Client
}

// alertmanagerClients returns the HTTP clients of cfg's Alertmanagers
// that set tls_config, basic_auth or authorization, by URL: have's when
// its settings are the same (its connections are kept; the files it
// reads are read again by the client itself when they change), else a
// new one. An Alertmanager of --alertmanager.url, or one setting none of
// them, posts with the alert pipeline's default client.
func alertmanagerClients(cfg *config.Config, have map[string]amClient) (map[string]amClient, error) {
	out := map[string]amClient{}
	for i, am := range cfg.Alerting.Alertmanagers {
		if am.IsZero() {
			continue
		}
		if c, ok := have[am.URL]; ok && c.settings == am.HTTPClientConfig {
			out[am.URL] = c
			continue
		}
		c, err := am.Client("alertmanager")
		if err != nil {
			return nil, fmt.Errorf("alerting.alertmanagers[%d] %s: %w", i, redact.URL(am.URL), err)
		}
		out[am.URL] = amClient{am.HTTPClientConfig, c}
	}
	return out, nil
}

// httpClientsOf returns the clients of cs, as alert.Options.Clients.
func httpClientsOf(cs map[string]amClient) map[string]*http.Client {
	out := make(map[string]*http.Client, len(cs))
	for u, c := range cs {
		out[u] = c.client
	}
	return out
}

// boundAddress is the configured listen address with the port the
// listener bound (a configured port 0 picks one): the configured host is
// kept, a name (omen.corp, localhost) rather than the address it resolved
// to. An address that does not split is replaced by the bound one.
func boundAddress(configured string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(configured)
	_, port, berr := net.SplitHostPort(bound.String())
	if err != nil || berr != nil {
		return bound.String()
	}
	return net.JoinHostPort(host, port)
}

// externalHost turns a listen address into a host:port a browser can use.
func externalHost(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// process hands one step's predictions to the pipeline. It must be called
// at every evaluated step, also with no predictions: an entity with an
// alert state and no prediction counts a missing step, and its alert
// resolves after alert.Options.MissingSteps of them. unscored are the
// vectors of the entities the model did not score at the step (a window
// still filling, a scoring failure: scorer.score): they keep their alert
// state instead. The step runs at its data time t: the alerts' times
// (startsAt, resolvedAt, the API's active_at and resolved_at) are the data
// times of the steps they fired and resolved at, as their predictions' are
// (in production the data time lags the wall clock by about a step; in the
// demo it runs ahead of it). The alert pipeline sets what Alertmanager is
// sent against the wall clock (see the alert package's doc).
func (a *alerter) process(ctx context.Context, t int64, preds []prediction, unscored []features.Vector) {
	in := make([]alert.Prediction, len(preds), len(preds)+len(unscored))
	now := time.UnixMilli(t)
	for i, p := range preds {
		in[i] = alert.Prediction{
			ID: p.ID, Entity: p.Entity, Labels: alertLabels(p.Labels), T: now,
			Prob: p.Prob, Anomaly: p.Anomaly, Threshold: p.Threshold,
			Horizon: p.Horizon, ModelVersion: p.ModelVersion, Failing: p.Failing,
		}
		if p.Model != nil {
			// The severity follows it unless alerting.critical_probability
			// is set.
			in[i].Critical = p.Model.Thresholds().Critical
		}
	}
	for _, v := range unscored {
		in = append(in, alert.Prediction{Entity: v.Entity, Labels: v.Labels, T: now, Unscored: true,
			Failing: slices.Contains(v.Failure, true)})
	}
	err := a.m.Process(ctx, now, in)
	switch {
	case err != nil && ctx.Err() != nil:
		a.opts.Logger.Info("step not applied: stopping", "err", err)
	case err != nil:
		a.failing.failed("process predictions", err)
	default:
		a.failing.worked("process predictions")
	}
	a.storeFired()
	a.storeEscalated(a.report(t))
}

// remember keeps the explanation document of p, computed for the alert
// p.AlertFingerprint, until the step ends.
func (a *alerter) remember(p alert.Prediction, doc []byte) {
	if p.AlertFingerprint == "" {
		return
	}
	a.docsMu.Lock()
	defer a.docsMu.Unlock()
	if a.docs == nil {
		a.docs = map[string]firedDoc{}
	}
	a.docs[p.AlertFingerprint] = firedDoc{predID: p.ID, doc: doc}
}

// storeFired stores the explanation documents of the step's alerts that
// fired (firing now on the prediction explained for them) under their
// fingerprint, whose links (/ui/alerts/<fingerprint>; those an alert
// without explanation is sent with) show the alert's latest firing after
// the alert state is dropped (15 minutes after it resolves), until
// retention. An explained alert is sent with links naming the prediction
// it fired on, under which the explainer stored the document: each
// firing keeps its own. The documents of alerts that did not
// fire (the step was not applied: Close, a cancelled context; a reload
// changed For meanwhile) are dropped: an older alert with the same
// fingerprint must not show them.
func (a *alerter) storeFired() {
	a.docsMu.Lock()
	docs := a.docs
	a.docs = nil
	a.docsMu.Unlock()
	if len(docs) == 0 {
		return
	}
	for _, al := range a.m.Alerts() {
		d, ok := docs[al.Fingerprint]
		if !ok || al.State != store.AlertFiring || al.PredictionID != d.predID {
			continue
		}
		if err := a.opts.Store.PutExplanation(al.Fingerprint, d.doc); err != nil {
			a.opts.Logger.Warn("store the explanation of a fired alert", "fingerprint", al.Fingerprint, "err", err)
		}
	}
}

// storeEscalated stores, for each alert that escalated to critical at the
// step (report's), the explanation document stored under the fingerprint
// it fired with (storeFired's) under its critical fingerprint too: the
// one Alertmanager knows the critical alert by, which an SRE copies from
// Alertmanager, and which must keep resolving (/ui/alerts/<fingerprint>,
// /api/v1/explanations/<fingerprint>, omen explain) after the alert state
// is dropped, as the one it fired with does.
func (a *alerter) storeEscalated(escalated []alert.Alert) {
	for _, al := range escalated {
		if al.EscalatedFingerprint == "" {
			continue
		}
		doc, err := a.opts.Store.Explanation(al.Fingerprint)
		if errors.Is(err, store.ErrNotFound) {
			continue // none stored when it fired (a failed write, logged then)
		}
		if err == nil {
			err = a.opts.Store.PutExplanation(al.EscalatedFingerprint, doc)
		}
		if err != nil {
			a.opts.Logger.Warn("store the explanation of an escalated alert under its critical fingerprint",
				"fingerprint", al.Fingerprint, "critical_fingerprint", al.EscalatedFingerprint, "err", err)
		}
	}
}

// explainedNow replaces, after the prediction predID was explained on
// demand (doc), the note stored under a fingerprint of a current alert
// that fired on predID without explanation (see unexplained): the one it
// fired with and, escalated, its critical one.
func (a *alerter) explainedNow(predID string, doc []byte) error {
	for _, al := range a.m.Alerts() {
		if al.PredictionID != predID {
			continue
		}
		for _, fp := range []string{al.Fingerprint, al.EscalatedFingerprint} {
			if fp == "" {
				continue
			}
			old, err := a.opts.Store.Explanation(fp)
			if err != nil {
				continue // none stored (or unreadable): the alert's link resolves to predID
			}
			var x struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(old, &x) != nil || x.Error == "" {
				continue
			}
			if err := a.opts.Store.PutExplanation(fp, doc); err != nil {
				return fmt.Errorf("replace the note of alert %s: %w", fp, err)
			}
		}
	}
	return nil
}

// alertLabels keeps the identifying labels of an entity.
func alertLabels(l map[string]string) map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}

// report calls OnAlert for alerts that started firing since the last call,
// OnEscalate for those that escalated to critical and OnResolve for those
// that stopped, with T the data time t of the step (an alert fires on the
// step's prediction, escalates and resolves at the step). It returns the
// alerts that escalated.
func (a *alerter) report(t int64) []alert.Alert {
	all := a.m.Alerts()
	a.mu.Lock()
	defer a.mu.Unlock()
	var escalated []alert.Alert
	live := map[string]bool{}
	began := map[string]time.Time{} // of the alerts resolved, by fingerprint
	outcome := map[string]string{}
	for _, al := range all {
		if al.State == store.AlertResolved {
			outcome[al.Fingerprint] = al.Annotations["outcome"]
			if outcome[al.Fingerprint] == alert.OutcomeFailureBegan {
				began[al.Fingerprint] = al.FailureBeganAt
			}
		}
		if al.State != "firing" {
			continue
		}
		live[al.Fingerprint] = true
		prev, known := a.firing[al.Fingerprint]
		f := a.opts.OnAlert
		switch {
		case !known:
		case prev.Labels["severity"] != al.Labels["severity"]:
			// Escalated since the last report (the only change of a
			// firing alert's labels).
			f = a.opts.OnEscalate
			escalated = append(escalated, al)
		default:
			continue
		}
		fa := FiredAlert{
			Fingerprint: al.Fingerprint, Entity: al.Entity, Labels: al.Labels,
			T: time.UnixMilli(t), Prob: al.Probability, Annotations: al.Annotations,
		}
		if al.Explanation != nil {
			for _, c := range al.Explanation.TopCauses {
				if c.Kind != "dependency" {
					fa.Causes = append(fa.Causes, c.Name)
				}
			}
		}
		a.firing[al.Fingerprint] = FiredAlert{Fingerprint: fa.Fingerprint, Entity: fa.Entity, Labels: fa.Labels}
		kind := reportFire
		if known {
			kind = reportEscalate
		}
		if f != nil {
			a.calls.push(callbackReport{kind: kind, fp: fa.Fingerprint, call: func() { f(fa) }})
		}
	}
	a.firingPeak.Note(len(a.firing))
	for fp, fa := range a.firing {
		if live[fp] {
			continue
		}
		delete(a.firing, fp)
		// Pushed without OnResolve too: it ends the alert's life in
		// the queue (see callbacks.push).
		r := callbackReport{kind: reportResolve, fp: fp}
		if f := a.opts.OnResolve; f != nil {
			fa.T, fa.FailureBegan, fa.Outcome = time.UnixMilli(t), began[fp], outcome[fp]
			r.call = func() { f(fa) }
		}
		a.calls.push(r)
	}
	a.firing = mapshrink.Compact(a.firing, &a.firingPeak)
	return escalated
}

// DefaultAlertCallbackQueue is the default Options.AlertCallbackQueue.
const DefaultAlertCallbackQueue = 10000

// reportKind is the callback a queued report calls.
type reportKind uint8

const (
	reportFire     reportKind = iota // OnAlert
	reportEscalate                   // OnEscalate
	reportResolve                    // OnResolve
)

// callbackReport is one report of the alert fp: call makes it (nil for a
// resolve without OnResolve: it is not queued, but still ends the alert's
// life, see push).
type callbackReport struct {
	kind reportKind
	fp   string
	call func()
	// ends is set on the last queued report of an alert's life when the
	// life ended with a resolve that has no call (no OnResolve): shed
	// drops the life up to it, not the fingerprint's next one.
	ends bool
}

// callbacks runs the OnAlert, OnEscalate and OnResolve calls one at a
// time, in the order the steps reported them (an alert's OnResolve after
// its OnAlert), on a goroutine of their own (a step does not wait for
// them), which runs while calls are queued. At most max calls wait: when
// full, push drops reports by the rule of Options.AlertCallbackQueue (the
// oldest queued fire with the rest of its alert's life, else the oldest
// escalation; never a resolve whose fire was or will be delivered),
// counts them in dropped and warns once until the queue drains. Closing
// waits for the queued calls.
type callbacks struct {
	max     int // 0: DefaultAlertCallbackQueue
	logger  *slog.Logger
	dropped prometheus.Counter // nil: not counted

	mu     sync.Mutex
	queue  []callbackReport
	done   chan struct{} // of the goroutine running the queue; nil: none
	closed bool
	// burst is the number of calls dropped since the queue last drained:
	// the first drop of a burst warns.
	burst int
	// unseen are the alerts whose fire was dropped and whose resolve has
	// not been reported yet: their escalation and resolve are dropped
	// too (the consumer never heard of them).
	unseen map[string]bool
}

// push queues r; when the queue is then over its bound, it drops (see
// shed). The reports of an alert whose fire was dropped are dropped, up
// to its resolve. A resolve without call is not queued: it marks the
// last queued report of its alert as the end of the alert's life (see
// callbackReport.ends), which shed then knows. Nothing once closed.
func (c *callbacks) push(r callbackReport) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.unseen[r.fp] {
		switch r.kind {
		case reportFire: // a new life of the fingerprint (not expected before its resolve)
			delete(c.unseen, r.fp)
		case reportResolve:
			delete(c.unseen, r.fp)
			fallthrough
		default:
			if r.call != nil && c.dropped != nil {
				c.dropped.Inc()
			}
			return
		}
	}
	if r.call == nil {
		if r.kind == reportResolve {
			// Reports come in order: the last queued report of r.fp,
			// if any, is of the life resolved (its fire, if dropped,
			// made it unseen, above; if delivered, so were the earlier
			// lives' reports; if queued, it follows them). A scan of
			// the queue, as shed's, only while it is not empty.
			for i := len(c.queue) - 1; i >= 0; i-- {
				if c.queue[i].fp == r.fp {
					c.queue[i].ends = true
					break
				}
			}
		}
		return
	}
	limit := c.max
	if limit <= 0 {
		limit = DefaultAlertCallbackQueue
	}
	c.queue = append(c.queue, r)
	if len(c.queue) > limit {
		if n := c.shed(); n > 0 {
			if c.dropped != nil {
				c.dropped.Add(float64(n))
			}
			if c.burst == 0 && c.logger != nil {
				c.logger.Warn("alert callbacks queue full: dropping the oldest alerts' reports, fire first (a callback is slower than the alerts)",
					"queue", limit, "metric", "omen_alert_callbacks_dropped_total")
			}
			c.burst += n
		}
	}
	if c.done == nil {
		c.done = make(chan struct{})
		go c.run(c.done)
	}
}

// shed drops queued reports and returns how many: the oldest fire with
// its alert's later reports up to its resolve, or the report marked as
// its life's end (callbackReport.ends); if its life has not ended yet,
// the alert is unseen: its later reports are dropped as they come, up to
// its resolve; else the oldest escalation. Queued resolves alone are kept,
// over the bound: their alerts' fires were delivered.
func (c *callbacks) shed() int {
	i := slices.IndexFunc(c.queue, func(r callbackReport) bool { return r.kind == reportFire })
	if i < 0 {
		i = slices.IndexFunc(c.queue, func(r callbackReport) bool { return r.kind == reportEscalate })
		if i < 0 {
			return 0
		}
		c.queue = slices.Delete(c.queue, i, i+1)
		return 1
	}
	fp := c.queue[i].fp
	keep, n, resolved := c.queue[:i], 1, c.queue[i].ends
	for _, r := range c.queue[i+1:] {
		if !resolved && r.fp == fp {
			n++
			resolved = r.kind == reportResolve || r.ends
			continue
		}
		keep = append(keep, r)
	}
	clear(c.queue[len(keep):])
	c.queue = keep
	if !resolved {
		if c.unseen == nil {
			c.unseen = map[string]bool{}
		}
		c.unseen[fp] = true
	}
	return n
}

// run calls the queued functions until the queue is empty.
func (c *callbacks) run(done chan struct{}) {
	defer close(done)
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			if c.burst > 0 && c.logger != nil {
				c.logger.Info("alert callbacks caught up", "dropped", c.burst)
			}
			c.queue, c.done, c.burst = nil, nil, 0
			c.mu.Unlock()
			return
		}
		f := c.queue[0].call
		c.queue[0] = callbackReport{}
		c.queue = c.queue[1:]
		c.mu.Unlock()
		f()
	}
}

// close refuses later calls and waits until the queued ones have returned,
// or ctx ends.
func (c *callbacks) close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	done, n := c.done, len(c.queue)
	c.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("alert callbacks (OnAlert, OnEscalate, OnResolve) still running, %d more queued: %w", n, ctx.Err())
	}
}

// Alerts returns the pipeline's current alerts: firing and resolved.
func (a *alerter) Alerts() []alert.Alert { return a.m.Alerts() }

// listed returns the alerts the API lists: firing, resolved and pending.
func (a *alerter) listed() []alert.Alert { return append(a.m.Alerts(), a.m.Pending()...) }

// run delivers the outbox (to the Alertmanagers of the current
// configuration: a reload may add some) and re-sends firing alerts during
// data stalls, until ctx ends.
func (a *alerter) run(ctx context.Context) error {
	if err := a.m.Run(ctx); err != nil {
		return fmt.Errorf("deliver alerts: %w", err)
	}
	<-ctx.Done()
	return nil
}

// close stops the alert pipeline, and waits for the OnAlert and OnResolve
// calls reported until ctx ends.
func (a *alerter) close(ctx context.Context) error {
	a.m.Close()
	return a.calls.close(ctx)
}

// checkConfig reports whether setConfig would accept cfg's alerting
// section, changing nothing: a reload checks it before applying anything.
//
// The Alertmanagers' clients are built by setConfig only: their files
// were checked before (CheckConnectionFiles), and CheckReload does not
// read the clients.
func (a *alerter) checkConfig(cfg *config.Config) error {
	if err := a.m.CheckReload(reloadOf(a.options(), cfg)); err != nil {
		return fmt.Errorf("alerting: %w", err)
	}
	return nil
}

// setConfig applies a reloaded configuration: the explainer's, and the
// alerting section, live, keeping the alert states (alert.Manager's
// Reconfigure: for, resolve_ratio, resend_delay, external_url and
// remediations; Alertmanagers added start receiving the current alerts,
// those removed stop and lose their pending notifications; an
// Alertmanager whose tls_config, basic_auth or authorization changed
// posts with a new client from its next POST). min_lead is read by omen
// train, not by the daemon. An error (after checkConfig passed, only an
// outbox write for an added or removed Alertmanager, refused e.g. when
// the disk is nearly full) is returned once the rest is applied:
// App.applyConfig reports it as an *AppliedError. (A CA, certificate or
// key file that stopped reading since checkConfig read it fails the
// alerting section's reload whole, reported the same way.)
func (a *alerter) setConfig(cfg *config.Config) error {
	if a.opts.Explainer != nil {
		a.opts.Explainer.setConfig(cfg)
	}
	a.listenMu.Lock()
	defer a.listenMu.Unlock()
	clients, err := alertmanagerClients(cfg, a.clients)
	if err != nil {
		return fmt.Errorf("alerting: %w", err)
	}
	a.opts.Config = cfg // bind rebuilds the links from the configuration in force
	a.clients = clients
	r := reloadOf(a.opts, cfg)
	r.Clients = httpClientsOf(clients)
	if err := a.m.Reconfigure(r); err != nil {
		return fmt.Errorf("alerting: %w", err)
	}
	return nil
}

// alertExplainer explains the prediction an alert fires on, stores the
// explanation with the prediction (and, once the alert fired, under its
// fingerprint: see storeFired), and gives the pipeline the ranked causes:
// metric groups by attribution share, then root-cause entities.
type alertExplainer struct{ a *alerter }

func (e alertExplainer) Explain(ctx context.Context, p alert.Prediction) (alert.Explanation, error) {
	ex := e.a.opts.Explainer
	if ex == nil {
		return alert.Explanation{}, nil
	}
	x, err := e.explain(ctx, ex, p)
	if err != nil && ctx.Err() == nil {
		// The alert fires without causes; its links show the prediction
		// and why. (Cancelled: the step is not applied, nothing fires.)
		doc, derr := ex.unexplained(p, err)
		if derr != nil {
			e.a.opts.Logger.Warn("encode the prediction of an unexplained alert", "entity", p.Entity, "err", derr)
		} else {
			e.a.remember(p, doc)
		}
	}
	return x, err
}

func (e alertExplainer) explain(ctx context.Context, ex *explainer, p alert.Prediction) (alert.Explanation, error) {
	pred, ok := ex.scorer.latestPrediction(p.Entity)
	if !ok || pred.ID != p.ID {
		return alert.Explanation{}, fmt.Errorf("prediction %s is no longer the latest of %s", p.ID, p.Entity)
	}
	x, err := ex.explain(ctx, pred)
	if err != nil {
		return alert.Explanation{}, err
	}
	doc, err := ex.storeExplanation(x)
	if err != nil {
		return alert.Explanation{}, err
	}
	e.a.remember(p, doc)
	ex.mu.RLock()
	events := make(map[string]bool, len(ex.cfg.EventFeatures))
	for _, f := range ex.cfg.EventFeatures {
		events[f.Name] = true
	}
	ex.mu.RUnlock()
	return alert.Explanation{TopCauses: causesOf(x, p.Entity, events)}, nil
}

// causesOf ranks the explanation's causes for an alert: the metric groups
// that pushed the probability up (φ > 0 and at least alert.MinCauseShare
// (2%) of the positive attribution Σφ⁺, as explain.Causes selects the
// explanation's causes.metrics), largest φ first, then the root-cause
// entities other than the alert's own, by root-cause score (Cause.Share of
// kind dependency; scores under alert.MinCauseShare are left out). A
// metric cause's Share is the API's and the UI's share, |φ| / Σ|φ| over
// all groups (explain.GroupAttribution.Share): the alert's top_causes show
// the figures its explanation page shows. (They were φ / Σφ⁺, 98% where
// the page said 89.7% when a group pulled the other way.) eventFeatures
// names the features that count events (their causes are of kind event).
func causesOf(x Explanation, self string, eventFeatures map[string]bool) []alert.Cause {
	var pos, abs float64
	for _, g := range x.Attribution.Groups {
		if g.Phi > 0 {
			pos += g.Phi
		}
		abs += math.Abs(g.Phi)
	}
	groups := append([]explain.GroupAttribution(nil), x.Attribution.Groups...)
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].Phi > groups[j].Phi })
	var out []alert.Cause
	for _, g := range groups {
		if g.Phi <= 0 || len(out) == 5 || g.Phi/pos < alert.MinCauseShare {
			break
		}
		kind := "metric"
		if eventFeatures[g.Name] {
			kind = "event"
		}
		out = append(out, alert.Cause{Name: g.Name, Kind: kind, Entity: self, Share: math.Abs(g.Phi) / abs})
	}
	selfSvc := serviceOf(x.Labels)
	for _, c := range x.Causes.Entities {
		if c.Entity == self || c.Entity == selfSvc || len(out) >= 8 || !(c.Score >= alert.MinCauseShare) {
			continue
		}
		out = append(out, alert.Cause{Name: c.Entity, Kind: "dependency", Entity: c.Entity, Share: c.Score})
	}
	return out
}
