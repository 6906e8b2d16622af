package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/words"
	"github.com/omen-sre/omen/model"
)

// checkCmd implements "omen check config [--remote-write-keep] FILE...":
// exit 0 when every file is valid, 1 when any is not, 2 on usage errors
// (as promtool does). Its one flag, --remote-write-keep, also prints for
// each valid file the write_relabel_configs keep-list of the metrics its
// features select (remoteWriteKeep); any other word starting with "-" is
// a usage error, unless it follows "--". A file is valid when omen run would start with it: it
// loads and passes app.CheckConfig (its pollers have queries, its
// remediations are accepted by the alert pipeline; a start and a reload
// run it too). Warnings
// leave the file valid: remediation causes that match nothing the configuration can produce,
// entries with tls_config.insecure_skip_verify (omen run warns too), and a model.file (when
// set) that does not read, decode or fit its features as run reads it
// (relative to the working directory) — run reads model.file only when
// its store's registry has no active model that fits the features, so
// it starts with such a file when the registry has one, and fails on it
// otherwise.
func checkCmd(args []string, stdout, stderr io.Writer) int {
	const usage = "usage: omen check config [--remote-write-keep] FILE...\n\nValidates omen configuration files: exit 0 when all are valid, 1 when any is not.\nA file whose name starts with \"-\" follows \"--\"."
	fs := flag.NewFlagSet("omen check config", flag.ContinueOnError)
	keep := fs.Bool("remote-write-keep", false, "also print, for each valid file, the write_relabel_configs keep-list of the metric names its PromQL features and labels select,\n"+
		"for omen's remote_write entry in prometheus.yml (omen keeps every series it is sent, up to max_series)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), usage+"\n\nflags:")
		fs.PrintDefaults()
	}
	if len(args) > 0 && isHelp(args[0]) || len(args) == 2 && args[0] == "config" && args[1] == "help" {
		fs.SetOutput(stdout)
		fs.Usage()
		return 0
	}
	switch {
	case len(args) == 0:
		return usageError(stderr, "omen check", "missing the subcommand (config)")
	case args[0] != "config":
		return usageError(stderr, "omen check", fmt.Sprintf("unknown subcommand %q (want config)", args[0]))
	}
	if rc, ok := parseFlags(fs, args[1:], stdout, stderr); !ok {
		return rc
	}
	if fs.NArg() == 0 {
		return usageError(stderr, fs.Name(), "missing the FILE to check")
	}
	rc := 0
	for _, f := range fs.Args() {
		fmt.Fprintf(stdout, "Checking %s\n", f)
		cfg, err := config.LoadFile(f)
		if err == nil {
			err = app.CheckConfig(cfg) // what omen run would refuse too
		}
		if err != nil {
			rc = 1
			fmt.Fprintln(stdout, "  FAILED:")
			for _, e := range config.Unjoin(err) {
				fmt.Fprintf(stdout, "    %v\n", e)
			}
			continue
		}
		fmt.Fprintf(stdout, "  SUCCESS: %d features, %d event features, %d failure labels, entity labels %v\n",
			len(cfg.Features), len(cfg.EventFeatures), len(cfg.Labels), cfg.EntityLabels)
		warnings := append(remediationWarnings(cfg), app.InsecureTLSWarnings(cfg)...)
		for _, err := range app.CheckConnectionFiles(cfg) {
			warnings = append(warnings, fmt.Sprintf("%v: omen run refuses to start with it, and a reload refuses it (checked here in case the file exists only where omen runs)", err))
		}
		if err := checkModelFile(cfg); err != nil {
			warnings = append(warnings, fmt.Sprintf("%v: omen run refuses to start with this model.file on a store without an active model (a new store); "+
				"on a store with an active model it starts and does not read model.file. "+
				"Train a model (omen train … --out FILE), make one the store's active model (omen model add FILE --promote), "+
				"or remove model.file to start without a model (nothing is scored until a model is promoted)", err))
		}
		var keepList string
		if *keep {
			var unlisted []string
			keepList, unlisted = remoteWriteKeep(cfg.Config)
			for _, u := range unlisted {
				warnings = append(warnings, fmt.Sprintf("%s names no one metric: the remote-write keep-list below leaves its series out; add a regex for them", u))
			}
		}
		for _, w := range warnings {
			fmt.Fprintf(stdout, "  WARNING: %s\n", w)
		}
		fmt.Fprint(stdout, keepList)
	}
	return rc
}

