package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestCheckRemoteWriteKeep: omen check config --remote-write-keep prints,
// after a valid file's result, the write_relabel_configs keep-list of the
// metrics its features select. For the example configuration (the
// built-in features) it is the README's snippet, line for line, and,
// under a remote_write entry, a prometheus.yml promtool accepts; a
// selector without one metric name is a warning; without the flag
// nothing is printed.
func TestCheckRemoteWriteKeep(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := dispatch([]string{"check", "config", "--remote-write-keep", "../../docs/omen.example.yml"}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s%s", rc, out.String(), errb.String())
	}
	lines := strings.Split(out.String(), "\n")
	start := -1
	for i, l := range lines {
		if l == "    write_relabel_configs:" {
			start = i
		}
	}
	if start < 0 || !strings.Contains(out.String(), "kube_pod_info|\\\n") || strings.Contains(out.String(), "WARNING") {
		t.Fatalf("no keep-list (or a warning) in:\n%s", out.String())
	}
	block := strings.TrimRight(strings.Join(lines[start:], "\n"), "\n")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(trimLines(string(readme)), trimLines(strings.Join(lines[start+1:], "\n"))) {
		t.Errorf("the README's remote-write snippet differs from the keep-list printed for the built-in features:\n%s", block)
	}
	prom := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(prom, []byte("remote_write:\n  - url: http://127.0.0.1:9464/api/v1/write\n"+block+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/usr/bin/promtool"); err != nil {
		t.Fatalf("/usr/bin/promtool is missing (apt-get install prometheus, as scripts/test.sh does): %v", err)
	}
	if b, err := exec.Command("/usr/bin/promtool", "check", "config", prom).CombinedOutput(); err != nil || !strings.Contains(string(b), "SUCCESS") {
		t.Errorf("promtool check config: %v\n%s", err, b)
	}

	t.Chdir(t.TempDir())
	const yml = "features:\n" +
		"  - name: a\n    expr: sum by (${entity}) (rate(app_requests_total[5m]))\n" +
		"  - name: b\n    expr: 'max by (${entity}) ({__name__=~\"app_.*_seconds\"})'\n"
	if err := os.WriteFile("c.yml", []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if rc := dispatch([]string{"check", "config", "--remote-write-keep", "c.yml"}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s%s", rc, out.String(), errb.String())
	}
	for _, want := range []string{
		`WARNING: feature b: {__name__=~"app_.*_seconds"} names no one metric`,
		"        regex: \"app_requests_total\"\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if rc := dispatch([]string{"check", "config", "c.yml"}, &out, &errb); rc != 0 || strings.Contains(out.String(), "keep") {
		t.Errorf("without --remote-write-keep: exit %d, %s", rc, out.String())
	}
}

// trimLines trims every line of s, to compare YAML indented differently.
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

// TestKeepRegexName checks that each name of the printed keep-list, read
// back from its double-quoted YAML string as Prometheus reads the regex
// (anchored), keeps that name and no other: a UTF-8 name's dot is not a
// wildcard, and a quote or backslash does not break the YAML.
func TestKeepRegexName(t *testing.T) {
	for _, tc := range []struct{ name, other string }{
		{"kube_pod_info", "kube_pod_infos"},
		{"http.requests", "httpXrequests"},
		{`odd"name`, `odd\name`},
		{`back\slash`, `backslash`},
		{"a+b", "aab"},
	} {
		var got string
		if err := yaml.Unmarshal([]byte(`"`+keepRegexName(tc.name)+`"`), &got); err != nil {
			t.Fatalf("%q: the YAML string does not read: %v", tc.name, err)
		}
		re, err := regexp.Compile("^(?:" + got + ")$")
		if err != nil {
			t.Fatalf("%q: regex %q: %v", tc.name, got, err)
		}
		if !re.MatchString(tc.name) || re.MatchString(tc.other) {
			t.Errorf("%q: regex %q keeps it %v, keeps %q %v", tc.name, got, re.MatchString(tc.name), tc.other, re.MatchString(tc.other))
		}
	}
}
