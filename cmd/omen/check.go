package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/omen-sre/omen/config"
)

// checkCmd implements "omen check config FILE...": exit 0 when every file
// is valid, 1 when any is not, 2 on usage errors (as promtool does).
func checkCmd(args []string, stdout, stderr io.Writer) int {
	const usage = "usage: omen check config FILE...\n\nValidates omen configuration files: exit 0 when all are valid, 1 when any is not."
	if len(args) > 0 && isHelp(args[0]) || len(args) > 1 && args[0] == "config" && isHelp(args[1]) && len(args) == 2 {
		fmt.Fprintln(stderr, usage)
		return 0
	}
	if len(args) < 2 || args[0] != "config" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	rc := 0
	for _, f := range args[1:] {
		fmt.Fprintf(stdout, "Checking %s\n", f)
		cfg, err := config.LoadFile(f)
		if err != nil {
			rc = 1
			fmt.Fprintln(stdout, "  FAILED:")
			for _, e := range unjoin(err) {
				fmt.Fprintf(stdout, "    %v\n", e)
			}
			continue
		}
		fmt.Fprintf(stdout, "  SUCCESS: %d features, %d event features, %d failure labels, entity labels %v\n",
			len(cfg.Features), len(cfg.EventFeatures), len(cfg.Labels), cfg.EntityLabels)
	}
	return rc
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		return j.Unwrap()
	}
	return []error{err}
}
