package alert

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/omen-sre/omen/store"
)

// entityState is the alerting state of one entity: its hysteresis counters
// and its current (or last) alert.
type entityState struct {
	Key    string            // fingerprint of Labels: the store key
	Entity string            // entity id
	Labels map[string]string // alertname + entity labels, without severity

	State string // "" (only in memory, transiently), pending, firing, resolved
	// Count is, while not firing, the consecutive steps at or over the
	// threshold; while firing, the consecutive steps below the resolve
	// threshold (ResolveRatio × threshold), which resolve the alert at
	// ResolveFor. It is persisted either way: a restart resumes both
	// counts (a firing state persisted before the resolve count was kept
	// has 0, as it had).
	Count int
	// PendingSince is the step at which Count last became 1: when the
	// pending alert started (zero in states persisted before it was kept).
	PendingSince time.Time
	Missing      int // consecutive steps without a prediction
	ActiveAt     time.Time
	ResolvedAt   time.Time
	// LastSent is the data time of the step the alert was last sent at
	// (whether it was sent since it fired or resolved); SentWall is the
	// wall-clock time (Options.Now) of that send, which the resend
	// schedule and endsAt follow: Alertmanager expires alerts by its
	// clock, whatever the pace of the data. SentWall is zero in states
	// persisted before it was kept (due for a resend at once).
	LastSent time.Time
	SentWall time.Time

	// Fixed when the alert fires, but Severity (and EscalatedAt,
	// EscalatedProb), which escalate from warning to critical while it
	// fires (see escalate). AlertFP, the fingerprint of the labels it
	// fired with, identifies the alert in omen (its links, its stored
	// explanation) for its whole life, escalated or not.
	Severity string
	AlertFP  string
	// EscalatedAt is the step at which the firing warning alert became
	// critical, EscalatedProb the probability that made it: zero when it
	// fired critical, or is warning. Alertmanager identifies an alert by
	// its labels, so from then on the critical alert is sent with startsAt
	// EscalatedAt, and the warning one as resolved at EscalatedAt.
	EscalatedAt   time.Time
	EscalatedProb float64
	Explanation   *Explanation
	Action        string
	// Runbook is the runbook URL as the remediation table gives it:
	// relative to the runbook base URL (rendered at send time) or
	// absolute.
	Runbook string
	// FiredID is the ID of the prediction the alert fired on (the one
	// explained): the alert's links resolve through it. Empty in states
	// persisted before it was kept; Last.ID stands in then.
	FiredID string
	// FiredProb is the probability of that prediction; 0 in states
	// persisted before it was kept.
	FiredProb float64

	// FailedAt is the first step since the alert started pending (the
	// run of steps that fired it) at which the entity's failure labels
	// were set (Prediction.Failing, scored or not): at or before ActiveAt,
	// the alert fired during the failure; after it, the predicted failure
	// began. Zero while they have not been (and in states persisted
	// before it was kept). A resolution records it.
	FailedAt time.Time
	// FailLast is the last step the failure labels were set at, and
	// FailQuiet the steps the entity was seen at since (with a
	// prediction, scored or not) without them: more than ResolveFor at
	// the resolution, the failure is over, not under way.
	FailLast  time.Time
	FailQuiet int

	// Last is the newest prediction (the one at fire time for Explain).
	Last Prediction
	// Resolution is why and with what prediction the alert resolved: set
	// when it resolves, cleared when it fires. The resolved description
	// renders it rather than Last, which later steps (a prediction over
	// the threshold again, or none at all) change. Nil in states persisted
	// before it was kept: the description is rendered from Last then.
	Resolution *resolution

	saved stateCore // what the store holds
}

