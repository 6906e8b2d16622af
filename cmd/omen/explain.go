package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/omen-sre/omen/api"
)

// explainCmd prints the explanation of an alert, a prediction or an entity
// from a running omen's API.
func explainCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen explain", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs, "http://127.0.0.1:9464")
	asJSON := fs.Bool("json", false, "print the API's JSON instead of a table")
	top := fs.Int("top", 10, "number of groups and root causes printed (0: all)")
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait for the API")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: omen explain [flags] ENTITY|ALERT|PREDICTION|URL\n\n"+
			"Explains an alert (by fingerprint: any Alertmanager shows for it) or a prediction (by id, as is or\n"+
			"URL-escaped as in an alert's explanation_url), else the entity's latest window. An alert's\n"+
			"explanation_url, generatorURL or explanation_api_url, or an entity's page, stands for the id it names.\n\nflags:")
		fs.PrintDefaults()
	}
	if rc, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return rc
	}
	if fs.NArg() == 1 && fs.Arg(0) == "help" {
		printHelp(fs, stdout)
		return 0
	}
	switch {
	case fs.NArg() == 0:
		return usageError(stderr, fs.Name(), "missing the ENTITY, ALERT, PREDICTION or URL to explain")
	case fs.NArg() > 1:
		return usageError(stderr, fs.Name(), fmt.Sprintf("unexpected arguments %q (it explains one ENTITY, ALERT, PREDICTION or URL)", fs.Args()[1:]))
	case strings.TrimSpace(fs.Arg(0)) == "":
		return usageError(stderr, fs.Name(), "empty or blank argument: give an ENTITY, ALERT, PREDICTION or URL")
	}
	if *top < 0 {
		fmt.Fprintln(stderr, "omen explain: --top must not be negative")
		return 2
	}
	if err := cf.check(); err != nil {
		fmt.Fprintf(stderr, "omen explain: %v\n", err)
		return 2
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(stderr, "omen explain: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	x, raw, err := c.Explain(ctx, fs.Arg(0))
	if err != nil {
		// Not omen's API (an HTML page, a proxy's error): the client's
		// error gives the status and content type, not the page.
		fmt.Fprintf(stderr, "omen explain: %v\n", err)
		return 1
	}
	if *asJSON {
		if _, err := fmt.Fprintf(stdout, "%s\n", raw); err != nil {
			return 1
		}
		return 0
	}
	// The root causes' pages as links that open from here: under the
	// URL the explanation came from.
	if err := api.WriteTableAt(stdout, x, *top, c.URL); err != nil {
		fmt.Fprintf(stderr, "omen explain: %v\n", err)
		return 1
	}
	return 0
}
