package alert

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/store"
)

// causeCollector exports the ranked causes of the firing alerts as
// omen_alert_cause_share{entity, severity, cause, kind, rank}, so that
// dashboards can show why alerts fire. Its cardinality is bounded by the
// firing alerts × their top causes.
type causeCollector struct {
	m    *Manager
	desc *prometheus.Desc
}

func newCauseCollector(m *Manager) *causeCollector {
	return &causeCollector{m: m, desc: prometheus.NewDesc("omen_alert_cause_share",
		"Attribution share of each ranked top cause of a firing alert.",
		[]string{"entity", "severity", "cause", "kind", "rank"}, nil)}
}

func (c *causeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *causeCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	for _, s := range c.m.states {
		if s.State != store.AlertFiring || s.Explanation == nil {
			continue
		}
		seen := map[string]bool{}
		for i, cs := range s.Explanation.TopCauses {
			if seen[cs.Kind+"\x00"+cs.Name] {
				continue
			}
			seen[cs.Kind+"\x00"+cs.Name] = true
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, cs.Share,
				s.Entity, s.Severity, cs.Name, cs.Kind, strconv.Itoa(i+1))
		}
	}
}

// ageCollector exports omen_notifications_oldest_pending_age_seconds
// {alertmanager}: how long the oldest notification not yet accepted by
// each Alertmanager has waited (0 when none waits), computed at scrape
// time. Unlike the queue length, which compaction bounds (MaxBatch+1), it
// grows for as long as alerts are not getting through, whatever the
// reason (Alertmanager down or refusing, a stuck delivery loop, outbox
// read errors), and across restarts (the outbox is durable).
type ageCollector struct {
	m    *Manager
	desc *prometheus.Desc
	now  func() time.Time
}

func newAgeCollector(m *Manager) *ageCollector {
	return &ageCollector{m: m, now: time.Now, desc: prometheus.NewDesc("omen_notifications_oldest_pending_age_seconds",
		"Age of the oldest notification not yet accepted by an Alertmanager (0 when none is pending).",
		[]string{"alertmanager"}, nil)}
}

func (c *ageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *ageCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	// Two URLs differing only in their password share a label: the
	// oldest of their items counts.
	age := make(map[string]float64, len(c.m.targets))
	now := c.now()
	for _, tg := range c.m.targets {
		a := 0.0
		if o := tg.oldest.Load(); o > 0 && tg.pending.Load() > 0 {
			a = max(now.Sub(time.UnixMilli(o)).Seconds(), 0)
		}
		age[tg.label] = max(age[tg.label], a)
	}
	c.m.mu.Unlock()
	for l, a := range age {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, a, l)
	}
}