// resolution is how an alert resolved.
type resolution struct {
	// Missing: the entity had no prediction for more than MissingSteps
	// steps; the prediction fields are its last one's. Otherwise its
	// probability was below ResolveRatio × Threshold for ResolveFor
	// consecutive steps, the last of which (the step it resolved at) gave
	// the prediction fields.
	Missing      bool    `json:"missing,omitempty"`
	Prob         float64 `json:"prob"`
	Threshold    float64 `json:"threshold"`
	Anomaly      float64 `json:"anomaly"`
	ResolveRatio float64 `json:"resolve_ratio,omitempty"`
	// ResolveFor is absent when 1 (and in resolutions recorded before it
	// was kept, when it was always 1).
	ResolveFor   int    `json:"resolve_for,omitempty"`
	ModelVersion string `json:"model_version,omitempty"`
	// FailureBegan is the step (ms) at which the entity's failure labels
	// were first set while the alert fired (entityState.FailedAt): the
	// predicted failure began, and the alert resolved because of it or
	// after it (the model's probability collapses once the failure is
	// under way), not as an all-clear. Absent when it did not.
	FailureBegan int64 `json:"failure_began,omitempty"`
	// FailureLast is the last step (ms) the failure labels were set at
	// (absent in resolutions recorded before it was kept). FailureOver:
	// they were not set at the entity's last ResolveFor+1 steps seen
	// (the failure ended before the alert resolved). BeforeFiring: they
	// were set at or before the step the alert fired at (pending): the
	// alert fired during the failure, not ahead of it.
	FailureLast  int64 `json:"failure_last,omitempty"`
	FailureOver  bool  `json:"failure_over,omitempty"`
	BeforeFiring bool  `json:"before_firing,omitempty"`
}

// outcome is the resolution's outcome annotation (see Outcome*).
func (r *resolution) outcome() string {
	switch {
	case r.FailureBegan != 0 && r.BeforeFiring:
		return OutcomeFiredDuringFailure
	case r.FailureBegan != 0 && r.FailureOver:
		return OutcomeFailureEnded
	case r.FailureBegan != 0:
		return OutcomeFailureBegan
	case r.Missing:
		return OutcomeEntityGone
	}
	return OutcomeNoLongerPredicted
}

func (h hysteresis) resolved(s *entityState, p Prediction, missing bool) *resolution {
	r := &resolution{Missing: missing, Prob: finite(p.Prob), Threshold: finite(p.Threshold), Anomaly: finite(p.Anomaly),
		ResolveRatio: h.ResolveRatio, ModelVersion: p.ModelVersion}
	if !s.FailedAt.IsZero() {
		r.FailureBegan, r.FailureLast = ms(s.FailedAt), ms(s.FailLast)
		r.FailureOver = s.FailQuiet > h.resolveFor()
		r.BeforeFiring = !s.FailedAt.After(s.ActiveAt)
	}
	if n := h.resolveFor(); n > 1 && !missing {
		r.ResolveFor = n
	}
	return r
}

// stateCore is what must be persisted when it changes.
type stateCore struct {
	State                          string
	Count, Missing                 int
	ActiveAt, ResolvedAt, LastSent int64
	SentWall                       int64
	AlertFP, Severity              string
	EscalatedAt                    int64
	FailedAt, FailLast             int64
	FailQuiet                      int
}

