package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/config"
)

// checkCmd implements "omen check config FILE...": exit 0 when every file
// is valid, 1 when any is not, 2 on usage errors (as promtool does). It
// takes no flags: a word starting with "-" is a usage error, unless it
// follows "--".
func checkCmd(args []string, stdout, stderr io.Writer) int {
	const usage = "usage: omen check config FILE...\n\nValidates omen configuration files: exit 0 when all are valid, 1 when any is not.\nA file whose name starts with \"-\" follows \"--\"."
	if len(args) > 0 && isHelp(args[0]) || len(args) == 2 && args[0] == "config" && args[1] == "help" {
		fmt.Fprintln(stderr, usage)
		return 0
	}
	if len(args) == 0 || args[0] != "config" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("omen check config", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), usage) }
	if rc, ok := parseFlags(fs, args[1:], stderr); !ok {
		return rc
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	rc := 0
	for _, f := range fs.Args() {
		fmt.Fprintf(stdout, "Checking %s\n", f)
		cfg, err := config.LoadFile(f)
		if err == nil {
			err = app.CheckPollers(cfg) // what omen run would refuse too
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
	}
	return rc
}
