package alert

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// selects reports whether expr selects the metric name.
func selects(t *testing.T, expr, name string) bool {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("parse %q: %v", expr, err)
	}
	found := false
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok && vs.Name == name {
			found = true
		}
		return nil
	})
	return found
}

// TestProbabilityComparedWithThreshold: the failure probability is
// calibrated, so the model's failure threshold is wherever training put it
// (0.4-0.8 on a long history, a few percent on a short one). Every example
// rule on omen_failure_probability, and every dashboard panel that shows
// it, compares it with omen_model_failure_threshold rather than with a
// fixed probability (the dashboard counted entities over 50% and coloured
// the chart at 70% and 90%, the rules alerted at 70%: in the demo both
// real failures alerted under 50%, while the stat read 0 and the chart
// stayed green).
func TestProbabilityComparedWithThreshold(t *testing.T) {
	const prob, th = "omen_failure_probability", "omen_model_failure_threshold"
	d := readDashboard(t)
	for _, p := range d.Panels {
		var exprs []string
		for _, tg := range p.Targets {
			exprs = append(exprs, strings.ReplaceAll(tg.Expr, "$namespace", ".*"))
		}
		all := strings.Join(exprs, " or ")
		if all == "" || !selects(t, all, prob) {
			continue
		}
		if !selects(t, all, th) {
			t.Errorf("dashboard panel %q shows %s without %s", p.Title, prob, th)
		}
	}
	rf := readRules(t)
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if !selects(t, r.Expr, prob) {
				continue
			}
			n++
			if !selects(t, r.Expr, th) {
				t.Errorf("rule %s compares %s with no %s: %s", r.Alert+r.Record, prob, th, r.Expr)
			}
		}
	}
	if n == 0 {
		t.Errorf("no rule on %s", prob)
	}
}

// ruleGroups is what the tests read of docs/prometheus-rules.yml.
type ruleGroups struct {
	Groups []struct {
		Rules []struct {
			Alert  string            `yaml:"alert"`
			Record string            `yaml:"record"`
			Expr   string            `yaml:"expr"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// readRules reads docs/prometheus-rules.yml.
func readRules(t *testing.T) ruleGroups {
	t.Helper()
	data, err := os.ReadFile("../docs/prometheus-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleGroups
	if err := yaml.Unmarshal(data, &rf); err != nil {
		t.Fatalf("decode rules: %v", err)
	}
	return rf
}

// TestGrafanaThresholdQueries evaluates the dashboard's threshold queries
// with promtool on the demo's case: a short-history model whose threshold
// is 12.5%, two pods over it (25%, 18.75%) though far under 50%, one under
// it (6.25%), all scored by an HA pair of omen daemons (each entity exported
// twice). "Entities at or over the threshold" reads 2 (the former "over
// 50%" read 0), and the probability ÷ threshold panel shows 200%, 150% and
// 50% per entity, once each. With 11 entities scored by the HA pair, the
// panel shows the top 10 entities, each once (its topk ran over both
// replicas: each entity took two of the ten series, under the same
// legend, and only the top 5 showed).
func TestGrafanaThresholdQueries(t *testing.T) {
	if _, err := os.Stat(promtool); err != nil {
		t.Fatalf("%s is required (%v); install it with: apt-get update && apt-get install -y prometheus", promtool, err)
	}
	d := readDashboard(t)
	query := func(title string) string {
		t.Helper()
		for _, p := range d.Panels {
			if p.Title == title {
				if len(p.Targets) != 1 {
					t.Fatalf("panel %q has %d queries, want 1", title, len(p.Targets))
				}
				return strings.ReplaceAll(p.Targets[0].Expr, "$namespace", ".*")
			}
		}
		t.Fatalf("no dashboard panel %q", title)
		return ""
	}
	count := query("Entities at or over the threshold")
	ratio := query("Failure probability ÷ threshold (top 10 entities)")
	// The first query of a panel that also draws the threshold.
	first := func(title string) string {
		t.Helper()
		for _, p := range d.Panels {
			if p.Title == title && len(p.Targets) > 0 {
				return strings.ReplaceAll(p.Targets[0].Expr, "$namespace", ".*")
			}
		}
		t.Fatalf("no dashboard panel %q", title)
		return ""
	}
	probTop := first("Failure probability (top 10 entities)")
	scoreTop := first("Anomaly score (top 10 entities)")

	type sample struct {
		Labels string  `yaml:"labels"`
		Value  float64 `yaml:"value"`
	}
	type exprTest struct {
		Expr       string   `yaml:"expr"`
		EvalTime   string   `yaml:"eval_time"`
		ExpSamples []sample `yaml:"exp_samples"`
	}
	type series struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	}
	var in []series
	for _, inst := range []string{"omen-a:9090", "omen-b:9090"} {
		for pod, v := range map[string]string{"checkout-1": "0.25", "cart-1": "0.1875", "web-1": "0.0625"} {
			in = append(in, series{`omen_failure_probability{namespace="shop",pod="` + pod + `",instance="` + inst + `",job="omen"}`, v + "x5"})
		}
		in = append(in, series{`omen_model_failure_threshold{instance="` + inst + `",job="omen"}`, "0.125x5"})
	}
	var ratios []sample
	for pod, v := range map[string]float64{"checkout-1": 2, "cart-1": 1.5, "web-1": 0.5} {
		ratios = append(ratios, sample{`{namespace="shop",pod="` + pod + `"}`, v})
	}
	// 11 entities over an HA pair: probability i/64 under the threshold
	// 0.5 (ratio i/32, exact), the top 10 are i = 2..11.
	// The probability and anomaly score panels likewise (each showed an
	// entity twice, the top 5 only).
	var many []series
	var top, topProb, topScore []sample
	for i := 1; i <= 11; i++ {
		pod := fmt.Sprintf("pod-%02d", i)
		for _, inst := range []string{"omen-a:9090", "omen-b:9090"} {
			many = append(many, series{`omen_failure_probability{namespace="shop",pod="` + pod + `",instance="` + inst + `",job="omen"}`,
				strconv.FormatFloat(float64(i)/64, 'g', -1, 64) + "x5"},
				series{`omen_anomaly_score{namespace="shop",pod="` + pod + `",instance="` + inst + `",job="omen"}`,
					strconv.Itoa(i) + "x5"})
		}
		if i >= 2 {
			top = append(top, sample{`{namespace="shop",pod="` + pod + `"}`, float64(i) / 32})
			topProb = append(topProb, sample{`{namespace="shop",pod="` + pod + `"}`, float64(i) / 64})
			topScore = append(topScore, sample{`{namespace="shop",pod="` + pod + `"}`, float64(i)})
		}
	}
	for _, inst := range []string{"omen-a:9090", "omen-b:9090"} {
		many = append(many, series{`omen_model_failure_threshold{instance="` + inst + `",job="omen"}`, "0.5x5"})
	}
	file := map[string]any{
		"evaluation_interval": "1m",
		"tests": []map[string]any{{
			"interval":     "1m",
			"input_series": in,
			"promql_expr_test": []exprTest{
				{count, "2m", []sample{{"{}", 2}}},
				{ratio, "2m", ratios},
			},
		}, {
			"interval":         "1m",
			"input_series":     many,
			"promql_expr_test": []exprTest{{ratio, "2m", top}, {probTop, "2m", topProb}, {scoreTop, "2m", topScore}},
		}},
	}
	out, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard_test.yml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := exec.Command(promtool, "test", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool test rules: %v\n%s\n%s", err, res, out)
	}
}
