package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/omen-sre/omen/demo"
	"github.com/omen-sre/omen/sim"
)

// evalSim implements "omen eval sim --seed N --json FILE".
func evalSim(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen eval sim", flag.ContinueOnError)
	var o demo.EvalOptions
	fs.Int64Var(&o.Seed, "seed", 1, "seed of the evaluated fleet")
	fs.Int64Var(&o.TrainSeed, "train-seed", 0, "seed of the first fleet trained on (default seed+1000)")
	fs.IntVar(&o.TrainFleets, "train-fleets", 8, "fleets (seeds train-seed, train-seed+1, …) trained on, each for --history")
	fs.DurationVar(&o.Duration, "duration", 24*time.Hour, "simulated time of the evaluated fleet")
	fs.DurationVar(&o.History, "history", 24*time.Hour, "simulated history of each training fleet (at least 45m; not used with --model)")
	fs.StringVar(&o.ModelFile, "model", "", "evaluate this model file instead of training one")
	fs.IntVar(&o.Train.Members, "members", 3, "networks trained from different seeds and averaged into the model: 1 a single network, more an ensemble (0 counts as 3)")
	fs.StringVar(&o.SaveModel, "save-model", "", "write the trained model to this file")
	fs.IntVar(&o.ValFleets, "val-fleets", 0, "validate (early stopping, threshold) on the pods of the last N training fleets, not trained on (0: on a fifth of the pods of every fleet)")
	fs.DurationVar(&o.MinLead, "min-lead", 0, "lead floor of the threshold: the validation median lead it must reach (0: the built-in floor)")
	fs.IntVar(&o.ResolveFor, "resolve-for", 0, "alerting.resolve_for of the evaluated daemon: steps in a row below the resolve threshold that resolve an alert (0: the default, 1)")
	runs := fs.Int("runs", 1, "evaluate this many fleets (seeds seed, seed+1, …) with one model (trained by the first run unless --model is given) and report them pooled")
	jsonOut := fs.String("json", "", "write the report as JSON to this file (-: stdout, and the summary lines go to stderr)")
	if rc, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return rc
	}
	// --members 0 is the default, as in "omen train" (the options
	// struct's zero value).
	if rc, ok := checkSizes(fs.Name(), stderr, []sizeFlag{{"members", o.Train.Members, 1}}); !ok {
		return rc
	}
	if *runs < 1 {
		fmt.Fprintf(stderr, "omen eval sim: --runs %d, want at least 1\n", *runs)
		return 2
	}
	if o.TrainFleets < 1 {
		fmt.Fprintf(stderr, "omen eval sim: --train-fleets %d, want at least 1\n", o.TrainFleets)
		return 2
	}
	// --history only when training fleets run (not with --model).
	if err := demo.CheckHistory("duration", o.Duration, false, o.Train); err != nil {
		fmt.Fprintf(stderr, "omen eval sim: %v\n", err)
		return 2
	}
	if err := demo.CheckHistory("history", o.History, true, o.Train); err != nil && o.ModelFile == "" {
		fmt.Fprintf(stderr, "omen eval sim: %v\n", err)
		return 2
	}
	for _, f := range []struct{ name, path string }{{"json", *jsonOut}, {"save-model", o.SaveModel}} {
		if rc, ok := checkWritable(fs.Name(), f.name, f.path, stderr); !ok {
			return rc
		}
	}
	switch {
	case o.ValFleets < 0 || o.MinLead < 0 || o.ResolveFor < 0:
		fmt.Fprintf(stderr, "omen eval sim: --val-fleets %d, --min-lead %v and --resolve-for %d must not be negative\n", o.ValFleets, o.MinLead, o.ResolveFor)
		return 2
	case o.ModelFile != "" && (o.ValFleets > 0 || o.MinLead > 0):
		fmt.Fprintln(stderr, "omen eval sim: --val-fleets and --min-lead choose how a model is trained; they do not apply to --model")
		return 2
	case o.ValFleets >= o.TrainFleets:
		fmt.Fprintf(stderr, "omen eval sim: --val-fleets %d leaves none of the %d training fleets to train on\n", o.ValFleets, o.TrainFleets)
		return 2
	}
	if o.ModelFile == "" && o.TrainSeed != 0 && o.TrainSeed < o.Seed+int64(*runs) && o.Seed < o.TrainSeed+int64(o.TrainFleets) {
		fmt.Fprintf(stderr, "omen eval sim: the evaluated seeds %d…%d overlap the training seeds %d…%d\n",
			o.Seed, o.Seed+int64(*runs)-1, o.TrainSeed, o.TrainSeed+int64(o.TrainFleets)-1)
		return 2
	}
	// Progress goes to stderr: a closed one (`2>&1 | head`) stops the run
	// as the demo's closed stdout does (SIGPIPE killed it before it removed
	// its temporary stores).
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	defer signal.Stop(pipe)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	progress := &stopWriter{w: stderr, stop: cancel}
	o.Out = progress
	o.App.ListenAddress = "127.0.0.1:0"
	o.App.NATSListenAddress = "127.0.0.1:0"
	o.App.Logger = slog.New(slog.NewTextHandler(progress, &slog.HandlerOptions{Level: slog.LevelError}))
	if *runs > 1 && o.ModelFile == "" && o.SaveModel == "" {
		// The later runs load the model the first one trains.
		dir, err := os.MkdirTemp("", "omen-eval-sim-model-")
		if err != nil {
			fmt.Fprintf(stderr, "omen eval sim: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
		o.SaveModel = filepath.Join(dir, "model.omen")
	}
	// A closed stdout (`| head`) stops the runs too: with SIGPIPE caught
	// they went on for hours, their reports lost, and exited 0.
	out := &stopWriter{w: stdout, stop: cancel}
	stdout = out
	report := reportWriter(*jsonOut, stdout, stderr)
	var reps []demo.EvalReport
	for k := range *runs {
		ok := o
		ok.Seed = o.Seed + int64(k)
		if k > 0 {
			ok.TrainSeed = reps[0].TrainSeed
			if ok.ModelFile == "" {
				ok.ModelFile, ok.SaveModel = o.SaveModel, ""
			}
		}
		rep, err := demo.Eval(ctx, ok)
		if err != nil && out.Err() != nil {
			fmt.Fprintf(stderr, "omen eval sim: stopped: writing to stdout: %v\n", out.Err())
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "omen eval sim: seed %d: %v\n", ok.Seed, err)
			if *jsonOut == "-" && len(reps) > 0 {
				// The runs that completed, as a --json file holds them
				// (runs_requested says the rest is missing).
				writeJSON(*jsonOut, poolSimReports(reps, *runs), stdout, stderr)
			}
			return 1
		}
		if k > 0 && o.ModelFile == "" {
			rep.Model = reps[0].Model // not the temporary file it was loaded from
		}
		reps = append(reps, rep)
		prefix := ""
		if *runs > 1 {
			prefix = fmt.Sprintf("seed %d: ", ok.Seed)
		}
		printSimReport(report, prefix, rep.Report, fmt.Sprintf("(%d alerts, %.0fs)", rep.Alerts, rep.WallSeconds), true)
		if c := rep.Calibration; c != nil {
			fmt.Fprintf(report, "%scalibration on the evaluated fleet: mean P(failure) %.4f, failure rate %.4f over the windows; in the top decile of P %.4f against %.4f (threshold %.3g)\n",
				prefix, c.MeanProb, c.Rate, c.Bins[len(c.Bins)-1].MeanProb, c.Bins[len(c.Bins)-1].Rate, rep.Threshold)
		}
		if *runs > 1 && k < *runs-1 && *jsonOut != "-" {
			// The runs so far, in case the rest is interrupted (to
			// stdout only then: see above).
			if rc := writeJSON(*jsonOut, poolSimReports(reps, *runs), io.Discard, stderr); rc != 0 {
				return rc
			}
		}
	}
	var v any = reps[0]
	if *runs > 1 {
		pooled := poolSimReports(reps, *runs)
		printSimReport(report, fmt.Sprintf("pooled over %d seeds: ", len(reps)), pooled.Pooled, "", false)
		v = pooled
	}
	if rc := writeJSON(*jsonOut, v, stdout, stderr); rc != 0 {
		return rc
	}
	if err := out.Err(); err != nil {
		fmt.Fprintf(stderr, "omen eval sim: stopped: writing to stdout: %v\n", err)
		return 1
	}
	return 0
}

