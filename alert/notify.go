package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

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

// postable renders s as sent at step t.
func (m *Manager) postable(s *entityState, t time.Time) postableAlert {
	p := s.Last
	a := postableAlert{
		Labels:       s.alertLabels(),
		StartsAt:     s.ActiveAt.UTC(),
		GeneratorURL: m.opts.ExternalURL + "/ui/alerts/" + s.AlertFP,
	}
	if s.State == store.AlertResolved {
		a.EndsAt = s.ResolvedAt.UTC()
	} else {
		a.EndsAt = t.Add(4 * max(m.opts.EvalInterval, m.opts.ResendDelay)).UTC()
	}
	var causes []Cause
	explURL := a.GeneratorURL
	if s.Explanation != nil {
		causes = s.Explanation.TopCauses
		explURL = m.opts.ExternalURL + "/api/v1/explanations/" + s.AlertFP
		if s.Explanation.URL != "" {
			explURL = s.Explanation.URL
		}
	}
	horizon := formatDuration(p.Horizon)
	top := formatCauses(causes)
	summary := fmt.Sprintf("Module load failure predicted for %s", s.Entity)
	if p.Horizon > 0 {
		summary += " within " + horizon
	}
	desc := fmt.Sprintf("omen predicts a module-load failure of %s with probability %s (threshold %s",
		s.Entity, percent(p.Prob), percent(p.Threshold))
	if p.ModelVersion != "" {
		desc += ", model " + p.ModelVersion
	}
	desc += fmt.Sprintf(", anomaly score %.2f).", finite(p.Anomaly))
	if top != "" {
		desc += " Top causes: " + top + "."
	}
	if s.Action != "" {
		desc += " " + s.Action
	}
	if s.State == store.AlertResolved {
		summary = "Resolved: " + summary
	}
	a.Annotations = map[string]string{
		"summary":            summary,
		"description":        desc,
		"probability":        strconv.FormatFloat(finite(p.Prob), 'f', 3, 64),
		"horizon":            horizon,
		"top_causes":         top,
		"recommended_action": s.Action,
		"runbook_url":        s.Runbook,
		"explanation_url":    explURL,
	}
	for k, v := range a.Annotations {
		if v == "" {
			delete(a.Annotations, k)
		}
	}
	return a
}

func percent(v float64) string {
	return strconv.FormatFloat(finite(v)*100, 'f', 0, 64) + "%"
}

// formatCauses renders ranked causes as "name 62%, reason (event) 20%".
func formatCauses(cs []Cause) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		name := c.Name
		if c.Kind != "" && c.Kind != "metric" {
			name += " (" + c.Kind + ")"
		}
		if c.Entity != "" && c.Entity != c.Name && c.Kind == "dependency" {
			name += " on " + c.Entity
		}
		parts = append(parts, name+" "+percent(c.Share))
	}
	return strings.Join(parts, ", ")
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

