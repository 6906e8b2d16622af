package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/omen-sre/omen/explain"
	"github.com/omen-sre/omen/internal/errclass"
	"github.com/omen-sre/omen/internal/redact"
	"github.com/omen-sre/omen/store"
)

// postableAlert is Alertmanager API v2's postableAlert.
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// queued is an alert as stored in the outbox: the postableAlert plus
// whether it is the resolved version (merge keeps the last firing and the
// last resolved version of each alert). The flag is not sent.
type queued struct {
	postableAlert
	Resolved bool `json:"resolved,omitempty"`
}

// postable renders s as sent now (Options.Now).
func (m *Manager) postable(s *entityState) postableAlert {
	p := s.Last
	// Alertmanager expires and resolves alerts by its own (wall) clock,
	// while the states' times are data times (the step's), which lag the
	// wall clock by a step or so, by much more while omen catches up after
	// a restart, and lead it in a simulation running faster than real
	// time. Times ahead of the wall clock are sent as now (a resolution
	// ahead of Alertmanager's clock would keep the alert active until
	// then). A firing alert's endsAt counts its lead from the wall clock,
	// as the resends do (needsSending): from a data time behind, a
	// catching-up omen would send alerts Alertmanager reads as resolved at
	// once; from one ahead, a stopped omen's alerts would stay active in
	// Alertmanager for as long as the data ran ahead.
	wall := m.opts.Now()
	// An escalated alert is, for Alertmanager, a critical alert that
	// started when it escalated (see versions).
	start := s.ActiveAt
	if !s.EscalatedAt.IsZero() {
		start = s.EscalatedAt
	}
	a := postableAlert{
		Labels:       s.alertLabels(),
		StartsAt:     notAfter(start, wall).UTC(),
		GeneratorURL: m.opts.ExternalURL + "/ui/alerts/" + url.PathEscape(s.linkID()),
	}
	if s.State == store.AlertResolved {
		a.EndsAt = notAfter(s.ResolvedAt, wall).UTC()
	} else {
		a.EndsAt = wall.Add(4 * max(m.opts.EvalInterval, m.opts.ResendDelay)).UTC()
	}
	// explanation_url is the alert's page in omen's UI (the generatorURL),
	// which shows the explanation of the prediction it fired on (its
	// waterfall, causes and metrics; or why it has none): a person follows
	// it from a notification. The same explanation as JSON, for tools, is
	// explanation_api_url, and the page links to it.
	var causes []Cause
	explURL, apiURL := a.GeneratorURL, ""
	if s.Explanation != nil {
		causes = s.Explanation.TopCauses
		apiURL = m.opts.ExternalURL + "/api/v1/explanations/" + url.PathEscape(s.linkID())
		if s.Explanation.URL != "" {
			// The Explainer's own page: omen's API may not hold it.
			explURL, apiURL = s.Explanation.URL, ""
		}
	}
	horizon := formatDuration(p.Horizon)
	top := formatCauses(causes)
	summary := fmt.Sprintf("Module load failure predicted for %s", s.Entity)
	if p.Horizon > 0 {
		summary += " within " + horizon
	}
	model := ""
	if p.ModelVersion != "" {
		model = ", model " + p.ModelVersion
	}
	var desc, probText string
	switch {
	case s.State != store.AlertResolved:
		fired := s.firedProb()
		if s.State != store.AlertFiring || s.FiredID == "" || s.FiredID == p.ID {
			fired = 0 // fired on the newest prediction (or not fired yet)
		}
		ps := Percents(p.Prob, p.Threshold, fired)
		probText = Probability(p.Prob, p.Threshold, fired)
		desc = fmt.Sprintf("omen predicts a module-load failure of %s with probability %s (threshold %s%s, anomaly score %.2f).",
			s.Entity, ps[0], ps[1], model, finite(p.Anomaly))
		if fired != 0 {
			desc += " It fired at " + ps[2] + "; its causes and explanation are those of that prediction."
		}
		if !s.EscalatedAt.IsZero() {
			desc += " It became critical at " + Percents(s.EscalatedProb)[0] + "."
		}
		if top != "" {
			desc += " Top causes: " + top + "."
		}
		if s.Action != "" {
			desc += " " + s.Action
		}
	default:
		desc, probText = m.resolvedDescription(s, top)
	}
	outcome := ""
	if s.State == store.AlertResolved {
		summary = "Resolved: " + summary
		if r := s.Resolution; r != nil {
			outcome = r.outcome()
			switch outcome {
			case OutcomeFailureBegan:
				summary = fmt.Sprintf("Resolved, failure began: the module load failure predicted for %s began at %s",
					s.Entity, stepTime(r.FailureBegan))
			case OutcomeFailureEnded:
				summary = fmt.Sprintf("Resolved, failure ended: a module load failure of %s occurred %s and is over",
					s.Entity, failSpan(r))
			case OutcomeFiredDuringFailure:
				summary = fmt.Sprintf("Resolved, fired during failure: the failure labels of %s were set from %s, "+
					"at or before the alert fired at %s", s.Entity, stepTime(r.FailureBegan), s.ActiveAt.UTC().Format(time.RFC3339))
			}
		}
	}
	a.Annotations = map[string]string{
		"summary":             summary,
		"description":         desc,
		"probability":         probText, // as the description's: when it resolved
		"horizon":             horizon,
		"top_causes":          top,
		"recommended_action":  s.Action,
		"runbook_url":         m.remedy.url(s.Runbook),
		"explanation_url":     explURL,
		"explanation_api_url": apiURL,
		"outcome":             outcome,
	}
	for k, v := range a.Annotations {
		if v == "" {
			delete(a.Annotations, k)
		}
	}
	return a
}

