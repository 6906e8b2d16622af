package main

import (
	"fmt"
	"io"

	"github.com/prometheus/common/version"
)

// defaultVersion is reported when the build did not set
// github.com/prometheus/common/version.Version with -ldflags -X.
const defaultVersion = "0.1.0-dev"

func versionCmd(_ []string, stdout, _ io.Writer) int {
	setVersion()
	fmt.Fprintln(stdout, version.Print("omen"))
	return 0
}

func setVersion() {
	if version.Version == "" {
		version.Version = defaultVersion
	}
}