// remoteWriteKeep returns the lines "omen check config --remote-write-keep"
// prints for a valid configuration: the write_relabel_configs of omen's
// remote_write entry in prometheus.yml that keeps the metrics cfg's PromQL
// features and labels select (features.Config.SelectedMetricNames), the
// regex a double-quoted YAML string of one name a line, as the README's
// snippet; and the selectors that name no one metric.
func remoteWriteKeep(cfg features.Config) (string, []string) {
	names, unlisted, err := cfg.SelectedMetricNames()
	if err != nil { // app.CheckConfig parsed every expression
		return fmt.Sprintf("  remote-write keep-list: %v\n", err), nil
	}
	if len(names) == 0 {
		if len(unlisted) > 0 {
			return "  remote-write keep-list: no PromQL feature or label selects one metric by name: write a keep regex for the selectors above\n", unlisted
		}
		return "  remote-write keep-list: no PromQL feature or label selects a metric: nothing to keep\n", unlisted
	}
	var b strings.Builder
	b.WriteString("  remote-write keep-list (omen's remote_write entry in prometheus.yml):\n")
	b.WriteString("    write_relabel_configs:\n      - source_labels: [__name__]\n        action: keep\n")
	const key = `        regex: "`
	for i, n := range names {
		if i == 0 {
			b.WriteString(key)
		} else {
			b.WriteString(strings.Repeat(" ", len(key)))
		}
		b.WriteString(keepRegexName(n))
		if i < len(names)-1 {
			b.WriteString("|\\\n")
		} else {
			b.WriteString("\"\n")
		}
	}
	return b.String(), unlisted
}

// keepRegexName returns name as one alternative of the keep regex inside
// a double-quoted YAML string: its regex metacharacters quoted (a UTF-8
// metric name such as http.requests matches itself only), then the
// backslashes and double quotes escaped for YAML.
func keepRegexName(name string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(regexp.QuoteMeta(name))
}

// checkModelFile reads model.file as omen run does when the registry has
// no active model: it returns an error for a file that does not read,
// does not decode or does not fit the configured features. A relative path is
// resolved against the working directory, as run resolves it.
func checkModelFile(cfg *config.Config) error {
	name := cfg.Model.File
	if name == "" {
		return nil
	}
	where := ""
	if !filepath.IsAbs(name) {
		if abs, err := filepath.Abs(name); err == nil {
			where = fmt.Sprintf(" (%s: relative to the working directory)", abs)
		}
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("model.file: read model %q%s: %w", name, where, err)
	}
	m, err := model.Unmarshal(data)
	if err != nil {
		return fmt.Errorf("model.file: load model %q%s: not a model file: %w", name, where, err)
	}
	ref := &featureRef{names: features.Names(cfg.Config), against: "the configured features",
		step: time.Duration(cfg.Step), stepOf: "the configured step"}
	if err := ref.fit(m, m.Meta().Version); err != nil {
		return fmt.Errorf("model.file: load model %q%s: %w", name, where, err)
	}
	return nil
}

// causeKinds are the kinds of alert causes, which a remediation's cause
// also matches (alert.Remediation).
var causeKinds = []string{"metric", "event", "dependency"}

// remediationWarnings names the configured remediations whose cause
// matches no cause omen can produce with cfg: not a cause kind, and no
// feature name or dependency (service) of the configuration matches it
// as the alert pipeline matches (case-insensitive path.Match). Such a
// remediation is silently never chosen, unless its cause names a service
// or entity that root-cause ranking blames at run time (dependency causes
// are named by those). Failure labels and event reasons are not
// causes: a cause matching one gets a hint.
func remediationWarnings(cfg *config.Config) []string {
	names := features.Names(cfg.Config)
	for _, d := range cfg.Dependencies {
		names = append(names, d.Source, d.Target)
	}
	var out []string
	for i, r := range cfg.Alerting.Remediations {
		p := strings.ToLower(r.Cause)
		if isCauseKind(p) || matchesAny(p, names) {
			continue
		}
		var hints []string
		for _, e := range cfg.EventFeatures {
			for _, reason := range e.Reasons {
				if matchesAny(p, []string{reason}) {
					hints = append(hints, fmt.Sprintf("event reasons are not causes: event feature %q counts %s, name it instead", e.Name, reason))
				}
			}
		}
		for _, l := range cfg.Labels {
			if matchesAny(p, []string{l.Name}) {
				hints = append(hints, fmt.Sprintf("%q is a failure label, not a cause", l.Name))
			}
		}
		if near := words.Nearest(p, features.Names(cfg.Config)); near != "" {
			hints = append([]string{fmt.Sprintf("did you mean %q", near)}, hints...)
		}
		w := fmt.Sprintf("alerting.remediations[%d].cause %q matches no feature, no dependency and no cause kind (metric, event, dependency): "+
			"its action is never chosen, unless root-cause ranking blames a service or entity of that name", i, r.Cause)
		if len(hints) > 0 {
			w += " (" + strings.Join(hints, "; ") + ")"
		}
		out = append(out, w)
	}
	return out
}

// isCauseKind reports whether the lower-case pattern p names a cause kind
// as alert.Remediation matches kinds: by equality, not as a pattern
// ("metric*" matches no kind).
func isCauseKind(p string) bool {
	return slices.Contains(causeKinds, p)
}

// matchesAny reports whether the lower-case pattern p matches one of
// names as alert.Remediation matches a cause's name: path.Match against
// the lower-cased name.
func matchesAny(p string, names []string) bool {
	for _, n := range names {
		if ok, _ := path.Match(p, strings.ToLower(n)); ok {
			return true
		}
	}
	return false
}
