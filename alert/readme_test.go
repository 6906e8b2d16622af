package alert

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// readmeAlertSection is the README's section on what omen sends to
// Alertmanager.
func readmeAlertSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n### What omen sends to Alertmanager\n")
	if !ok {
		t.Fatal(`README.md has no section "What omen sends to Alertmanager"`)
	}
	if i := strings.Index(sec, "\n#"); i >= 0 {
		sec = sec[:i]
	}
	return sec
}

// TestReadmeAlertKeys: the labels and annotations the README lists are
// those of an alert as sent (the golden firing alert, which
// TestGoldenAlertJSON checks against the code), the entity's labels
// aside.
func TestReadmeAlertKeys(t *testing.T) {
	sec := readmeAlertSection(t)
	labelsPart, annotPart, ok := strings.Cut(sec, "Its annotations")
	if !ok {
		t.Fatal("the README section does not list annotations after labels")
	}
	item := regexp.MustCompile("(?m)^- `([a-z_]+)`")
	names := func(s string) []string {
		var out []string
		for _, m := range item.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return out
	}
	// The annotations of a firing alert and of a resolved one (outcome).
	var labels, annots []string
	entity := pred("e", time.Now(), 0.9).Labels
	for i, golden := range []string{"alert_firing.golden", "alert_resolved.golden"} {
		b, err := os.ReadFile(filepath.Join("testdata", golden))
		if err != nil {
			t.Fatal(err)
		}
		var sent []struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		}
		if err := json.Unmarshal(b, &sent); err != nil || len(sent) != 1 {
			t.Fatalf("golden alert %s: %v (%d alerts)", golden, err, len(sent))
		}
		if i == 0 {
			for k := range sent[0].Labels {
				if _, ok := entity[k]; !ok {
					labels = append(labels, k)
				}
			}
		}
		for k := range sent[0].Annotations {
			if !slices.Contains(annots, k) {
				annots = append(annots, k)
			}
		}
	}
	slices.Sort(labels)
	slices.Sort(annots)
	if got := names(labelsPart); !slices.Equal(got, labels) {
		t.Errorf("README lists labels %v, an alert carries %v (and the entity's)", got, labels)
	}
	if got := names(annotPart); !slices.Equal(got, annots) {
		t.Errorf("README lists annotations %v, an alert carries %v", got, annots)
	}
	if !strings.Contains(labelsPart, "`"+AlertName+"`") {
		t.Errorf("README does not name the alertname %s", AlertName)
	}
}

// readmeYAML is the README's Alertmanager configuration example.
func readmeYAML(t *testing.T) string {
	t.Helper()
	_, y, ok := strings.Cut(readmeAlertSection(t), "```yaml\n")
	if !ok {
		t.Fatal("no yaml block in the README section")
	}
	y, _, _ = strings.Cut(y, "```")
	return y
}

// TestReadmeAlertRouting: the README's Alertmanager routing example is a
// valid configuration that routes omen's alerts as its comments say.
func TestReadmeAlertRouting(t *testing.T) {
	const amtool = "/usr/bin/amtool"
	if _, err := os.Stat(amtool); err != nil {
		t.Fatalf("%s is required (%v); install it with: apt-get update && apt-get install -y prometheus-alertmanager", amtool, err)
	}
	file := filepath.Join(t.TempDir(), "alertmanager.yml")
	if err := os.WriteFile(file, []byte(readmeYAML(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(amtool, "check-config", file).CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		labels []string
		want   string
	}{
		{[]string{"alertname=" + AlertName, "severity=" + SeverityCritical, "namespace=shop"}, "oncall-pager"},
		{[]string{"alertname=" + AlertName, "severity=" + SeverityWarning, "namespace=shop"}, "shop-team-chat"},
		{[]string{"alertname=" + AlertName, "severity=" + SeverityWarning, "namespace=kube-system"}, "sre-chat"},
		{[]string{"alertname=Other", "severity=" + SeverityCritical}, "default"},
	} {
		args := append([]string{"config", "routes", "test", "--config.file=" + file}, tc.labels...)
		out, err := exec.Command(amtool, args...).Output()
		if err != nil {
			t.Fatalf("amtool %v: %v", args, err)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("%v routes to %q, want %q", tc.labels, got, tc.want)
		}
	}
}

// TestReadmeOutcomes: the README's outcome annotation lists every
// outcome a resolved alert can carry.
func TestReadmeOutcomes(t *testing.T) {
	sec := readmeAlertSection(t)
	_, item, ok := strings.Cut(sec, "- `outcome`")
	if !ok {
		t.Fatal("the README section does not list the outcome annotation")
	}
	item, _, _ = strings.Cut(item, "\n- ")
	for _, o := range []string{OutcomeFailureBegan, OutcomeFailureEnded, OutcomeFiredDuringFailure,
		OutcomeNoLongerPredicted, OutcomeEntityGone, OutcomeEscalated} {
		if !strings.Contains(item, "`"+o+"`") {
			t.Errorf("README's outcome annotation %q does not list %s", item, o)
		}
	}
}
