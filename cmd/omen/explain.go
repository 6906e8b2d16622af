package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/internal/redact"
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
			"explanation_url, generatorURL or explanation_api_url, or an entity's page, stands for the id it names;\n"+
			"without --url, the omen it is under (its scheme://host and path prefix, omen's alerting.external_url)\n"+
			"is asked (with --token-file, only when it is the default: else give --url to send the token there);\n"+
			"with a --url that differs, --url is asked and stderr says so.\n\nflags:")
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
	// A link of omen's (an alert's explanation_url) is under the URL
	// users reach omen at (its alerting.external_url): without --url, that
	// omen is asked, not the default's. Not with the token of
	// --token-file: a link comes from an alert, which whoever can post
	// to Alertmanager writes, so the token goes only to a URL the user
	// gave (or the default).
	base, isLink := api.ExplainBase(fs.Arg(0))
	if isLink && !flagSet(fs, "url") && *cf.tokenFile != "" && !sameBaseURL(*cf.url, base) {
		fmt.Fprintf(stderr, "omen explain: the link is under %s: give --url %s to send the token of --token-file there\n",
			redact.URL(base), redact.URL(base))
		return 2
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(stderr, "omen explain: %v\n", err)
		return 1
	}
	linked := false
	if isLink {
		switch {
		case !flagSet(fs, "url"):
			c.URL, linked = base, true
		case !sameBaseURL(*cf.url, base):
			fmt.Fprintf(stderr, "omen explain: asking --url %s, not %s, the omen the link is under\n", redact.URL(*cf.url), redact.URL(base))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	x, raw, err := c.Explain(ctx, fs.Arg(0))
	if err != nil {
		// Not omen's API (an HTML page, a proxy's error): the client's
		// error gives the status and content type, not the page.
		fmt.Fprintf(stderr, "omen explain: %v\n", err)
		var (
			ue *url.Error
			ae *api.Error
		)
		if linked && (errors.As(err, &ue) || errors.As(err, &ae) && ae.Type == api.BadResponse) {
			// No answer of omen's from the link's URL (unreachable from
			// here, a login page): say where it came from.
			fmt.Fprintf(stderr, "omen explain: asked %s, the omen the link is under; give --url to ask another (its --web.listen-address)\n", redact.URL(c.URL))
		}
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

// sameBaseURL reports whether the base URLs a and b name the same omen:
// the same scheme, host and port (a scheme's default port given or not)
// and path (a trailing slash aside), case aside in scheme and host.
func sameBaseURL(a, b string) bool {
	ua, err := url.Parse(a)
	if err != nil {
		return false
	}
	ub, err := url.Parse(b)
	if err != nil {
		return false
	}
	return api.SameOrigin(ua, ub) &&
		strings.TrimRight(ua.EscapedPath(), "/") == strings.TrimRight(ub.EscapedPath(), "/")
}