func (s *entityState) core() stateCore {
	return stateCore{
		State: s.State, Count: s.Count, Missing: s.Missing,
		ActiveAt: ms(s.ActiveAt), ResolvedAt: ms(s.ResolvedAt), LastSent: ms(s.LastSent),
		SentWall: ms(s.SentWall), AlertFP: s.AlertFP, Severity: s.Severity, EscalatedAt: ms(s.EscalatedAt),
		FailedAt: ms(s.FailedAt), FailLast: ms(s.FailLast), FailQuiet: s.FailQuiet,
	}
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// transition is what one step did to an entity.
type transition int

const (
	trNone transition = iota
	trPending
	trFired
	trResolved
	trDropped
)

func (t transition) String() string {
	return [...]string{"none", "pending", "fired", "resolved", "dropped"}[t]
}

// hysteresis is the threshold stage.
type hysteresis struct {
	For          int
	ResolveRatio float64
	// ResolveFor is how many consecutive steps below ResolveRatio ×
	// threshold resolve a firing alert; below 1 means 1.
	ResolveFor   int
	MissingSteps int
}

func (h hysteresis) resolveFor() int {
	return max(h.ResolveFor, 1)
}

// step advances s by one evaluation at t with prediction p (nil: the entity
// had none).
func (h hysteresis) step(s *entityState, p *Prediction, t time.Time) transition {
	if p == nil {
		// Missing stops counting past MissingSteps: a resolved alert of a
		// vanished entity is not rewritten to the store at every step.
		if s.Missing <= h.MissingSteps {
			s.Missing++
		}
		if s.Missing <= h.MissingSteps {
			return trNone
		}
		switch s.State {
		case store.AlertFiring:
			s.State, s.ResolvedAt, s.Count = store.AlertResolved, t, 0
			s.Resolution = h.resolved(s, s.Last, true)
			return trResolved
		case store.AlertResolved:
			s.Count = 0
			return trNone
		default:
			s.State, s.Count = "", 0
			return trDropped
		}
	}
	s.Missing = 0
	s.Last = *p
	if s.State == store.AlertFiring {
		// Count is the steps below the resolve threshold in a row: a
		// step at or over it starts again; steps without a prediction
		// (up to MissingSteps) neither count nor reset it.
		if p.Prob >= h.ResolveRatio*p.Threshold {
			s.Count = 0
			return trNone
		}
		s.Count++
		if s.Count < h.resolveFor() {
			return trNone
		}
		s.State, s.ResolvedAt, s.Count = store.AlertResolved, t, 0
		s.Resolution = h.resolved(s, *p, false)
		return trResolved
	}
	if p.Prob < p.Threshold {
		s.Count = 0
		if s.State == store.AlertResolved {
			return trNone
		}
		s.State = ""
		return trDropped
	}
	s.Count++
	if s.Count == 1 {
		// A new run toward firing: failure labels set before it are
		// not this alert's (Process notes this step's after).
		s.PendingSince = t
		s.FailedAt, s.FailLast, s.FailQuiet = time.Time{}, time.Time{}, 0
	}
	if s.Count >= h.For {
		s.State, s.ActiveAt, s.ResolvedAt, s.Count = store.AlertFiring, t, time.Time{}, 0
		s.Resolution = nil
		return trFired
	}
	if s.State == "" {
		s.State = store.AlertPending
		return trPending
	}
	return trNone
}

// baseLabels are the alert labels of p without severity. When two labels
// of p have the same name once made valid (app.kubernetes.io/name and
// app_kubernetes_io_name), the one already valid wins, else the one whose
// name sorts first: the alert's labels and fingerprint do not depend on
// map order.
func baseLabels(p *Prediction) map[string]string {
	ls := make(map[string]string, len(p.Labels)+2)
	keys := make([]string, 0, len(p.Labels))
	for k := range p.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, valid := range []bool{true, false} {
		for _, k := range keys {
			v, name := p.Labels[k], labelName(k)
			if (name == k) != valid || v == "" || name == "alertname" || name == "severity" {
				continue
			}
			if _, ok := ls[name]; !ok {
				ls[name] = strings.ToValidUTF8(v, "\uFFFD")
			}
		}
	}
	if len(ls) == 0 {
		ls["entity"] = strings.ToValidUTF8(p.Entity, "\uFFFD")
	}
	ls["alertname"] = AlertName
	return ls
}

// labelName makes k a label name Alertmanager accepts
// ([a-zA-Z_][a-zA-Z0-9_]*), as Prometheus' relabelling does with Kubernetes
// labels: other characters become "_" (app.kubernetes.io/name →
// app_kubernetes_io_name), and a leading digit gets a "_" prefix.
func labelName(k string) string {
	b := []byte(k)
	ok := len(b) > 0
	for i, c := range b {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (i == 0 || c < '0' || c > '9') {
			ok = false
			break
		}
	}
	if ok {
		return k
	}
	var sb strings.Builder
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		sb.WriteByte('_')
	}
	for _, r := range k {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('_')
		}
	}
	return sb.String()
}