// enqueue writes one payload, pending for every target, to the outbox.
func (m *Manager) enqueue(payload []queued) error {
	if len(m.targets) == 0 {
		for _, a := range payload {
			m.logger.Info("alert (no alertmanager configured)", "labels", a.Labels, "startsAt", a.StartsAt, "endsAt", a.EndsAt)
		}
		return nil
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode alerts: %w", err)
	}
	names := make([]string, len(m.targets))
	for i, tg := range m.targets {
		names[i] = tg.name
	}
	item := []store.OutboxItem{{Targets: names, Payload: body}}
	if err := m.opts.Store.Enqueue(item); err != nil {
		return fmt.Errorf("enqueue %d alerts: %w", len(payload), err)
	}
	for _, tg := range m.targets {
		tg.queueAdd(1)
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

func newTargetMetrics(f promauto.Factory) *targetMetrics {
	l := []string{"alertmanager"}
	return &targetMetrics{
		sent: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "omen", Name: "notifications_total", Help: "Alerts accepted by an Alertmanager.",
		}, l),
		failed: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "omen", Name: "notifications_failed_total", Help: "Alerts in POSTs an Alertmanager did not accept (retried unless rejected with a 4xx other than 429).",
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
	postURL string
	wake    chan struct{}
	pending atomic.Int64

	sent, failed prometheus.Counter
	latency      prometheus.Observer
	queue        prometheus.Gauge
}

func newTarget(base string, tm *targetMetrics) *target {
	return &target{
		name: base, postURL: base + "/api/v2/alerts", wake: make(chan struct{}, 1),
		sent: tm.sent.WithLabelValues(base), failed: tm.failed.WithLabelValues(base),
		latency: tm.latency.WithLabelValues(base), queue: tm.queue.WithLabelValues(base),
	}
}

func (tg *target) setQueue(n int) { tg.pending.Store(int64(n)); tg.queue.Set(float64(n)) }
func (tg *target) queueAdd(n int) { tg.queue.Set(float64(tg.pending.Add(int64(n)))) }

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
		queued := tg.pending.Load()
		items, err := m.opts.Store.Pending(tg.name, m.opts.MaxBatch)
		if err != nil {
			m.logger.Error("read outbox", "alertmanager", tg.name, "err", err)
			backoff = m.wait(ctx, backoff)
			continue
		}
		if len(items) == 0 {
			// Resynchronise the gauge (items dropped by retention) unless
			// an item was enqueued meanwhile.
			if queued != 0 && tg.pending.CompareAndSwap(queued, 0) {
				tg.queue.Set(0)
			}
			select {
			case <-ctx.Done():
			case <-tg.wake:
			case <-time.After(idlePoll):
			}
			continue
		}
		alerts, ids := merge(items, m.logger)
		err = m.post(ctx, tg, alerts)
		var perm permanentError
		switch {
		case err == nil:
			tg.sent.Add(float64(len(alerts)))
			backoff = 0
		case errors.As(err, &perm) && len(alerts) > 1:
			// Isolate the alerts Alertmanager rejects: one bad alert must
			// not drop the others.
			var retry bool
			for _, a := range alerts {
				err := m.post(ctx, tg, []postableAlert{a})
				switch {
				case err == nil:
					tg.sent.Inc()
				case errors.As(err, &perm):
					tg.failed.Inc()
					m.logger.Error("alertmanager rejected an alert; dropping it", "alertmanager", tg.name, "labels", a.Labels, "err", err)
				default:
					tg.failed.Inc()
					retry = true
				}
				if retry {
					break
				}
			}
			if retry {
				if ctx.Err() != nil {
					return
				}
				m.logger.Warn("send alerts; will retry", "alertmanager", tg.name, "alerts", len(alerts), "err", err)
				backoff = m.wait(ctx, backoff)
				continue
			}
			backoff = 0
			err = nil
		case errors.As(err, &perm):
			tg.failed.Add(float64(len(alerts)))
			m.logger.Error("alertmanager rejected an alert; dropping it", "alertmanager", tg.name, "labels", alerts[0].Labels, "err", err)
			backoff = 0
		default:
			if ctx.Err() != nil {
				return
			}
			tg.failed.Add(float64(len(alerts)))
			m.logger.Warn("send alerts; will retry", "alertmanager", tg.name, "alerts", len(alerts), "err", err)
			backoff = m.wait(ctx, backoff)
			continue
		}
		if err := m.opts.Store.Ack(tg.name, ids); err != nil {
			m.logger.Error("acknowledge outbox items", "alertmanager", tg.name, "err", err)
			backoff = m.wait(ctx, backoff)
			continue
		}
		tg.queueAdd(-len(ids))
		if err == nil && m.delivered != nil {
			fps := make([]string, len(alerts))
			for i, a := range alerts {
				fps[i] = fingerprint(a.Labels)
			}
			m.delivered(tg.name, fps, time.Now())
		}
	}
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

// merge concatenates the payloads of items in order, keeping of each alert
// (fingerprint and startsAt) only the newest firing and the newest resolved
// version, each at its own position: newer resends supersede older ones,
// while a firing, its resolution and a later re-firing (new startsAt) all
// reach Alertmanager, in order. Undecodable payloads are logged and dropped.
func merge(items []store.OutboxItem, logger interface {
	Error(string, ...any)
}) ([]postableAlert, []uint64) {
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
	type key struct {
		fp       string
		starts   int64
		resolved bool
	}
	last := make(map[key]int, len(all))
	keys := make([]key, len(all))
	for i, a := range all {
		keys[i] = key{fingerprint(a.Labels), a.StartsAt.UnixNano(), a.Resolved}
		last[keys[i]] = i
	}
	out := make([]postableAlert, 0, len(last))
	for i, a := range all {
		if last[keys[i]] == i {
			out = append(out, a.postableAlert)
		}
	}
	return out, ids
}

// post sends alerts to tg. A 4xx other than 429 is a permanentError.
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
	resp, err := m.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", tg.postURL, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	tg.latency.Observe(time.Since(start).Seconds())
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests:
		return permanentError{fmt.Errorf("post to %s: %s: %s", tg.postURL, resp.Status, bytes.TrimSpace(msg))}
	default:
		return fmt.Errorf("post to %s: %s: %s", tg.postURL, resp.Status, bytes.TrimSpace(msg))
	}
}