func poolSimReports(reps []demo.EvalReport, requested int) pooledSimReport {
	p := pooledSimReport{Runs: reps, Requested: requested}
	rs := make([]sim.Report, len(reps))
	for i, r := range reps {
		rs[i] = r.Report
		p.Seeds = append(p.Seeds, r.Seed)
	}
	p.Pooled = sim.Pool(rs...)
	return p
}

// pooledSimReport is "omen eval sim --runs K"'s JSON for K > 1.
type pooledSimReport struct {
	// Requested is --runs; fewer Seeds mean the evaluation was
	// interrupted after those.
	Requested int               `json:"runs_requested"`
	Seeds     []int64           `json:"seeds"`
	Pooled    sim.Report        `json:"pooled"`
	Runs      []demo.EvalReport `json:"runs"`
}

// printSimReport prints the report's figures on one line, then (with
// falseAlerts) one line per false alert.
func printSimReport(w io.Writer, prefix string, rep sim.Report, suffix string, falseAlerts bool) {
	fmt.Fprintf(w, "%sscenarios %d (failures %d, bait %d)  precision %.3f  recall %.3f  lead time median %.0fs  top-1 cause %.3f  top-3 cause %.3f  %s\n",
		prefix, rep.Scenarios, rep.Failures, rep.FalseAlarmBait, rep.Precision, rep.Recall, rep.LeadTimeMedianS,
		rep.Top1Cause, rep.Top3Cause, suffix)
	if !falseAlerts {
		return
	}
	for _, fa := range rep.FalseAlerts {
		near := "no scenario on the entity"
		if fa.Near != "" {
			near = fmt.Sprintf("%s %s (%+.0fs from its onset)", fa.Near, fa.Scenario, fa.OffsetS)
		}
		fmt.Fprintf(w, "  false alert %s %s: %s; causes %s\n", fa.FiredAt.UTC().Format(time.DateTime), sim.EntityName(fa.Entity, []string{"namespace", "pod"}), near, strings.Join(fa.TopCauses, ", "))
	}
	for _, la := range rep.Late {
		predicted := "missed"
		if la.Predicted {
			predicted = "predicted by an earlier alert"
		}
		fmt.Fprintf(w, "  late alert %s %s: %s failure (%s) %+.0fs after it began, fired %.0fs of its %.0fs; causes %s\n", la.FiredAt.UTC().Format(time.DateTime),
			sim.EntityName(la.Entity, []string{"namespace", "pod"}), la.Scenario, predicted, la.AfterFailureS, la.FiringS, la.FailureS, strings.Join(la.TopCauses, ", "))
	}
}
