package alert_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/config"
)

// recordingRegisterer is a registry that records the name of every metric
// registered with it (from the collectors' descriptions: also vectors
// without series yet, and collectors exporting nothing at the time).
type recordingRegisterer struct {
	*prometheus.Registry
	mu    sync.Mutex
	names map[string]bool
}

var fqName = regexp.MustCompile(`^Desc\{fqName: "([^"]+)"`)

func (r *recordingRegisterer) record(c prometheus.Collector) {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.record(c)
	return r.Registry.Register(c)
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		r.record(c)
	}
	r.Registry.MustRegister(cs...)
}

// omenMetrics starts a daemon (with an Alertmanager configured, so that the
// notification metrics exist) and returns the names of the metrics it
// registers.
func omenMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg := &recordingRegisterer{Registry: prometheus.NewRegistry(), names: map[string]bool{}}
	a, err := app.New(app.Options{
		Config:            config.Default(),
		ListenAddress:     "127.0.0.1:0",
		NATSListenAddress: "127.0.0.1:0",
		StoragePath:       t.TempDir(),
		AlertmanagerURLs:  []string{"http://127.0.0.1:9"},
		ShutdownTimeout:   20 * time.Second,
		Logger:            slog.New(slog.DiscardHandler),
		Registerer:        reg,
		Gatherer:          reg.Registry,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return reg.names
}

// metricWord is an omen metric name in an annotation's text.
var metricWord = regexp.MustCompile(`\bomen_[a-z0-9_]+\b`)

// ruleFile is a Prometheus rule file (the fields of rulefmt.RuleGroups;
// rulefmt itself needs a module omen does not require: promtool validates
// the file in TestPrometheusRules).
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Record        string            `yaml:"record"`
			Alert         string            `yaml:"alert"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestPrometheusRulesMetrics parses docs/prometheus-rules.yml (its
// expressions with Prometheus' PromQL parser) and checks that every metric
// its expressions select, or its annotations name, is one a running omen
// registers (a histogram's _bucket, _sum and _count series by the
// histogram's name), so that the example rules cannot keep alerting on
// metrics omen does not have.
func TestPrometheusRulesMetrics(t *testing.T) {
	data, err := os.ReadFile("../docs/prometheus-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var groups ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&groups); err != nil {
		t.Fatalf("decode rules: %v", err)
	}
	have := omenMetrics(t)
	known := func(name string) bool {
		// ALERTS is Prometheus' own series of its alerting rules' alerts
		// (the prediction rules follow each other through it).
		if have[name] || name == "ALERTS" {
			return true
		}
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suf); ok && have[b] {
				return true
			}
		}
		return false
	}
	n := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			n++
			name := r.Alert + r.Record
			// The critical prediction rule compares with the daemon's
			// alerting.critical_probability, not a literal (it had 0.9
			// whatever omen was configured with): testdata/rules_test.yml
			// has it fire at 0.7.
			if r.Labels["severity"] == "critical" && strings.Contains(r.Expr, "omen_failure_probability") &&
				!strings.Contains(r.Expr, "omen_alerting_critical_probability") {
				t.Errorf("%s: critical prediction rule without omen_alerting_critical_probability: %s", name, r.Expr)
			}
			used, err := selected(r.Expr)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if len(used) == 0 {
				t.Errorf("%s selects no metric", name)
			}
			for _, a := range r.Annotations {
				used = append(used, metricWord.FindAllString(a, -1)...)
			}
			for _, m := range used {
				if !known(m) {
					t.Errorf("%s uses %s, which omen does not register", name, m)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules")
	}
	// The Grafana dashboard likewise (its panel "Ingest errors" queried
	// omen_duplicate_batches_total, which is omen_store_duplicate_batches_total).
	dash, err := os.ReadFile("../docs/grafana/omen.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("decode dashboard: %v", err)
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			used, err := selected(strings.ReplaceAll(tg.Expr, "$namespace", ".*"))
			if err != nil {
				t.Errorf("dashboard panel %q: %v", p.Title, err)
			}
			for _, m := range used {
				if !known(m) {
					t.Errorf("dashboard panel %q queries %s, which omen does not register", p.Title, m)
				}
			}
		}
	}
	// The check must see the metrics the rules are about.
	var missing []string
	for _, name := range []string{"omen_failure_probability", "omen_notifications_total",
		"omen_notifications_oldest_pending_age_seconds", "omen_evaluator_last_step_timestamp_seconds",
		"omen_model_failure_threshold", "omen_alerting_critical_probability",
		"omen_config_last_reload_successful"} {
		if !have[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("a started omen does not register %v", missing)
	}
}

// selected returns the metric names expr's vector selectors select.
func selected(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var used []string
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			used = append(used, vs.Name)
		}
		return nil
	})
	return used, nil
}
