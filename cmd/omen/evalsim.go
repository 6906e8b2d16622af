package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
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
	fs.DurationVar(&o.History, "history", 24*time.Hour, "simulated history of each training fleet")
	fs.StringVar(&o.ModelFile, "model", "", "evaluate this model file instead of training one")
	fs.IntVar(&o.Train.Members, "members", 3, "networks trained from different seeds and averaged (an ensemble; 1: a single network)")
	fs.StringVar(&o.SaveModel, "save-model", "", "write the trained model to this file")
	jsonOut := fs.String("json", "", "write the report as JSON to this file (- for stdout)")
	if rc, ok := parseFlags(fs, args, stderr); !ok {
		return rc
	}
	if o.Train.Members < 1 {
		fmt.Fprintf(stderr, "omen eval sim: --members %d, want at least 1\n", o.Train.Members)
		return 2
	}
	o.Out = stderr
	o.App.ListenAddress = "127.0.0.1:0"
	o.App.NATSListenAddress = "127.0.0.1:0"
	o.App.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	rep, err := demo.Eval(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "omen eval sim: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "scenarios %d (failures %d, bait %d)  precision %.3f  recall %.3f  lead time median %.0fs  top-1 cause %.3f  top-3 cause %.3f  (%d alerts, %.0fs)\n",
		rep.Scenarios, rep.Failures, rep.FalseAlarmBait, rep.Precision, rep.Recall, rep.LeadTimeMedianS,
		rep.Top1Cause, rep.Top3Cause, rep.Alerts, rep.WallSeconds)
	for _, fa := range rep.FalseAlerts {
		near := "no scenario on the entity"
		if fa.Near != "" {
			near = fmt.Sprintf("%s %s (%+.0fs from its onset)", fa.Near, fa.Scenario, fa.OffsetS)
		}
		fmt.Fprintf(stdout, "  false alert %s %s: %s; causes %s\n", fa.FiredAt.UTC().Format(time.DateTime), sim.EntityName(fa.Entity, []string{"namespace", "pod"}), near, strings.Join(fa.TopCauses, ", "))
	}
	return writeJSON(*jsonOut, rep, stdout, stderr)
}
