package alert

import (
	"strconv"

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
