package features

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/omen-sre/omen/internal/testenv"
)

// promtool is Debian's, of the prometheus package scripts/test.sh installs.
const promtool = "/usr/bin/promtool"

// remoteWriteSnippets returns the Prometheus remote_write snippets with a
// write_relabel_configs of the README (its fenced yaml blocks) and of
// deploy/kubernetes/omen.yaml (its comment block "#   remote_write:"),
// as YAML, keyed by where they are.
func remoteWriteSnippets(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```yaml":
			in, block = true, nil
			indent := len(line) - len(strings.TrimLeft(line, " "))
			block = append(block, strings.Repeat(" ", indent)) // remembers the indent
		case in && trimmed == "```":
			in = false
			indent := len(block[0])
			var y strings.Builder
			for _, l := range block[1:] {
				y.WriteString(strings.TrimPrefix(l, strings.Repeat(" ", indent)) + "\n")
			}
			if strings.Contains(y.String(), "write_relabel_configs") {
				out["README.md (block ending at line "+strconv.Itoa(i+1)+")"] = y.String()
			}
		case in:
			block = append(block, line)
		}
	}
	b, err = os.ReadFile("../deploy/kubernetes/omen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var y strings.Builder
	in = false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "#   remote_write:":
			in = true
		case in && !strings.HasPrefix(line, "#     "):
			in = false
		}
		if in {
			y.WriteString(strings.TrimPrefix(line, "#   ") + "\n")
		}
	}
	if strings.Contains(y.String(), "write_relabel_configs") {
		out["deploy/kubernetes/omen.yaml"] = y.String()
	}
	return out
}

// TestRemoteWriteKeepList checks the write_relabel_configs keep-lists of
// the README's and deploy/kubernetes/omen.yaml's remote_write snippets
// against the metric names the built-in features' and labels' PromQL
// selects (SelectedMetricNames): the regex, anchored as Prometheus
// anchors it, matches each of them, and its alternatives are exactly
// them (a metric a feature no longer reads is not kept either), while
// Prometheus's own series (up, scrape_*) are dropped; promtool check
// config accepts each snippet as a prometheus.yml. A change of the
// default features fails it until the snippets follow.
func TestRemoteWriteKeepList(t *testing.T) {
	names, unlisted, err := DefaultConfig().SelectedMetricNames()
	if err != nil || len(unlisted) > 0 || len(names) < 10 {
		t.Fatalf("SelectedMetricNames = %v, unlisted %v, %v; want every selector naming its metric", names, unlisted, err)
	}
	snippets := remoteWriteSnippets(t)
	for _, where := range []string{"README.md", "deploy/kubernetes/omen.yaml"} {
		found := false
		for k := range snippets {
			found = found || strings.HasPrefix(k, where)
		}
		if !found {
			t.Errorf("%s has no remote_write snippet with write_relabel_configs", where)
		}
	}
	for where, snippet := range snippets {
		var cfg struct {
			RemoteWrite []struct {
				URL                 string `yaml:"url"`
				WriteRelabelConfigs []struct {
					SourceLabels []string `yaml:"source_labels"`
					Action       string   `yaml:"action"`
					Regex        string   `yaml:"regex"`
				} `yaml:"write_relabel_configs"`
			} `yaml:"remote_write"`
		}
		if err := yaml.Unmarshal([]byte(snippet), &cfg); err != nil {
			t.Fatalf("%s: %v\n%s", where, err, snippet)
		}
		if len(cfg.RemoteWrite) != 1 || len(cfg.RemoteWrite[0].WriteRelabelConfigs) != 1 {
			t.Fatalf("%s: want one remote_write with one write_relabel_configs entry:\n%s", where, snippet)
		}
		rc := cfg.RemoteWrite[0].WriteRelabelConfigs[0]
		if rc.Action != "keep" || !slices.Equal(rc.SourceLabels, []string{"__name__"}) {
			t.Errorf("%s: relabel config %+v, want action keep on source_labels [__name__]", where, rc)
		}
		if !strings.HasSuffix(cfg.RemoteWrite[0].URL, "/api/v1/write") {
			t.Errorf("%s: url %q is not omen's /api/v1/write", where, cfg.RemoteWrite[0].URL)
		}
		re, err := regexp.Compile("^(?:" + rc.Regex + ")$") // as Prometheus's relabel.NewRegexp
		if err != nil {
			t.Fatalf("%s: regex %q: %v", where, rc.Regex, err)
		}
		for _, n := range names {
			if !re.MatchString(n) {
				t.Errorf("%s: the keep regex drops %s, which the default features select", where, n)
			}
		}
		alts := strings.Split(rc.Regex, "|")
		slices.Sort(alts)
		if !slices.Equal(alts, names) {
			t.Errorf("%s: the keep regex's alternatives %v, want the default features' metrics %v", where, alts, names)
		}
		for _, n := range []string{"up", "scrape_samples_scraped", "omen_head_series", "kube_pod_info_x"} {
			if re.MatchString(n) {
				t.Errorf("%s: the keep regex keeps %s", where, n)
			}
		}
		if _, err := os.Stat(promtool); err != nil {
			t.Fatalf("%s is missing (apt-get install prometheus, as scripts/test.sh does): %v", promtool, err)
		}
		file := filepath.Join(t.TempDir(), "prometheus.yml")
		if err := os.WriteFile(file, []byte(snippet), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(promtool, "check", "config", file).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("%s: promtool check config: %v\n%s\n%s", where, err, out, snippet)
		}
		// Prometheus reads the regex as yaml.v3 does: the escaped line
		// breaks and the next lines' indentation are no part of it.
		if got := loadedKeepRegex(t, snippet); got != strings.Join(names, "|") {
			t.Errorf("%s: Prometheus loaded the keep regex %q, want %q", where, got, strings.Join(names, "|"))
		}
	}
}

