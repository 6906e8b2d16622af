package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"run":     {"run the daemon", runCmd},
		"demo":    {"run the daemon on a simulated fleet with embedded NATS", demoCmd},
		"check":   {"check config [--remote-write-keep] FILE...: validate configuration files", checkCmd},
		"train":   {"train a model from CSV, the store or Prometheus", trainCmd},
		"eval":    {"evaluate: smd|asd|rca|sim", evalCmd},
		"explain": {"explain ENTITY|ALERT|PREDICTION|URL: print a ranked explanation", explainCmd},
		"model":   {"list|add|promote|rollback|delete models in the registry", modelCommand{}.run},
		"bench":   {"ingest|lstm|explain: benchmarks printing JSON (--json=false: a line per field)", benchCmd},
		"store":   {"verify: check the store for damage while no daemon runs; backup: back it up (a running daemon's through its API); restore: restore a backup into a new store", storeCmd},
		"version": {"print the version", versionCmd},
	}
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	switch {
	case len(args) == 0:
		usage(stderr, cmds)
		return 2
	case isHelp(args[0]) && len(args) > 1 && cmds[args[1]].run != nil:
		// omen help COMMAND is omen COMMAND --help.
		return cmds[args[1]].run([]string{"--help"}, stdout, stderr)
	case isHelp(args[0]):
		// Asked for: stdout, for omen --help | less.
		usage(stdout, cmds)
		return 0
	case args[0] == "--version" || args[0] == "-version":
		// As Prometheus's tools take it: omen version.
		args = append([]string{"version"}, args[1:]...)
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "omen: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: omen COMMAND [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nRun 'omen COMMAND --help' for the flags of a command; omen --version is omen version.\n")
	fmt.Fprint(w, b.String())
}