// notAfter is t, or wall when t is after it (see postable).
func notAfter(t, wall time.Time) time.Time {
	if t.After(wall) {
		return wall
	}
	return t
}

// versions are the versions of s to send at step t (under mu): its
// postable; for an alert escalated to critical (EscalatedAt), also its
// warning version, resolved at EscalatedAt: Alertmanager identifies an
// alert by its labels, so the warning one must end, in the same
// notification round as the critical one starts. The warning version is
// re-sent with the alert for as long as it is: while it fires critical,
// and for ResolvedRetention after it resolved. An inhibit rule (critical
// mutes the warning of the same entity) keeps Alertmanager from notifying
// the warning's resolution while the critical alert fires: a warning
// version no longer re-sent once the critical alert resolves (it fired
// longer than ResolvedRetention) would then never be notified resolved,
// and a receiver of the warnings would keep it open for good.
func (m *Manager) versions(s *entityState) []queued {
	a := m.postable(s)
	out := []queued{{a, s.State == store.AlertResolved}}
	if s.EscalatedAt.IsZero() {
		return out
	}
	w := a
	w.Labels = s.alertLabels()
	w.Labels["severity"] = SeverityWarning
	wall := m.opts.Now()
	w.StartsAt, w.EndsAt = notAfter(s.ActiveAt, wall).UTC(), notAfter(s.EscalatedAt, wall).UTC()
	w.Annotations = maps.Clone(a.Annotations)
	p := s.Last
	summary := "Escalated to critical: module load failure predicted for " + s.Entity
	if p.Horizon > 0 {
		summary += " within " + formatDuration(p.Horizon)
	}
	ps := Percents(s.EscalatedProb, m.criticalFor(&p))
	w.Annotations["summary"] = summary
	w.Annotations["description"] = fmt.Sprintf("Escalated: this warning alert of %s ended when its probability of a "+
		"module-load failure reached %s, at or over the critical probability %s; the alert fires on as the critical "+
		"alert of the same labels (severity=\"critical\"), not resolved.", s.Entity, ps[0], ps[1])
	// It ended by the escalation, whatever ended the critical alert
	// since (a failure that began is the critical alert's outcome).
	w.Annotations["outcome"] = OutcomeEscalated
	return append(out, queued{w, true})
}

// resolvedDescription is the description of the resolved alert s: why
// and with what probability it resolved, as recorded when it did
// (s.Resolution), whatever came after (the entity gone since, or its
// probability over the threshold again without having fired yet). A state
// persisted before Resolution was kept is rendered from Last and the
// current settings, as then.
func (m *Manager) resolvedDescription(s *entityState, top string) (desc, prob string) {
	r, when := s.Resolution, " when it resolved"
	if r == nil {
		p := s.Last
		r = &resolution{Missing: s.Missing > m.hyst.MissingSteps, Prob: p.Prob, Threshold: p.Threshold,
			Anomaly: p.Anomaly, ModelVersion: p.ModelVersion}
		when = ""
	}
	ratio := r.ResolveRatio
	if ratio == 0 {
		ratio = m.hyst.ResolveRatio
	}
	ps := Percents(r.Prob, r.Threshold, ratio*r.Threshold)
	probAt := ps[0] + when
	if when == "" {
		probAt = "now " + ps[0]
	}
	model := ""
	if r.ModelVersion != "" {
		model = ", model " + r.ModelVersion
	}
	if r.FailureBegan != 0 {
		// The failure labels were set while it fired or pending (the
		// probability collapses once the failure is under way, which
		// resolved it, or the entity went).
		why := fmt.Sprintf("its probability fell to %s (threshold %s, %s%s, anomaly score %.2f)",
			probAt, ps[1], resolvedBelow(r, ps[2]), model, finite(r.Anomaly))
		if r.Missing {
			why = fmt.Sprintf("it has had no prediction for more than %d steps since (the entity is gone or no longer scored; "+
				"its last probability was %s, threshold %s%s)", m.hyst.MissingSteps, ps[0], ps[1], model)
		}
		switch r.outcome() {
		case OutcomeFiredDuringFailure:
			desc = fmt.Sprintf("Resolved, fired during failure: the failure labels of %s were set from %s, at or before "+
				"the alert fired at %s: it fired while the failure was under way, not ahead of it.",
				s.Entity, stepTime(r.FailureBegan), s.ActiveAt.UTC().Format(time.RFC3339))
			if r.FailureOver {
				desc += fmt.Sprintf(" They were last set at %s, not since: the failure is over.", stepTime(r.FailureLast))
			} else {
				desc += " They were set at its last steps: the failure is under way, not over."
			}
			desc += " The alert resolved as " + why + "."
		case OutcomeFailureEnded:
			desc = fmt.Sprintf("Resolved, failure ended: a module-load failure of %s occurred while the alert fired: "+
				"its failure labels were set %s, and not since: the failure is over. The alert resolved as %s.",
				s.Entity, failSpan(r), why)
		default:
			desc = fmt.Sprintf("Resolved, failure began: the module-load failure omen predicted for %s began at %s "+
				"(its failure labels are set: the failure is under way, not over). omen predicts failures before they start, "+
				"so the alert ends as the failure begins: %s.", s.Entity, stepTime(r.FailureBegan), why)
		}
		if top != "" {
			desc += " Top causes when it fired: " + top + "."
		}
		return desc, Probability(r.Prob, r.Threshold, ratio*r.Threshold)
	}
	if r.Missing {
		// Resolved because the entity had no prediction for longer than
		// MissingSteps (gone, or no longer scored): the probability is
		// the last one it had.
		return fmt.Sprintf("Resolved: omen no longer predicts a module-load failure of %s: it has had no prediction "+
			"for more than %d steps (the entity is gone or no longer scored); its last probability was %s (threshold %s%s).",
			s.Entity, m.hyst.MissingSteps, ps[0], ps[1], model), Probability(r.Prob, r.Threshold)
	}
	below := resolvedBelow(r, ps[2])
	desc = fmt.Sprintf("Resolved: omen no longer predicts a module-load failure of %s (probability %s, "+
		"threshold %s, %s%s, anomaly score %.2f).",
		s.Entity, probAt, ps[1], below, model, finite(r.Anomaly))
	if top != "" {
		desc += " Top causes when it fired: " + top + "."
	}
	return desc, Probability(r.Prob, r.Threshold, ratio*r.Threshold)
}

