package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/explain"
	"github.com/omen-sre/omen/model"
)

// benchCmd implements "omen bench ingest|lstm|explain", each printing one
// JSON object (lstm prints the same fields as ../shared/peers/lstm_torch.py),
// or with --json=false its fields a line each.
func benchCmd(args []string, stdout, stderr io.Writer) int {
	const usage = "usage: omen bench ingest|lstm|explain [flags]\n\nRun 'omen bench NAME --help' for the flags of a benchmark."
	if len(args) == 0 {
		return usageError(stderr, "omen bench", "missing the benchmark (ingest, lstm or explain)")
	}
	if isHelp(args[0]) {
		fmt.Fprintln(stdout, usage)
		return 0
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	fs := flag.NewFlagSet("omen bench "+args[0], flag.ContinueOnError)
	jsonOut := fs.Bool("json", true, "print the result as one JSON object; --json=false: one \"field  value\" line each")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile (after a GC) to this file at the end")
	defer func() {
		if *cpuProfile != "" {
			pprof.StopCPUProfile()
		}
	}()
	startProfile := func() error {
		if *cpuProfile == "" {
			return nil
		}
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		return pprof.StartCPUProfile(f)
	}
	var res any
	var err error
	switch args[0] {
	case "ingest":
		var o app.BenchIngestOptions
		fs.IntVar(&o.Pods, "pods", 10000, "pods (10 series each)")
		fs.IntVar(&o.Rounds, "rounds", 20, "samples per series")
		fs.IntVar(&o.LinesPerMessage, "lines-per-message", 500, "line-protocol lines per NATS message")
		fs.Int64Var(&o.MemoryLimit, "memory-limit", 0, "Go soft memory limit in bytes for the run (as GOMEMLIMIT); 0 keeps the runtime's")
		fs.BoolVar(&o.Trace, "trace", false, "print progress every 100 ms")
		cfgFile := fs.String("config.file", "", "the daemon's configuration file (e.g. runtime and storage keys), as omen run's --config.file; default the built-in configuration")
		fs.StringVar(cfgFile, "config", "", "alias of --config.file")
		fs.DurationVar(&o.MemoryReleaseInterval, "memory-release-interval", 0, "the daemon's runtime.memory_release_interval (0: the config default, 10s; negative: off)")
		ingestOnly := fs.Bool("profile-ingest-only", false, "stop the CPU profile when the last sample is acknowledged")
		fs.DurationVar(&o.Settle, "settle", 15*time.Second, "idle time before the second (settled) memory measurement; 0 skips it")
		if rc, ok := parseNoArgs(fs, args[1:], stdout, stderr); !ok {
			return rc
		}
		if rc, ok := checkSizes(fs.Name(), stderr, []sizeFlag{{"pods", o.Pods, 1}, {"rounds", o.Rounds, 1}, {"lines-per-message", o.LinesPerMessage, 1}}); !ok {
			return rc
		}
		o.Progress = stderr
		if *cfgFile != "" {
			c, err := config.LoadFile(*cfgFile)
			if err != nil {
				fmt.Fprintln(stderr, err)
				return 1
			}
			o.Config = c
		}
		if *ingestOnly && *cpuProfile != "" {
			o.Ingested = pprof.StopCPUProfile
		}
		if err := startProfile(); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if *memProfile != "" {
			// Written while the daemon is still running, after the
			// measurement, so the profile shows what it holds.
			o.AfterMeasure = func() {
				if err := writeHeapProfile(*memProfile); err != nil {
					fmt.Fprintln(stderr, err)
				}
			}
		}
		res, err = app.BenchIngest(ctx, o)
	case "lstm":
		var o model.BenchOptions
		fs.IntVar(&o.Features, "features", 38, "features F")
		fs.IntVar(&o.Hidden, "hidden", 64, "hidden size H")
		fs.IntVar(&o.Window, "window", 32, "window W")
		fs.IntVar(&o.Batch, "batch", 256, "batch B")
		fs.IntVar(&o.Threads, "threads", 2, "threads")
		fs.Float64Var(&o.Seconds, "seconds", 3, "time budget per measurement")
		if rc, ok := parseNoArgs(fs, args[1:], stdout, stderr); !ok {
			return rc
		}
		if rc, ok := checkSizes(fs.Name(), stderr, []sizeFlag{{"features", o.Features, 1}, {"hidden", o.Hidden, 1},
			{"window", o.Window, 1}, {"batch", o.Batch, 1}, {"threads", o.Threads, 1}}); !ok {
			return rc
		}
		if o.Seconds < 0 || math.IsNaN(o.Seconds) || math.IsInf(o.Seconds, 0) {
			fmt.Fprintf(stderr, "%s: --seconds %g, want a positive time budget (0: the default)\n", fs.Name(), o.Seconds)
			return 2
		}
		res, err = model.Bench(ctx, o)
	case "explain":
		var o explain.BenchOptions
		var hidden int
		fs.IntVar(&o.F, "features", 38, "features F (one group each)")
		fs.IntVar(&o.W, "window", 32, "window W")
		fs.IntVar(&hidden, "hidden", 64, "LSTM hidden size")
		fs.IntVar(&o.Cases, "cases", 50, "explanations timed")
		if rc, ok := parseNoArgs(fs, args[1:], stdout, stderr); !ok {
			return rc
		}
		if rc, ok := checkSizes(fs.Name(), stderr, []sizeFlag{{"features", o.F, 2}, {"window", o.W, 1}, {"hidden", hidden, 1}, {"cases", o.Cases, 1}}); !ok {
			return rc
		}
		res, err = benchExplain(ctx, o, hidden)
	default:
		return usageError(stderr, "omen bench", fmt.Sprintf("unknown benchmark %q (want ingest, lstm or explain)", args[0]))
	}
	if err != nil {
		fmt.Fprintf(stderr, "omen bench %s: %v\n", args[0], err)
		return 1
	}
	b, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(stderr, "omen bench %s: encode result: %v\n", args[0], err)
		return 1
	}
	if *jsonOut {
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	if err := writeFields(stdout, b); err != nil {
		fmt.Fprintf(stderr, "omen bench %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// writeFields prints the JSON object obj as a line per field, in the
// object's order: the field's name (a nested object's fields as
// "outer.inner") and its value (fieldValue; a list as JSON, on one line).
func writeFields(w io.Writer, obj json.RawMessage) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if err := flattenJSON(tw, "", obj); err != nil {
		return fmt.Errorf("print result: %w", err)
	}
	return tw.Flush()
}

// flattenJSON writes v (named name) to w: an object's fields each, in
// order, anything else as "name<TAB>value".
func flattenJSON(w io.Writer, name string, v json.RawMessage) error {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '{' {
		_, err := fmt.Fprintf(w, "%s\t%s\n", name, fieldValue(v))
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var field json.RawMessage
		if err := dec.Decode(&field); err != nil {
			return err
		}
		if name != "" {
			key = name + "." + key
		}
		if err := flattenJSON(w, key, field); err != nil {
			return err
		}
	}
	return nil
}

// benchExplain times explanations on an LSTM of the benchmark's shape
// (randomly initialised: an explanation's cost depends on the shape and
// the background, not on the weights).
func benchExplain(ctx context.Context, o explain.BenchOptions, hidden int) (explain.BenchResult, error) {
	names := make([]string, o.F)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i+1)
	}
	m, err := model.New(model.Config{Features: names, Window: o.W, Hidden: hidden, Seed: 1})
	if err != nil {
		return explain.BenchResult{}, err
	}
	return explain.Bench(ctx, m, o)
}

// writeHeapProfile writes the heap profile after a GC.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("write heap profile: %w", err)
	}
	return f.Close()
}

// fieldValue renders a JSON value for writeFields: a string unquoted, a
// fractional number to 6 significant digits, anything else as it is.
func fieldValue(v json.RawMessage) string {
	var str string
	if json.Unmarshal(v, &str) == nil {
		return str
	}
	if bytes.ContainsAny(v, ".eE") {
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			if math.Abs(f) >= 1e5 {
				return strconv.FormatFloat(f, 'f', 0, 64)
			}
			return strconv.FormatFloat(f, 'g', 6, 64)
		}
	}
	return string(v)
}