func (s *entityState) alertLabels() map[string]string {
	ls := make(map[string]string, len(s.Labels)+1)
	for k, v := range s.Labels {
		ls[k] = v
	}
	if s.Severity != "" {
		ls["severity"] = s.Severity
	}
	return ls
}

// fingerprint is the Prometheus fingerprint of a label set, as 16 hex digits.
func fingerprint(ls map[string]string) string {
	set := make(model.LabelSet, len(ls))
	for k, v := range ls {
		set[model.LabelName(k)] = model.LabelValue(v)
	}
	return set.Fingerprint().String()
}

// persisted is AlertState.Data.
type persisted struct {
	Entity string `json:"entity"`
	Count  int    `json:"count,omitempty"`
	// PendingSince is in ms; absent in states persisted before it was
	// kept.
	PendingSince int64 `json:"pending_since,omitempty"`
	Missing      int   `json:"missing,omitempty"`
	// SentWall is in ms; absent in states persisted before it was kept.
	SentWall int64  `json:"sent_wall,omitempty"`
	Severity string `json:"severity,omitempty"`
	AlertFP  string `json:"alert_fingerprint,omitempty"`
	// EscalatedAt is in ms; EscalatedAt and EscalatedProb are absent
	// unless the alert escalated to critical while firing.
	EscalatedAt   int64        `json:"escalated_at,omitempty"`
	EscalatedProb float64      `json:"escalated_prob,omitempty"`
	Explanation   *Explanation `json:"explanation,omitempty"`
	Action        string       `json:"action,omitempty"`
	Runbook       string       `json:"runbook,omitempty"`
	FiredID       string       `json:"fired_id,omitempty"`
	FiredProb     float64      `json:"fired_prob,omitempty"`
	// FailedAt is in ms; absent unless the entity's failure labels were
	// set while the alert fired.
	FailedAt int64 `json:"failed_at,omitempty"`
	// FailLast (ms) and FailQuiet: see entityState.
	FailLast  int64    `json:"fail_last,omitempty"`
	FailQuiet int      `json:"fail_quiet,omitempty"`
	Last      lastPred `json:"last"`
	// Resolution is absent in states persisted before it was kept.
	Resolution *resolution `json:"resolution,omitempty"`
}

type lastPred struct {
	ID           string            `json:"id"`
	Labels       map[string]string `json:"labels,omitempty"`
	T            int64             `json:"t"`
	Prob         float64           `json:"prob"`
	Anomaly      float64           `json:"anomaly"`
	Threshold    float64           `json:"threshold"`
	Critical     float64           `json:"critical,omitempty"`
	Horizon      time.Duration     `json:"horizon"`
	ModelVersion string            `json:"model_version,omitempty"`
}

func (s *entityState) encode() (store.AlertState, error) {
	p := s.Last
	d := persisted{
		Entity: s.Entity, Count: s.Count, PendingSince: ms(s.PendingSince), Missing: s.Missing, SentWall: ms(s.SentWall), Severity: s.Severity, AlertFP: s.AlertFP,
		EscalatedAt: ms(s.EscalatedAt), EscalatedProb: finite(s.EscalatedProb),
		Explanation: s.Explanation, Action: s.Action, Runbook: s.Runbook, FiredID: s.FiredID,
		FiredProb: finite(s.FiredProb), Resolution: s.Resolution, FailedAt: ms(s.FailedAt),
		FailLast: ms(s.FailLast), FailQuiet: s.FailQuiet,
		Last: lastPred{ID: p.ID, Labels: p.Labels, T: ms(p.T), Prob: finite(p.Prob), Anomaly: finite(p.Anomaly),
			Threshold: p.Threshold, Critical: p.Critical, Horizon: p.Horizon, ModelVersion: p.ModelVersion},
	}
	data, err := json.Marshal(d)
	if err != nil {
		return store.AlertState{}, fmt.Errorf("encode alert state: %w", err)
	}
	return store.AlertState{
		Fingerprint: s.Key, State: s.State,
		ActiveAt: ms(s.ActiveAt), ResolvedAt: ms(s.ResolvedAt), LastSent: ms(s.LastSent),
		Labels: s.Labels, Data: data,
	}, nil
}