// failSpan says when r's failure labels were set: "at T", "from T to
// T2", or "from T" when the last step is unknown.
func failSpan(r *resolution) string {
	switch r.FailureLast {
	case r.FailureBegan:
		return "at " + stepTime(r.FailureBegan)
	case 0:
		return "from " + stepTime(r.FailureBegan)
	}
	return "from " + stepTime(r.FailureBegan) + " to " + stepTime(r.FailureLast)
}

// resolvedBelow says how r resolved below the resolve threshold (rendered
// as at).
func resolvedBelow(r *resolution, at string) string {
	if r.ResolveFor > 1 {
		return fmt.Sprintf("resolved after %d steps in a row below %s", r.ResolveFor, at)
	}
	return "resolved below " + at
}

// stepTime renders a step's time (ms) as RFC 3339 in UTC.
func stepTime(t int64) string {
	return fromMS(t).Format(time.RFC3339)
}

// percent renders a share in whole percents (the causes' shares).
func percent(v float64) string {
	return strconv.FormatFloat(finite(v)*100, 'f', 0, 64) + "%"
}

// Percents renders probabilities and thresholds compared in one sentence (or
// on one page: the UI shows them so)
// as percents with 2 decimals (99.47%), or more (up to 6) as long as two
// different values would render the same: a probability just under or
// over its threshold does not read as equal to it, and, rounding being
// monotonic, the rendered values order as the values do.
func Percents(vs ...float64) []string {
	out := make([]string, len(vs))
	start := 2
	for _, v := range vs {
		start = max(start, SignificantDecimals(finite(v)*100))
	}
	for d := min(start, 6); ; d++ {
		seen := make(map[string]float64, len(vs))
		clash := false
		for i, v := range vs {
			v = finite(v)
			out[i] = strconv.FormatFloat(v*100, 'f', d, 64) + "%"
			if w, ok := seen[out[i]]; ok && w != v {
				clash = true
			}
			seen[out[i]] = v
		}
		if !clash || d >= 6 {
			return out
		}
	}
}

// SignificantDecimals is how many decimals show two significant digits
// of v (0 for |v| ≥ 10, for v = 0 and for NaN or ±Inf): 0.00037 needs 5.
// A calibrated failure probability can be far below 1 %, where a fixed
// number of decimals reads as 0.
func SignificantDecimals(v float64) int {
	v = math.Abs(v)
	if v == 0 || v >= 10 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return 1 - int(math.Floor(math.Log10(v)))
}

// Probability renders p for the probability annotation, as a fraction
// with 3 decimals (0.795), or as many as two significant digits need
// below 0.01 (0.00037, 0.000000050), or more (up to 8, or 9 below 1e-7)
// as long as it would render the same as one of the values it is compared
// with in the description (its thresholds) while differing from it:
// 0.79474 resolved below 0.79478 does not read as 0.795 against 0.795.
// Below 1e-8 it is in scientific notation with two significant digits
// (5.0e-09, as api.ProbText), or more (up to 8) while it would render the
// same as a compared value: 4e-10 read 0.00000000.
func Probability(p float64, compared ...float64) string {
	p = finite(p)
	start := max(3, SignificantDecimals(p))
	if start > maxProbDecimals {
		for prec := 1; ; prec++ {
			out := strconv.FormatFloat(p, 'e', prec, 64)
			if prec >= 7 || !clashes(out, p, compared, 'e', prec) {
				return out
			}
		}
	}
	// A compared value rendered in scientific notation reads apart.
	fixed := make([]float64, 0, len(compared))
	for _, c := range compared {
		if SignificantDecimals(finite(c)) <= maxProbDecimals {
			fixed = append(fixed, c)
		}
	}
	for d := start; ; d++ {
		out := strconv.FormatFloat(p, 'f', d, 64)
		if d >= max(8, start) || !clashes(out, p, fixed, 'f', d) {
			return out
		}
	}
}

// maxProbDecimals is the most decimals Probability writes for two
// significant digits (down to 1e-8) before it turns to scientific
// notation, as api.ProbText.
const maxProbDecimals = 9

// clashes reports whether one of compared, different from p, renders as
// out in format with prec.
func clashes(out string, p float64, compared []float64, format byte, prec int) bool {
	for _, c := range compared {
		if c = finite(c); c != p && strconv.FormatFloat(c, format, prec, 64) == out {
			return true
		}
	}
	return false
}

