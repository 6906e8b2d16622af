package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/prometheus/common/version"
)

// defaultVersion is reported when the build did not set
// github.com/prometheus/common/version.Version with -ldflags -X.
const defaultVersion = "0.1.0-dev"

func versionCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen version", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: omen version\n\nPrints omen's version, revision and build information.")
	}
	if rc, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return rc
	}
	setVersion()
	fmt.Fprintln(stdout, version.Print("omen"))
	return 0
}

func setVersion() {
	if version.Version == "" {
		version.Version = defaultVersion
	}
}
