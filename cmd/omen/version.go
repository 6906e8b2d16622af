package main

import (
	"fmt"
	"io"

	"github.com/prometheus/common/version"
)

func versionCmd(_ []string, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, version.Print("omen"))
	return 0
}