// MinCauseShare is the least part of the positive attribution (and the
// least root-cause score of a dependency) omen's Explainer selects a
// cause at: smaller ones say nothing. It is explain.MinCauseShare, below
// which the explainer leaves metric groups out. The Explainer selects the
// causes; formatCauses lists every one it gave.
const MinCauseShare = explain.MinCauseShare

// formatCauses renders ranked causes as "name 62%, reason (event) 20%;
// dependencies by root-cause score: svc on ns/svc 0.41". Metric and event
// causes carry their share of the attribution; dependencies carry their
// root-cause score (a different scale: the scores of the ranked entities
// sum to 1), listed apart so that the two are not added up. Every cause
// is listed: the Explainer selected them (omen's by their part of the
// positive attribution, which can be more than the share shown: a group
// with 2.5% of Σφ⁺ has 1.8% of Σ|φ| when another pulls the other way), as
// the explanation page and omen_alert_cause_share list them. A share
// that would round to 0 reads "<1%" (a score "<0.01").
func formatCauses(cs []Cause) string {
	var feats, deps []string
	for _, c := range cs {
		name := c.Name
		if c.Kind == "dependency" {
			if c.Entity != "" && c.Entity != c.Name {
				name += " on " + c.Entity
			}
			score := strconv.FormatFloat(finite(c.Share), 'f', 2, 64)
			if v := finite(c.Share); v > 0 && v < 0.005 {
				score = "<0.01"
			}
			deps = append(deps, name+" "+score)
			continue
		}
		if c.Kind != "" && c.Kind != "metric" {
			name += " (" + c.Kind + ")"
		}
		share := percent(c.Share)
		if v := finite(c.Share); v > 0 && v < 0.005 {
			share = "<1%"
		}
		feats = append(feats, name+" "+share)
	}
	out := strings.Join(feats, ", ")
	if len(deps) > 0 {
		if out != "" {
			out += "; "
		}
		out += "dependencies by root-cause score: " + strings.Join(deps, ", ")
	}
	return out
}

// formatDuration renders 15m0s as "15m" and 1h30m0s as "1h30m".
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// enqueue writes one payload, pending for tgs, to the outbox (under mu).
func (m *Manager) enqueue(tgs []*target, payload []queued) error {
	if len(tgs) == 0 {
		for _, a := range payload {
			m.logger.Info("alert (no alertmanager configured)", "labels", a.Labels, "startsAt", a.StartsAt, "endsAt", a.EndsAt)
		}
		return nil
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode alerts: %w", err)
	}
	names := make([]string, len(tgs))
	for i, tg := range tgs {
		names[i] = tg.name
	}
	item := []store.OutboxItem{{Created: time.Now().UnixMilli(), Targets: names, Payload: body}}
	// The item and the queue lengths change together: a delivery loop
	// must not read (and acknowledge) the item before it is counted.
	for _, tg := range tgs {
		tg.mu.Lock()
	}
	err = m.opts.Store.Enqueue(item)
	for _, tg := range tgs {
		if err == nil {
			tg.added(item[0].Created)
		}
		tg.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("enqueue %d alerts: %w", len(payload), err)
	}
	for _, tg := range tgs {
		if tg.pending.Load() > int64(m.opts.MaxBatch) {
			// Not delivered (an outage, or Run not running): bound the
			// backlog now.
			if err := m.compactLocked(tg); err != nil {
				m.logger.Error("compact outbox", "alertmanager", tg.label, "err", scrub(err, tg.name))
			}
		}
		select {
		case tg.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// targetMetrics are shared by all targets, labelled by alertmanager.
type targetMetrics struct {
	sent, failed *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	queue        *prometheus.GaugeVec
}

// forget deletes the series of a removed Alertmanager.
func (tm *targetMetrics) forget(label string) {
	tm.sent.DeleteLabelValues(label)
	tm.failed.DeleteLabelValues(label)
	tm.latency.DeleteLabelValues(label)
	tm.queue.DeleteLabelValues(label)
}

func newTargetMetrics(f promauto.Factory) *targetMetrics {
	l := []string{"alertmanager"}
	return &targetMetrics{
		sent: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "omen", Name: "notifications_total", Help: "Alerts accepted by an Alertmanager.",
		}, l),
		failed: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "omen", Name: "notifications_failed_total", Help: "Alerts in POSTs an Alertmanager did not accept (retried unless rejected with a 4xx other than 429, 401, 403 and 407).",
		}, l),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "omen", Name: "notification_latency_seconds", Help: "Duration of POSTs to an Alertmanager.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, l),
		queue: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "omen", Name: "notifications_queue_length", Help: "Outbox items not yet accepted by an Alertmanager.",
		}, l),
	}
}

