package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/omen-sre/omen/explain"
	"github.com/omen-sre/omen/explain/nezha"
	"github.com/omen-sre/omen/training"
)

// evalCmd implements "omen eval smd|asd|rca|sim".
func evalCmd(args []string, stdout, stderr io.Writer) int {
	const usage = "usage: omen eval smd|asd|rca|sim [flags]\n\nRun 'omen eval KIND --help' for the flags of a kind."
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if isHelp(args[0]) {
		fmt.Fprintln(stderr, usage)
		return 0
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	switch args[0] {
	case "smd", "asd":
		return evalDataset(ctx, args[0], args[1:], stdout, stderr)
	case "rca":
		return evalRCA(ctx, args[1:], stdout, stderr)
	case "sim":
		return evalSim(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "omen eval: unknown kind %q (want smd, asd, rca or sim)\n", args[0])
	return 2
}

func evalDataset(ctx context.Context, kind string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen eval "+kind, flag.ContinueOnError)
	dir := fs.String("dir", "../shared/datasets/"+kind, "folder in the "+strings.ToUpper(kind)+" format (E.train.csv.gz, E.test.csv.gz, E.interpretation.txt)")
	entities := fs.String("entities", "", "comma-separated entities (default: every entity in --dir)")
	jsonOut := fs.String("json", "", "write the report as JSON to this file (- for stdout)")
	epochs := fs.Int("epochs", 0, "training epochs (0: the default)")
	window := fs.Int("window", 0, "window W (0: the default)")
	hidden := fs.Int("hidden", 0, "LSTM hidden size (0: the default)")
	detector := fs.String("detector", "", "lstm (default) or ar")
	maxRows := fs.Int("max-rows", 0, "use only the first N rows of each file (smoke runs)")
	seed := fs.Int64("seed", 1, "seed for initialisation and shuffling")
	step := fs.Duration("step", 0, "the files' sampling interval; the threshold's false-alarm risk is per minute of data (0: 1m for smd, 5m for asd)")
	ranker := fs.String("ranker", "residual", "how dimensions are ranked for HitRate/NDCG: residual (each feature's scaled forecast residual) or shap (package explain's Shapley attributions of the anomaly score, at the labelled steps)")
	shapBudget := fs.Int("shap-budget", 0, "model evaluations per explained step with --ranker shap (0: explain.Fast's default, 256)")
	if rc, ok := parseNoArgs(fs, args, stderr); !ok {
		return rc
	}
	opts := training.EvalOptions{
		Kind: kind, Dir: *dir, Epochs: *epochs, Window: *window, Hidden: *hidden,
		Detector: *detector, MaxTrainSteps: *maxRows, MaxTestSteps: *maxRows,
		Progress: stderr, Seed: *seed, Step: *step,
	}
	if *entities != "" {
		opts.Entities = strings.Split(*entities, ",")
	}
	switch *ranker {
	case "residual":
	case "shap":
		if *shapBudget < 0 {
			fmt.Fprintf(stderr, "omen eval %s: negative --shap-budget %d\n", kind, *shapBudget)
			return 2
		}
		opts.NewRanker, opts.RankerName = shapRanker(*shapBudget, *seed), "shap"
	default:
		fmt.Fprintf(stderr, "omen eval %s: unknown --ranker %q (want residual or shap)\n", kind, *ranker)
		return 2
	}
	rep, err := training.EvalDataset(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "omen eval %s: %v\n", kind, err)
		return 1
	}
	fmt.Fprintf(stdout, "%-14s %7s %7s %7s %7s %7s %7s %7s %7s %9s %9s %7s\n", "entity", "F1-PA", "F1", "F1-ev", "AUC-PR", "HR@100", "HR@150", "ND@100", "ND@150", "HR-TP@100", "HR-TP@150", "train s")
	for _, e := range append(rep.Entities, rep.Mean) {
		name := e.Entity
		if name == "" {
			name = "mean"
		}
		fmt.Fprintf(stdout, "%-14s %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f %9.4f %9.4f %7.1f\n", name,
			e.F1PA, e.F1, e.F1Event, e.AUCPR, e.HitRate100, e.HitRate150, e.NDCG100, e.NDCG150, e.HitRateTP100, e.HitRateTP150, e.TrainSeconds)
	}
	return writeJSON(*jsonOut, rep, stdout, stderr)
}

func evalRCA(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen eval rca", flag.ContinueOnError)
	dir := fs.String("dir", "../shared/datasets/nezha/2022-08-22", "a Nezha day folder (fault_list.json, metric/, root_cause.json)")
	jsonOut := fs.String("json", "", "write the report as JSON to this file (- for stdout)")
	if rc, ok := parseNoArgs(fs, args, stderr); !ok {
		return rc
	}
	rep, err := nezha.EvalRCA(ctx, *dir, nezha.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "omen eval rca: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "faults %d  AC@1 %.4f  AC@3 %.4f  AC@5 %.4f  Avg@5 %.4f  metric AC@1 %.4f\n",
		rep.Faults, rep.AC1, rep.AC3, rep.AC5, rep.Avg5, rep.MetricAC1)
	return writeJSON(*jsonOut, rep, stdout, stderr)
}

// writeJSON writes v as indented JSON to path ("-" is stdout, "" nothing).
func writeJSON(path string, v any, stdout, stderr io.Writer) int {
	if path == "" {
		return 0
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "encode JSON: %v\n", err)
		return 1
	}
	b = append(b, '\n')
	if path == "-" {
		_, _ = stdout.Write(b)
		return 0
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		fmt.Fprintf(stderr, "write %s: %v\n", path, err)
		return 1
	}
	return 0
}

// shapRanker builds explain.FeatureRanker (Shapley attributions of the
// anomaly score, one group per feature, validation windows as background)
// for training.EvalOptions.NewRanker.
func shapRanker(budget int, seed int64) func(training.RankerInput) (training.DimensionRanker, error) {
	return func(in training.RankerInput) (training.DimensionRanker, error) {
		return explain.NewFeatureRanker(in.Scorer, in.W, in.F, in.BackgroundX, in.BackgroundNext, explain.Fast{Budget: budget, Seed: seed})
	}
}
