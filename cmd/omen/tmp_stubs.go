package main

import (
	"context"
	"io"
)

func evalSim(context.Context, []string, io.Writer, io.Writer) int { return 1 }