// target is one Alertmanager with its own queue (its pending outbox items).
type target struct {
	name    string // base URL, also the outbox target name
	label   string // name without the password: metric label, logs
	postURL string
	// client posts to it: Options.Clients' or HTTPClient, swapped by
	// Reconfigure when its settings change.
	client atomic.Pointer[http.Client]
	// check asks the delivery loop to check that the Alertmanager
	// answers omen (checkTarget): set when the target is made and when
	// Reconfigure swaps its client.
	check atomic.Bool
	wake  chan struct{}
	// mu makes each change of the target's outbox items and the count of
	// them (pending, the queue gauge) one step: enqueue, the delivery
	// loop's read and acknowledgement, compaction. Under Manager.mu when
	// both are held.
	mu      sync.Mutex
	pending atomic.Int64 // written under mu
	// oldest is the time (Unix ms) since when the oldest pending
	// notification has been undelivered (oldestSince of the pending items),
	// 0 when none is (written under mu): omen_notifications_oldest_pending_age_seconds.
	// Right after an acknowledgement it may still be that of an item
	// acknowledged, until the delivery loop reads the outbox again (at
	// once).
	oldest atomic.Int64
	// inflight are the items of the POST the delivery loop is sending
	// (under mu): compaction leaves them alone, or the loop would
	// acknowledge items no longer pending and count them twice.
	inflight map[uint64]bool
	// stop and done are the delivery loop's, while it runs.
	stop context.CancelFunc
	done chan struct{}
	// failing holds the runs of failures the delivery loop retries, by
	// what fails (its key: opSend, the POSTs, or an outbox operation,
	// opRead, opCompact, opAck): when each began and how many attempts
	// failed, logged at WARN or ERROR at most every failLogEvery
	// (errclass.Throttle, as the daemon's step operations). The delivery
	// loop alone uses it, and Reconfigure once the loop of a removed
	// target has returned.
	failing errclass.Throttle[string]

	sent, failed prometheus.Counter
	latency      prometheus.Observer
	queue        prometheus.Gauge
}

func newTarget(base string, tm *targetMetrics, client *http.Client) *target {
	l := redact.URL(base)
	tg := &target{
		name: base, label: l, postURL: base + "/api/v2/alerts", wake: make(chan struct{}, 1),
		sent: tm.sent.WithLabelValues(l), failed: tm.failed.WithLabelValues(l),
		latency: tm.latency.WithLabelValues(l), queue: tm.queue.WithLabelValues(l),
		failing: errclass.Throttle[string]{Every: failLogEvery},
	}
	tg.client.Store(client)
	tg.check.Store(true)
	return tg
}

// scrubbed is an error whose text has a URL's password hidden; it still
// wraps the original.
type scrubbed struct {
	msg string
	err error
}

func (e scrubbed) Error() string { return e.msg }
func (e scrubbed) Unwrap() error { return e.err }

// scrub hides the password of the target URL base in err's text (store
// errors name the outbox target, which is the URL).
func scrub(err error, base string) error {
	if err == nil {
		return nil
	}
	r := redact.URL(base)
	if r == base || !strings.Contains(err.Error(), base) {
		return err
	}
	return scrubbed{strings.ReplaceAll(err.Error(), base, r), err}
}

// resync sets the queue length and the oldest item's time from items, the
// target's pending items (under mu).
func (tg *target) resync(items []store.OutboxItem) {
	tg.pending.Store(int64(len(items)))
	tg.queue.Set(float64(len(items)))
	tg.oldest.Store(oldestSince(items))
}

// added counts one item enqueued at created (Unix ms) in (under mu).
func (tg *target) added(created int64) {
	if tg.pending.Load() <= 0 || tg.oldest.Load() == 0 {
		tg.oldest.Store(created)
	}
	tg.queueAdd(1)
}

func (tg *target) queueAdd(n int) {
	p := tg.pending.Add(int64(n))
	tg.queue.Set(float64(p))
	if p <= 0 {
		tg.oldest.Store(0)
	}
}

// oldestSince is the time since when the oldest notification of items
// has been undelivered (Unix ms): the least Since, or Created for items
// without one (all but compacted items); 0 when there are none.
func oldestSince(items []store.OutboxItem) int64 {
	var o int64
	for _, it := range items {
		c := it.Since
		if c == 0 {
			c = it.Created
		}
		if c > 0 && (o == 0 || c < o) {
			o = c
		}
	}
	return o
}

// permanentError is a rejection that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// idlePoll bounds how long a delivery loop sleeps without a wake-up (items
// enqueued by another Manager on the same store, e.g. after a restart).
const idlePoll = 5 * time.Second

// deliver runs the delivery loop of tg until ctx is done.
func (m *Manager) deliver(ctx context.Context, tg *target) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		if tg.check.Swap(false) {
			m.checkTarget(ctx, tg)
		}
		tg.mu.Lock()
		items, err := m.opts.Store.Pending(tg.name, 0)
		if err == nil {
			// Resynchronise the gauges (items dropped by retention).
			tg.resync(items)
		}
		if err == nil && len(items) > 0 && len(items) <= m.opts.MaxBatch {
			tg.inflight = make(map[uint64]bool, len(items))
			for _, it := range items {
				tg.inflight[it.ID] = true
			}
		}
		tg.mu.Unlock()
		op := opRead
		if err == nil && len(items) > m.opts.MaxBatch {
			op = opCompact
			err = m.compact(tg)
		}
		if err != nil {
			m.outboxFailed(tg, op, err)
			backoff = m.wait(ctx, backoff)
			continue
		}
		m.outboxRecovered(tg, op)
		if op == opCompact {
			continue
		}
		if len(items) == 0 {
			select {
			case <-ctx.Done():
			case <-tg.wake:
			case <-time.After(idlePoll):
			}
			continue
		}
		alerts, ids := merge(items, m.logger)
		accepted, err := m.deliverOnce(ctx, tg, alerts)
		if err == nil {
			if err = m.ack(tg, ids); err != nil {
				m.outboxFailed(tg, opAck, err)
				backoff = m.wait(ctx, backoff)
				continue
			}
			m.outboxRecovered(tg, opAck)
			backoff = 0
			if accepted && m.delivered != nil {
				fps := make([]string, len(alerts))
				for i, a := range alerts {
					fps[i] = fingerprint(a.Labels)
				}
				m.delivered(tg.name, fps, time.Now())
			}
			continue
		}
		tg.mu.Lock()
		tg.inflight = nil
		tg.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		backoff = m.wait(ctx, backoff)
	}
}