// loadedKeepRegex starts Debian Prometheus with the configuration cfg
// and returns the regex of the first write_relabel_configs entry of its
// first remote_write, as /api/v1/status/config shows the loaded
// configuration.
func loadedKeepRegex(t *testing.T, cfg string) string {
	t.Helper()
	url := testenv.Prometheus(t, cfg)
	resp, err := http.Get(url + "/api/v1/status/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status struct {
		Data struct {
			YAML string `json:"yaml"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatal(err)
	}
	var loaded struct {
		RemoteWrite []struct {
			WriteRelabelConfigs []struct {
				Regex string `yaml:"regex"`
			} `yaml:"write_relabel_configs"`
		} `yaml:"remote_write"`
	}
	if err := yaml.Unmarshal([]byte(status.Data.YAML), &loaded); err != nil {
		t.Fatalf("%v\n%s", err, status.Data.YAML)
	}
	if len(loaded.RemoteWrite) == 0 || len(loaded.RemoteWrite[0].WriteRelabelConfigs) == 0 {
		t.Fatalf("Prometheus loaded no write_relabel_configs:\n%s", status.Data.YAML)
	}
	return loaded.RemoteWrite[0].WriteRelabelConfigs[0].Regex
}

// TestSelectedMetricNames: the names of every vector selector of the
// features and labels (with ${entity} expanded), sorted and once each; a
// selector without one fixed name is unlisted, naming its feature; an
// expression that does not parse is an error naming its feature.
func TestSelectedMetricNames(t *testing.T) {
	c := Config{
		EntityLabels: []string{"namespace", "pod"},
		Features: []Feature{
			{Name: "a", Expr: "sum by (${entity}) (rate(m_total[5m])) / sum by (${entity}) (rate(n_total[5m]))"},
			{Name: "b", Expr: `max by (${entity}) ({__name__=~"x_.*"}) or max by (${entity}) (m_total * 0)`},
			{Name: "c", Expr: `max by (${entity}) ({__name__="z", job="j"})`},
		},
		Labels: []LabelDef{{Name: "l", Expr: "max by (${entity}) (kube_pod_info)"}, {Name: "events only"}},
	}
	names, unlisted, err := c.SelectedMetricNames()
	if err != nil || !slices.Equal(names, []string{"kube_pod_info", "m_total", "n_total", "z"}) ||
		!slices.Equal(unlisted, []string{`feature b: {__name__=~"x_.*"}`}) {
		t.Fatalf("SelectedMetricNames = %q, unlisted %q, %v", names, unlisted, err)
	}
	c.Features = append(c.Features, Feature{Name: "bad", Expr: "sum(("})
	if _, _, err := c.SelectedMetricNames(); err == nil || !strings.Contains(err.Error(), "feature bad") {
		t.Fatalf("SelectedMetricNames of an expression that does not parse: %v, want an error naming feature bad", err)
	}
}
