package alert

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

const promtool = "/usr/bin/promtool"

// TestPrometheusRules validates docs/prometheus-rules.yml with promtool and
// runs its unit test (testdata/rules_test.yml).
func TestPrometheusRules(t *testing.T) {
	if _, err := os.Stat(promtool); err != nil {
		t.Fatalf("%s is required (%v); install it with: apt-get update && apt-get install -y prometheus", promtool, err)
	}
	for _, args := range [][]string{
		{"check", "rules", "../docs/prometheus-rules.yml"},
		{"test", "rules", "testdata/rules_test.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// grafanaDashboard is what the tests read of docs/grafana/omen.json.
type grafanaDashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// readDashboard reads docs/grafana/omen.json.
func readDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	data, err := os.ReadFile("../docs/grafana/omen.json")
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("decode dashboard: %v", err)
	}
	return d
}

// TestGrafanaDashboard checks that docs/grafana/omen.json is a dashboard
// whose queries parse as PromQL and cover predictions, causes and omen's
// health.
func TestGrafanaDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard without uid or title")
	}
	ids := map[int]bool{}
	var exprs []string
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		for _, tg := range p.Targets {
			// Grafana variables are substituted before the query runs.
			e := strings.ReplaceAll(tg.Expr, "$namespace", ".*")
			if _, err := parser.NewParser(parser.Options{}).ParseExpr(e); err != nil {
				t.Errorf("panel %q: query %q: %v", p.Title, tg.Expr, err)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	all := strings.Join(exprs, "\n")
	for _, metric := range []string{
		"omen_failure_probability", "omen_anomaly_score", "omen_alert_cause_share", "omen_alerts",
		"omen_ingested_samples_total", "omen_ingest_errors_total", "omen_evaluator_steps_total",
		"omen_notifications_total", "omen_notifications_failed_total", "omen_notifications_queue_length",
		"omen_notification_latency_seconds_bucket",
		// Falling behind, and series refused at max_series (reviewer r1
		// findings 1 and 2).
		"omen_evaluator_behind_steps", "omen_evaluator_step_duration_seconds_bucket",
		// Steps held for their inputs (a series stopped without a stale
		// marker held every step for 2 minutes, seen nowhere else).
		"omen_evaluator_waiting_steps",
		`omen_feature_dropped_total{reason="cardinality"}`,
	} {
		if !strings.Contains(all, metric) {
			t.Errorf("dashboard does not query %s", metric)
		}
	}
}