// ack acknowledges the delivered items ids of tg and counts them off.
func (m *Manager) ack(tg *target, ids []uint64) error {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.inflight = nil
	if err := m.opts.Store.Ack(tg.name, ids); err != nil {
		return err
	}
	tg.queueAdd(-len(ids))
	return nil
}

// deliverOnce posts alerts to tg. It returns a nil error when they are
// done with: accepted (all of them: accepted is true), or rejected for good
// (logged and counted as failed; a rejected POST of several alerts is
// re-sent alert by alert, so that one bad alert does not drop the others:
// accepted is true then); an error to retry otherwise.
func (m *Manager) deliverOnce(ctx context.Context, tg *target, alerts []postableAlert) (accepted bool, err error) {
	err = m.post(ctx, tg, alerts)
	var perm permanentError
	switch {
	case err == nil:
		tg.sent.Add(float64(len(alerts)))
		m.sendRecovered(tg, len(alerts))
		return true, nil
	case errors.As(err, &perm) && len(alerts) > 1:
		// Isolate the alerts Alertmanager rejects: one bad alert must
		// not drop the others.
		sent := 0
		for _, a := range alerts {
			err := m.post(ctx, tg, []postableAlert{a})
			switch {
			case err == nil:
				tg.sent.Inc()
				sent++
			case errors.As(err, &perm):
				tg.failed.Inc()
				m.logger.Error("alertmanager rejected an alert; dropping it", "alertmanager", tg.label, "labels", a.Labels, "err", err)
			default:
				tg.failed.Inc()
				if ctx.Err() == nil {
					m.sendFailed(tg, len(alerts), err)
				}
				return false, err
			}
		}
		m.sendRecovered(tg, sent)
		return true, nil
	case errors.As(err, &perm):
		tg.failed.Add(float64(len(alerts)))
		m.logger.Error("alertmanager rejected an alert; dropping it", "alertmanager", tg.label, "labels", alerts[0].Labels, "err", err)
		m.sendRecovered(tg, 0)
		return false, nil
	default:
		if ctx.Err() != nil {
			return false, err
		}
		tg.failed.Add(float64(len(alerts)))
		m.sendFailed(tg, len(alerts), err)
		return false, err
	}
}

// failLogEvery is how often a run of failed POSTs to an Alertmanager is
// logged at WARN after its first failure, as the Prometheus poller and
// the NATS consumer log theirs: with retries backing off from MinBackoff
// to MaxBackoff, a WARN per attempt made a dozen lines in the first
// minutes of an outage and then 120 an hour.
const failLogEvery = time.Minute

// What the delivery loop retries, the keys of target.failing: the POSTs
// and the outbox operations (their log records' messages).
const (
	opSend    = "send alerts"
	opRead    = "read outbox"
	opCompact = "compact outbox"
	opAck     = "acknowledge outbox items"
)

// outboxFailed logs a failed outbox operation op of tg's delivery loop
// (the store refusing writes: its disk below half the reserve), to be
// retried, as sendFailed logs failed POSTs, but at ERROR: at once when op
// starts failing, then at most every failLogEvery while it goes on, with
// since when and how many attempts failed, at debug level in between. An
// ERROR at every retry (MinBackoff doubling up to MaxBackoff) flooded
// the log during a disk outage.
func (m *Manager) outboxFailed(tg *target, op string, err error) {
	now := m.opts.Now()
	f, first, again := tg.failing.Fail(op, now)
	err = scrub(err, tg.name)
	switch {
	case first:
		m.logger.Error(op+"; will retry (while it fails, logged again once a minute)", "alertmanager", tg.label, "err", err)
	case again:
		m.logger.Error(op+" still failing; will retry", "alertmanager", tg.label,
			"failing_since", f.Since.UTC().Format(time.RFC3339), "failing_for", now.Sub(f.Since).Round(time.Second),
			"failed_attempts", f.Count, "err", err)
	default:
		m.logger.Debug(op+"; will retry", "alertmanager", tg.label, "failed_attempts", f.Count, "err", err)
	}
}

// outboxRecovered ends the run of failures of the outbox operation op of
// tg's delivery loop, if any, saying so at INFO.
func (m *Manager) outboxRecovered(tg *target, op string) {
	f, ended := tg.failing.Succeed(op)
	if !ended {
		return
	}
	m.logger.Info(op+" works again", "alertmanager", tg.label,
		"failing_since", f.Since.UTC().Format(time.RFC3339), "failed_for", m.opts.Now().Sub(f.Since).Round(time.Millisecond),
		"failed_attempts", f.Count)
}