// finite keeps JSON encodable: ±Inf and NaN become 0.
func finite(v float64) float64 {
	if v != v || v > 1e308 || v < -1e308 {
		return 0
	}
	return v
}

func decodeState(st store.AlertState) (*entityState, error) {
	var d persisted
	if err := json.Unmarshal(st.Data, &d); err != nil {
		return nil, fmt.Errorf("decode alert state data: %w", err)
	}
	switch st.State {
	case store.AlertPending, store.AlertFiring, store.AlertResolved:
	default:
		return nil, fmt.Errorf("unknown alert state %q", st.State)
	}
	if len(st.Labels) == 0 {
		return nil, fmt.Errorf("alert state without labels")
	}
	s := &entityState{
		Key: st.Fingerprint, Entity: d.Entity, Labels: st.Labels,
		State: st.State, Count: d.Count, PendingSince: fromMS(d.PendingSince), Missing: d.Missing,
		ActiveAt: fromMS(st.ActiveAt), ResolvedAt: fromMS(st.ResolvedAt), LastSent: fromMS(st.LastSent),
		SentWall: fromMS(d.SentWall), Severity: d.Severity, AlertFP: d.AlertFP,
		EscalatedAt: fromMS(d.EscalatedAt), EscalatedProb: d.EscalatedProb, Explanation: d.Explanation, Action: d.Action, Runbook: d.Runbook,
		FiredID: d.FiredID, FiredProb: d.FiredProb, Resolution: d.Resolution, FailedAt: fromMS(d.FailedAt),
		FailLast: fromMS(d.FailLast), FailQuiet: d.FailQuiet,
		Last: Prediction{ID: d.Last.ID, Entity: d.Entity, Labels: d.Last.Labels, T: fromMS(d.Last.T),
			Prob: d.Last.Prob, Anomaly: d.Last.Anomaly, Threshold: d.Last.Threshold, Critical: d.Last.Critical,
			Horizon: d.Last.Horizon, ModelVersion: d.Last.ModelVersion},
	}
	if s.State != store.AlertPending && s.AlertFP == "" {
		s.AlertFP = fingerprint(s.alertLabels())
	}
	s.saved = s.core()
	return s, nil
}

// linkID is what the alert's links (generatorURL, explanation_url,
// explanation_api_url) name: the firing, not only the alert's labels. An
// alert explained by the Explainer (without a URL of its own) links to
// the prediction it fired on (FiredID), under which the explanation is
// stored (omen's explainer stores it so): a later firing of the same
// labels, on another prediction, has links of its own, and an old
// notification's links keep showing the explanation of the firing it
// announced. Otherwise (no explanation: omen's explainer stores a note
// under the fingerprint only; no Explainer; a state persisted before
// FiredID was kept) the fingerprint, which names the alert's latest
// firing.
func (s *entityState) linkID() string {
	if s.Explanation != nil && s.Explanation.URL == "" && s.FiredID != "" {
		return s.FiredID
	}
	return s.AlertFP
}

// firedProb is the probability of the prediction the alert fired on: 0
// when unknown (a state persisted before FiredProb was kept, whose alert
// fired on a prediction older than Last).
func (s *entityState) firedProb() float64 {
	switch {
	case s.FiredProb != 0:
		return finite(s.FiredProb)
	case s.FiredID == "" || s.FiredID == s.Last.ID:
		return finite(s.Last.Prob)
	}
	return 0
}
