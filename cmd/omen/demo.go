package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/omen-sre/omen/demo"
)

// demoCmd implements "omen demo": it takes the flags of "omen run" plus
// the simulator's.
func demoCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen demo", flag.ContinueOnError)
	var df daemonFlags
	df.register(fs, true)
	var o demo.Options
	fs.Int64Var(&o.Seed, "seed", 1, "seed of the simulated fleet")
	fs.Float64Var(&o.Speed, "speed", 20, "simulated seconds per real second in the live phase")
	fs.DurationVar(&o.History, "history", 24*time.Hour, "simulated history to train on (at least 45m; with --model, at least a step)")
	fs.StringVar(&o.ModelFile, "model", "", "load this model file instead of training")
	fs.StringVar(&o.SaveModel, "save-model", "", "write the trained model to this file")
	if rc, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return rc
	}
	// Usage errors before any work (the history alone takes minutes).
	switch {
	case !(o.Speed > 0) || math.IsInf(o.Speed, 0):
		fmt.Fprintf(stderr, "omen demo: --speed %g, want a positive number of simulated seconds per real second\n", o.Speed)
		return 2
	}
	if err := demo.CheckHistory("history", o.History, o.ModelFile == "", o.Train); err != nil {
		fmt.Fprintf(stderr, "omen demo: %v\n", err)
		return 2
	}
	if rc, ok := checkWritable(fs.Name(), "save-model", o.SaveModel, stderr); !ok {
		return rc
	}
	if df.storagePath != "" {
		if err := demo.CheckStorage(df.storagePath); err != nil {
			fmt.Fprintf(stderr, "omen demo: %v\n", err)
			return 2
		}
	}
	logger, err := newLogger(df.logLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	opts, err := df.options(logger)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	o.App = opts
	setVersion()
	// A closed stdout (`omen demo | tee demo.log` or `| head` ended, as
	// Ctrl-C ends tee first) raises SIGPIPE, which killed the demo before
	// it removed its temporary store: with SIGPIPE notified, the write
	// fails with EPIPE instead and stops the demo as Ctrl-C does.
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	defer signal.Stop(pipe)
	// A closed terminal (SIGHUP) stops it as Ctrl-C does (it left the
	// temporary store behind).
	sigCtx, stopNotify := signal.NotifyContext(context.Background(), stopSignals()...)
	defer stopNotify()
	ctx, cancel := context.WithCancel(sigCtx)
	defer cancel()
	out := &stopWriter{w: stdout, stop: cancel}
	o.Out = out
	if err := demo.Run(ctx, o); err != nil {
		fmt.Fprintf(stderr, "omen demo: %v\n", df.startHint(err))
		return 1
	}
	if err := out.Err(); err != nil && sigCtx.Err() == nil {
		fmt.Fprintf(stderr, "omen demo: stopped: writing to stdout: %v\n", err)
		return 1
	}
	return 0
}

// stopWriter writes to w until a write fails; then it calls stop (once)
// and fails every later write with that error.
type stopWriter struct {
	mu   sync.Mutex
	w    io.Writer
	stop func()
	err  error
}

func (s *stopWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
		s.stop()
	}
	return n, err
}

// Fd is the descriptor of the file w writes to, for terminal detection
// (tty.IsTerminal: progress is redrawn on a terminal only); an
// invalid one when w is not a file.
func (s *stopWriter) Fd() uintptr {
	if f, ok := s.w.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}

// Err is the first write error.
func (s *stopWriter) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
