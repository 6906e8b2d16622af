package main

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// flagMention is a --flag named in a text: two dashes after a
// non-word character, a lower-case name of dotted or dashed words; "*"
// stands for any part of a name (--nats.*-file).
var flagMention = regexp.MustCompile(`(?:^|[^A-Za-z0-9_-])--([a-z][a-z0-9*]*(?:[.-][a-z0-9*]+)*)`)

// flagDefault is a flag as PrintDefaults prints it: "  -name type".
var flagDefault = regexp.MustCompile(`(?m)^  -([^\s]+)`)

// foreignFlags are the flags of other programs the texts name, and why.
// One no text names any more must be removed, so that the list does not
// hide a flag omen comes to lack.
var foreignFlags = map[string]string{
	"build-arg":                        "docker build",
	"stop-timeout":                     "docker run",
	"from-file":                        "kubectl create secret",
	"from-literal":                     "kubectl create secret",
	"replicas":                         "kubectl scale",
	"http.config.file":                 "promtool",
	"web.config.file":                  "prometheus",
	"web.route-prefix":                 "prometheus",
	"web.enable-remote-write-receiver": "prometheus",
	"nope":                             "README's example of a misspelt flag",
}

// helpTexts returns the --help output of every omen command and of every
// kind of those that have kinds (omen eval smd, omen bench ingest, …),
// keyed by the command line.
func helpTexts(t *testing.T) map[string]string {
	t.Helper()
	help := func(args ...string) string {
		var out, errb bytes.Buffer
		if rc := dispatch(append(args, "--help"), &out, &errb); rc != 0 {
			t.Fatalf("omen %s --help: exit %d, stderr %q", strings.Join(args, " "), rc, errb.String())
		}
		return out.String()
	}
	texts := map[string]string{"omen --help": help()}
	for name := range commands() {
		text := help(name)
		texts["omen "+name] = text
		if !strings.Contains(text, "--help' for the flags of") {
			continue
		}
		// "usage: omen eval smd|asd|rca|sim [flags]": each kind has its own flags.
		first, _, _ := strings.Cut(text, "\n")
		fields := strings.Fields(strings.TrimPrefix(first, "usage: omen "+name+" "))
		if len(fields) == 0 || !strings.Contains(fields[0], "|") {
			t.Fatalf("omen %s --help: no kinds in its usage line %q", name, first)
		}
		for _, kind := range strings.Split(fields[0], "|") {
			texts["omen "+name+" "+kind] = help(name, kind)
		}
	}
	return texts
}

// TestDocumentedFlagsExist checks that every --flag the README, docs/*.md,
// the package docs, cmd/omen's sources and its --help texts name is a
// flag of some omen command (or, listed in foreignFlags, another
// program's): the README and omen explain --help named a
// --web.external-url that no command has (the setting is
// alerting.external_url).
func TestDocumentedFlagsExist(t *testing.T) {
	defined := map[string]bool{"help": true} // the flag package's -h, -help
	texts := map[string]string{}
	for cmd, text := range helpTexts(t) {
		for _, m := range flagDefault.FindAllStringSubmatch(text, -1) {
			defined[m[1]] = true
		}
		texts[cmd+" --help"] = text
	}
	if !defined["config.file"] || !defined["url"] || !defined["entities"] {
		t.Fatalf("flags read from the --help texts %v lack config.file, url or entities: the parse is broken", defined)
	}
	files := []string{"../../README.md"}
	for _, pattern := range []string{"../../docs/*.md", "../../*/doc.go", "../../*/*/doc.go", "*.go"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[f] = string(b)
	}
	if len(texts) < 20 {
		t.Fatalf("only %d texts read", len(texts))
	}
	names := make([]string, 0, len(defined))
	for n := range defined {
		names = append(names, n)
	}
	slices.Sort(names)
	known := func(mention string) bool {
		if defined[mention] {
			return true
		}
		if !strings.Contains(mention, "*") {
			return false
		}
		for _, n := range names {
			if ok, _ := path.Match(mention, n); ok {
				return true
			}
		}
		return false
	}
	usedForeign := map[string]bool{}
	for src, text := range texts {
		for _, line := range strings.Split(text, "\n") {
			for _, m := range flagMention.FindAllStringSubmatch(line, -1) {
				mention := m[1]
				switch {
				case known(mention):
				case foreignFlags[mention] != "":
					usedForeign[mention] = true
				default:
					t.Errorf("%s names --%s, a flag no omen command has (nor a program of foreignFlags): %q", src, mention, strings.TrimSpace(line))
				}
			}
		}
	}
	for f, prog := range foreignFlags {
		if defined[f] {
			t.Errorf("foreignFlags lists --%s (%s), which omen has: remove it", f, prog)
		}
		if !usedForeign[f] {
			t.Errorf("foreignFlags lists --%s (%s), which no text names any more: remove it", f, prog)
		}
	}
}