// sendFailed logs the failed POST of n alerts to tg, to be retried: at
// WARN when tg starts failing, then at WARN at most every failLogEvery
// (of Options.Now) while it goes on, with since when and how many POSTs
// have failed, at debug level otherwise. err names the URL redacted.
func (m *Manager) sendFailed(tg *target, n int, err error) {
	now := m.opts.Now()
	f, first, again := tg.failing.Fail(opSend, now)
	switch {
	case first:
		m.logger.Warn("send alerts; will retry (while this alertmanager fails, logged again once a minute)",
			"alertmanager", tg.label, "alerts", n, "err", err)
	case again:
		m.logger.Warn("send alerts still failing; will retry", "alertmanager", tg.label, "alerts", n,
			"failing_since", f.Since.UTC().Format(time.RFC3339), "failing_for", now.Sub(f.Since).Round(time.Second),
			"failed_attempts", f.Count, "err", err)
	default:
		m.logger.Debug("send alerts; will retry", "alertmanager", tg.label, "alerts", n, "failed_attempts", f.Count, "err", err)
	}
}

// sendRecovered ends tg's run of failed POSTs, if any, at an answer of
// its Alertmanager (delivered of the POST's alerts accepted), saying so
// at INFO.
func (m *Manager) sendRecovered(tg *target, delivered int) {
	f, ended := tg.failing.Succeed(opSend)
	if !ended {
		return
	}
	m.logger.Info("alertmanager takes alerts again", "alertmanager", tg.label, "alerts_delivered", delivered,
		"failing_since", f.Since.UTC().Format(time.RFC3339), "failed_for", m.opts.Now().Sub(f.Since).Round(time.Millisecond),
		"failed_attempts", f.Count)
}

// removed logs the removal of tg by a reload, once its delivery loop has
// returned: at INFO, "while failing" when a run of failures of the loop
// was on (failing: what failed, since when the earliest, and the failed
// attempts of all), which no line would close otherwise.
func (m *Manager) removed(tg *target) {
	var what []string
	var since time.Time
	attempts := 0
	tg.failing.Forget(func(string) bool { return false }, func(op string, f errclass.Failure) {
		what = append(what, op)
		if since.IsZero() || f.Since.Before(since) {
			since = f.Since
		}
		attempts += f.Count
	})
	if len(what) == 0 {
		m.logger.Info("alertmanager removed", "alertmanager", tg.label)
		return
	}
	slices.Sort(what)
	m.logger.Info("alertmanager removed while failing", "alertmanager", tg.label, "failing", strings.Join(what, ", "),
		"failing_since", since.UTC().Format(time.RFC3339), "failing_for", m.opts.Now().Sub(since).Round(time.Second),
		"failed_attempts", attempts)
}

// wait sleeps for the next backoff (doubling prev, between MinBackoff and
// MaxBackoff) or until ctx is done, and returns it.
func (m *Manager) wait(ctx context.Context, prev time.Duration) time.Duration {
	d := min(max(prev*2, m.opts.MinBackoff), m.opts.MaxBackoff)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return d
}

// merge is collapse without the resolved flags, as sent.
func merge(items []store.OutboxItem, logger interface {
	Error(string, ...any)
}) ([]postableAlert, []uint64) {
	qs, ids := collapse(items, logger)
	out := make([]postableAlert, len(qs))
	for i := range qs {
		out[i] = qs[i].postableAlert
	}
	return out, ids
}

// collapse concatenates the payloads of items (oldest first) and keeps of
// each alert (fingerprint) only its newest version, and, when that is a
// firing version of a later episode (startsAt), the newest resolved
// version of an earlier one before it: older re-sends (with a stale
// endsAt) and a firing version the alert's resolution supersedes are
// dropped, while a resolution followed by a re-firing still reaches
// Alertmanager in order. So at most two versions per alert remain,
// whatever the number of items. Kept versions stay in their order.
// Undecodable payloads are logged and dropped; every item's id is
// returned.
func collapse(items []store.OutboxItem, logger interface {
	Error(string, ...any)
}) ([]queued, []uint64) {
	var all []queued
	ids := make([]uint64, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.ID)
		var as []queued
		if err := json.Unmarshal(it.Payload, &as); err != nil {
			logger.Error("dropping undecodable outbox item", "id", it.ID, "err", err)
			continue
		}
		all = append(all, as...)
	}
	fps := make([]string, len(all))
	last := make(map[string]int, len(all))
	for i, a := range all {
		fps[i] = fingerprint(a.Labels)
		last[fps[i]] = i
	}
	// The newest resolved version of an episode before the newest one.
	prevResolved := make(map[string]int)
	for i, a := range all {
		l := all[last[fps[i]]]
		if a.Resolved && !l.Resolved && !a.StartsAt.Equal(l.StartsAt) {
			prevResolved[fps[i]] = i
		}
	}
	out := make([]queued, 0, len(last)+len(prevResolved))
	for i, a := range all {
		if last[fps[i]] == i {
			out = append(out, a)
		} else if j, ok := prevResolved[fps[i]]; ok && j == i {
			out = append(out, a)
		}
	}
	return out, ids
}

// compact replaces the items pending for tg, when there are more than
// MaxBatch of them (an Alertmanager outage), by one item holding their
// collapsed versions: the backlog stays bounded by the number of alerts
// (at most two versions each) instead of growing with every step and
// resend, and recovery sends the current state once. It runs under mu so
// that no step enqueues meanwhile (the new item must come after the ones
// it replaces). Items pending for other targets too stay there. The items
// of the POST in flight (tg.inflight, the oldest ones) are left alone: the
// delivery loop acknowledges them when it is done; the newer ones are
// compacted when there are at least two.
func (m *Manager) compact(tg *target) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.compactLocked(tg)
}

func (m *Manager) compactLocked(tg *target) error {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	items, err := m.opts.Store.Pending(tg.name, 0)
	if err != nil {
		return err
	}
	tg.resync(items)
	if len(items) <= m.opts.MaxBatch {
		return nil
	}
	rest := make([]store.OutboxItem, 0, len(items))
	for _, it := range items {
		if !tg.inflight[it.ID] {
			rest = append(rest, it)
		}
	}
	if len(rest) < 2 {
		return nil
	}
	items = rest
	qs, ids := collapse(items, m.logger)
	body, err := json.Marshal(qs)
	if err != nil {
		return fmt.Errorf("encode alerts: %w", err)
	}
	// The compacted item is enqueued now (retention goes by Created: an
	// outage longer than the store's retention must not expire the
	// notifications of its last steps with the oldest ones), and keeps as
	// Since the time of the oldest item it replaces: the age of the oldest
	// undelivered notification keeps growing through an outage.
	now := time.Now().UnixMilli()
	since := oldestSince(items)
	if since == 0 || since > now {
		since = now
	}
	if err := m.opts.Store.Enqueue([]store.OutboxItem{{Created: now, Since: since, Targets: []string{tg.name}, Payload: body}}); err != nil {
		return err
	}
	tg.added(since)
	if err := m.opts.Store.Ack(tg.name, ids); err != nil {
		return err
	}
	tg.queueAdd(-len(ids))
	m.logger.Info("compacted the outbox of an unreachable alertmanager", "alertmanager", tg.label,
		"items", len(items), "alerts", len(qs))
	return nil
}

// post sends alerts to tg. A 4xx other than 429 and those refusing the
// credentials (refusedCredentials) is a permanentError.
func (m *Manager) post(ctx context.Context, tg *target, alerts []postableAlert) error {
	if len(alerts) == 0 {
		return nil
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return permanentError{fmt.Errorf("encode alerts: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tg.postURL, bytes.NewReader(body))
	if err != nil {
		return permanentError{fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "omen")
	start := time.Now()
	resp, err := tg.client.Load().Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", redact.URL(tg.postURL), err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	tg.latency.Observe(time.Since(start).Seconds())
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case refusedCredentials(resp.StatusCode):
		return fmt.Errorf("post to %s: %s: %s (the Alertmanager, or a proxy before it, refuses omen's credentials: basic_auth, authorization, tls_config's client certificate or the URL's user information; retried)",
			redact.URL(tg.postURL), resp.Status, bytes.TrimSpace(msg))
	case resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests:
		return permanentError{fmt.Errorf("post to %s: %s: %s", redact.URL(tg.postURL), resp.Status, bytes.TrimSpace(msg))}
	default:
		return fmt.Errorf("post to %s: %s: %s", redact.URL(tg.postURL), resp.Status, bytes.TrimSpace(msg))
	}
}

// statusPath is what checkTarget asks an Alertmanager for: its status
// (API v2, Alertmanager 0.16 and later), behind the same authentication
// and TLS as the alerts' POSTs.
const statusPath = "/api/v2/status"

// statusLimit bounds the status answer checkTarget reads: Alertmanager's
// holds its configuration.
const statusLimit = 4 << 20

// checkTarget asks tg's Alertmanager for its status once, with the
// client alerts are posted with, and logs a WARN when it does not answer
// or refuses omen (TLS, credentials), naming the cause: a wrong
// tls_config or password showed nowhere until the first alert failed to
// be delivered, which on a quiet fleet can be weeks later. An answer is
// logged at debug level. The alerts' POSTs follow it, and are retried
// as before.
func (m *Manager) checkTarget(ctx context.Context, tg *target) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.name+statusPath, nil)
	if err != nil {
		m.logger.Warn("alertmanager check: build request", "alertmanager", tg.label, "err", scrub(err, tg.name))
		return
	}
	req.Header.Set("User-Agent", "omen")
	resp, err := tg.client.Load().Do(req)
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			m.logger.Warn("alertmanager check failed: alerts sent to it are retried until it answers", "alertmanager", tg.label,
				"err", fmt.Errorf("get %s: %w", redact.URL(tg.name+statusPath), scrub(err, tg.name)))
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		// Alertmanager's status: cluster, versionInfo (and its
		// configuration, whose size the limit bounds).
		var st struct {
			Cluster     json.RawMessage `json:"cluster"`
			VersionInfo json.RawMessage `json:"versionInfo"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, statusLimit)).Decode(&st); err == nil && (st.Cluster != nil || st.VersionInfo != nil) {
			m.logger.Debug("alertmanager answers", "alertmanager", tg.label)
			return
		}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case refusedCredentials(resp.StatusCode):
		m.logger.Warn("alertmanager check failed: it (or a proxy before it) refuses omen's credentials (basic_auth, authorization, tls_config's client certificate or the URL's user information); alerts sent to it are retried until they are mended",
			"alertmanager", tg.label, "status", resp.Status, "body", string(bytes.TrimSpace(msg)))
	default:
		m.logger.Warn("alertmanager check failed: GET "+statusPath+" does not answer as Alertmanager's API v2 does (is the URL an Alertmanager's base URL, with its path prefix if any?)",
			"alertmanager", tg.label, "status", resp.Status, "body", string(bytes.TrimSpace(msg)))
	}
}

// refusedCredentials reports whether status (401, 403, 407) refuses the
// sender rather than the alerts: every alert would be refused alike until
// the credentials are mended (a rotated password file, a reload), so the
// POST is retried as an outage is, not dropped as a bad alert.
func refusedCredentials(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusProxyAuthRequired
}
