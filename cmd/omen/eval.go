package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"

	"github.com/omen-sre/omen/explain"
	"github.com/omen-sre/omen/explain/nezha"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/training"
	"github.com/omen-sre/omen/training/dataset"
)

// evalCmd implements "omen eval smd|asd|rca|sim".
func evalCmd(args []string, stdout, stderr io.Writer) int {
	const usage = "usage: omen eval smd|asd|rca|sim [flags]\n\nRun 'omen eval KIND --help' for the flags of a kind."
	if len(args) == 0 {
		return usageError(stderr, "omen eval", "missing the kind (smd, asd, rca or sim)")
	}
	if isHelp(args[0]) {
		fmt.Fprintln(stdout, usage)
		return 0
	}
	// A closed terminal (SIGHUP) stops a run cleanly too: eval sim's
	// temporary stores are removed.
	ctx, cancel := signal.NotifyContext(context.Background(), stopSignals()...)
	defer cancel()
	switch args[0] {
	case "smd", "asd":
		return evalDataset(ctx, args[0], args[1:], stdout, stderr, training.EvalDataset)
	case "rca":
		return evalRCA(ctx, args[1:], stdout, stderr)
	case "sim":
		return evalSim(ctx, args[1:], stdout, stderr)
	}
	return usageError(stderr, "omen eval", fmt.Sprintf("unknown kind %q (want smd, asd, rca or sim)", args[0]))
}

// evalDataset runs "omen eval smd|asd" with run (training.EvalDataset;
// tests wrap it to make an entity fail during the run).
func evalDataset(ctx context.Context, kind string, args []string, stdout, stderr io.Writer, run func(context.Context, training.EvalOptions) (training.Report, error)) int {
	fs := flag.NewFlagSet("omen eval "+kind, flag.ContinueOnError)
	dir := fs.String("dir", "../shared/datasets/"+kind, "folder in the "+strings.ToUpper(kind)+" format (E.train.csv.gz, E.test.csv.gz, E.interpretation.txt)")
	entities := fs.String("entities", "", "comma-separated entities (default: every entity in --dir)")
	jsonOut := fs.String("json", "", "write the report as JSON to this file (-: stdout, and the table goes to stderr)")
	epochs := fs.Int("epochs", 0, "training epochs (0: the default, 20)")
	window := fs.Int("window", 0, "window W (0: the default)")
	hidden := fs.Int("hidden", 0, "LSTM hidden size (0: the default)")
	detector := fs.String("detector", "", "lstm (default) or ar")
	maxRows := fs.Int("max-rows", 0, "use only the first N rows of each file (smoke runs; 0: all)")
	seed := fs.Int64("seed", 1, "seed for initialisation and shuffling")
	members := fs.Int("members", 0, "train this many LSTMs from different seeds and score their averaged forecast (0: the default, 1; lstm only)")
	loss := fs.String("loss", "", "the LSTM's forecast loss in training: mse (default) or huber (pseudo-Huber, δ = 1 training standard deviation; lstm only)")
	step := fs.Duration("step", 0, "the files' sampling interval; the threshold's false-alarm risk is per minute of data (0: 1m for smd, 5m for asd)")
	ranker := fs.String("ranker", "shap", "how dimensions are ranked for HitRate/NDCG: shap (package explain's Shapley attributions of the anomaly score, at the labelled steps, as the daemon explains its alerts) or residual (each feature's scaled forecast residual)")
	shapBudget := fs.Int("shap-budget", 0, "model evaluations per explained step with --ranker shap (0: explain.Fast's default, 256)")
	if rc, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return rc
	}
	if rc, ok := checkSizes(fs.Name(), stderr, []sizeFlag{{"epochs", *epochs, 1}, {"window", *window, 2}, {"hidden", *hidden, 1}, {"max-rows", *maxRows, 1}, {"members", *members, 1}}); !ok {
		return rc
	}
	if *members > 1 && *detector == training.DetectorAR {
		fmt.Fprintf(stderr, "omen eval %s: --members %d needs --detector %s (the ar baseline is fitted in closed form: its members would be one model)\n", kind, *members, training.DetectorLSTM)
		return 2
	}
	if rc, ok := checkWritable(fs.Name(), "json", *jsonOut, stderr); !ok {
		return rc
	}
	if *step < 0 {
		// A usage error like the other flags' (it was exit 1 from the
		// options check, without the flag's name).
		fmt.Fprintf(stderr, "omen eval %s: --step %v, want the files' sampling interval (0: the default, 1m for smd, 5m for asd)\n", kind, *step)
		return 2
	}
	switch *detector {
	case "", training.DetectorLSTM, training.DetectorAR:
	default:
		fmt.Fprintf(stderr, "omen eval %s: unknown --detector %q (want %s or %s)\n", kind, *detector, training.DetectorLSTM, training.DetectorAR)
		return 2
	}
	if *detector != training.DetectorAR {
		// The LSTM's limits (--hidden 9000), before the files are read:
		// the model is made only after them (exit 1 then, once per
		// entity). The ar baseline has no such model.
		if err := (model.Config{Window: *window, Horizon: 1, Hidden: *hidden}).CheckSizes(); err != nil {
			fmt.Fprintf(stderr, "omen eval %s: %s\n", kind, strings.ReplaceAll(err.Error(), "\n", "; "))
			return 2
		}
	}
	switch {
	case *loss != "" && *loss != model.LossMSE && *loss != model.LossHuber:
		fmt.Fprintf(stderr, "omen eval %s: unknown --loss %q (want %s or %s)\n", kind, *loss, model.LossMSE, model.LossHuber)
		return 2
	case *loss == model.LossHuber && *detector == training.DetectorAR:
		fmt.Fprintf(stderr, "omen eval %s: --loss %s needs --detector %s (the ar baseline is fitted by least squares)\n", kind, *loss, training.DetectorLSTM)
		return 2
	}
	opts := training.EvalOptions{
		Kind: kind, Dir: *dir, Epochs: *epochs, Window: *window, Hidden: *hidden,
		Detector: *detector, MaxTrainSteps: *maxRows, MaxTestSteps: *maxRows,
		Progress: stderr, Seed: *seed, Step: *step, Members: *members, Loss: *loss,
		// Warnings (such as a capped threshold risk) as the command's own.
		Logger: cliLogger(stderr, fs.Name()),
	}
	for _, e := range strings.Split(*entities, ",") {
		// A name given twice is evaluated once (it was trained twice and
		// counted twice in the mean).
		if e = strings.TrimSpace(e); e != "" && !slices.Contains(opts.Entities, e) {
			opts.Entities = append(opts.Entities, e)
		}
	}
	if len(opts.Entities) > 0 {
		// Every name before any work: a typo was reported only after the
		// entities before it had been trained.
		found, trainOnly, err := dataset.FindEntities(*dir)
		var noTest []string
		for _, e := range opts.Entities {
			if slices.Contains(trainOnly, e) {
				noTest = append(noTest, e)
			}
		}
		if len(noTest) > 0 {
			// Named before a "no entities" error: the test file is
			// what is missing.
			fmt.Fprintf(stderr, "omen eval %s: --entities: no test file for %q in %s (%s.test.csv[.gz] is missing; the entity needs both files)\n",
				kind, noTest, *dir, noTest[0])
			return 2
		}
		if err != nil {
			fmt.Fprintf(stderr, "omen eval %s: %v\n", kind, err)
			return 1
		}
		var unknown []string
		for _, e := range opts.Entities {
			if !slices.Contains(found, e) {
				unknown = append(unknown, e)
			}
		}
		if len(unknown) > 0 {
			list := strings.Join(found[:min(len(found), 8)], ", ")
			if len(found) > 8 {
				list += ", …"
			}
			fmt.Fprintf(stderr, "omen eval %s: --entities: no entity %q in %s (E.train.csv[.gz] with E.test.csv[.gz]; found %d: %s)\n",
				kind, unknown, *dir, len(found), list)
			return 2
		}
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
	rep, err := run(ctx, opts)
	if err != nil && (len(rep.Errors) == 0 || ctx.Err() != nil) {
		// Before any entity was trained (the files' check, which names
		// every bad entity, a line each), or an interrupt: nothing to
		// report.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "omen eval %s: %s\n", kind, line)
		}
		return 1
	}
	table := reportWriter(*jsonOut, stdout, stderr)
	fmt.Fprintf(table, "%-14s %7s %7s %7s %7s %7s %7s %7s %7s %9s %9s %7s\n", "entity", "F1-PA", "F1", "F1-ev", "AUC-PR", "HR@100", "HR@150", "ND@100", "ND@150", "HR-TP@100", "HR-TP@150", "train s")
	var noAnomalies, noAnomaliesCut, noInterpretation []string
	for _, e := range append(rep.Entities, rep.Mean) {
		name := e.Entity
		if name == "" {
			name = "mean"
		}
		// Without anomalous test rows the detection figures, without
		// interpretation labels HitRate and NDCG are not measured: n/a,
		// not a 0 that reads as a result (the JSON keeps 0 with
		// anomalous_points or interpreted_points 0, as documented; the
		// mean leaves such entities out). HR-TP is n/a only without
		// interpretation labels too: an entity with labels but no
		// flagged labelled step scores 0 there, and the mean counts that
		// 0 (docs/EVALUATION.md).
		hr := func(v float64, points int, width int) string {
			if points == 0 {
				return fmt.Sprintf("%*s", width, "n/a")
			}
			return fmt.Sprintf("%*.4f", width, v)
		}
		ap, ip := e.AnomalousPoints, e.InterpretedPoints
		fmt.Fprintf(table, "%-14s %s %s %s %s %s %s %s %s %s %s %7.1f\n", name,
			hr(e.F1PA, ap, 7), hr(e.F1, ap, 7), hr(e.F1Event, ap, 7), hr(e.AUCPR, ap, 7),
			hr(e.HitRate100, ip, 7), hr(e.HitRate150, ip, 7), hr(e.NDCG100, ip, 7), hr(e.NDCG150, ip, 7),
			hr(e.HitRateTP100, ip, 9), hr(e.HitRateTP150, ip, 9), e.TrainSeconds)
		switch {
		case name == "mean":
		case e.AnomalousPoints == 0 && e.TestRowsLeftOut > 0:
			// --max-rows cut the test file: the labels may be after.
			noAnomaliesCut = append(noAnomaliesCut, fmt.Sprintf("%s (its %d rows left out have %s labelled anomalous)", name, e.TestRowsLeftOut, countOrNone(e.AnomalousRowsLeftOut)))
		case e.AnomalousPoints == 0:
			noAnomalies = append(noAnomalies, name)
		case e.InterpretedPoints == 0:
			noInterpretation = append(noInterpretation, name)
		}
	}
	if len(noAnomalies) > 0 {
		fmt.Fprintf(stderr, "omen eval %s: warning: no labelled anomalous rows in the test file of %s: detection and ranking figures are not measured there (n/a, left out of the mean, which averages %d of %d entities)\n",
			kind, strings.Join(noAnomalies, ", "), rep.MeanEntities, len(rep.Entities))
	}
	if len(noAnomaliesCut) > 0 {
		fmt.Fprintf(stderr, "omen eval %s: warning: no labelled anomalous rows in the first %d rows (--max-rows) of the test file of %s: detection and ranking figures are not measured there (n/a, left out of the mean, which averages %d of %d entities); a larger --max-rows reaches more of the file\n",
			kind, *maxRows, strings.Join(noAnomaliesCut, ", "), rep.MeanEntities, len(rep.Entities))
	}
	if len(noInterpretation) > 0 {
		fmt.Fprintf(stderr, "omen eval %s: warning: no interpretation labels (E.interpretation.txt) for %s: HitRate and NDCG are n/a (the file is missing, or none of its segments is on a labelled test row)\n", kind, strings.Join(noInterpretation, ", "))
	}
	if len(rep.Errors) > 0 {
		// Entities that failed during the run: the others' figures are
		// reported and written, the mean covers only them, and the exit
		// code says the run is incomplete.
		for _, e := range rep.Errors {
			fmt.Fprintf(stderr, "omen eval %s: %s\n", kind, e.Error)
		}
		fmt.Fprintf(stderr, "omen eval %s: %d of %d entities failed (listed under \"errors\" in the JSON); the table, the JSON and the mean hold the %d that finished\n",
			kind, len(rep.Errors), len(rep.Errors)+len(rep.Entities), len(rep.Entities))
		_ = writeJSON(*jsonOut, rep, stdout, stderr)
		return 1
	}
	return writeJSON(*jsonOut, rep, stdout, stderr)
}

// sizeFlag is an integer flag's name, value and least allowed value
// (0 always means the default, except where least is 0 itself).
type sizeFlag struct {
	name     string
	v, least int
}

// checkSizes rejects negative values and positive values below the least,
// naming the flag (exit code 2).
func checkSizes(cmd string, stderr io.Writer, fl []sizeFlag) (int, bool) {
	for _, f := range fl {
		if f.v < 0 || f.v > 0 && f.v < f.least {
			fmt.Fprintf(stderr, "%s: --%s %d, want at least %d (0: the default)\n", cmd, f.name, f.v, f.least)
			return 2, false
		}
	}
	return 0, true
}

// checkWritable makes sure the file of an output flag (--json, --out,
// --save-model) can be written before a long run: it opens the file for
// writing (creating it, not truncating it). "" passes, and "-" (stdout)
// for --json; a model (--out, --save-model) is binary and goes to a file.
func checkWritable(cmd, flagName, path string, stderr io.Writer) (int, bool) {
	switch {
	case path == "" || path == "-" && flagName == "json":
		return 0, true
	case path == "-":
		fmt.Fprintf(stderr, "%s: --%s -: the model is binary and is written to a file; give a file name\n", cmd, flagName)
		return 2, false
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintf(stderr, "%s: --%s: %v\n", cmd, flagName, err)
		return 2, false
	}
	_ = f.Close()
	if errors.Is(statErr, os.ErrNotExist) {
		// Created only to check: the run writes it when it is done.
		_ = os.Remove(path)
	}
	return 0, true
}

func evalRCA(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("omen eval rca", flag.ContinueOnError)
	dir := fs.String("dir", "../shared/datasets/nezha/2022-08-22", "a Nezha day folder (fault_list.json, metric/, root_cause.json)")
	jsonOut := fs.String("json", "", "write the report as JSON to this file (-: stdout, and the summary line goes to stderr)")
	if rc, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return rc
	}
	if rc, ok := checkWritable(fs.Name(), "json", *jsonOut, stderr); !ok {
		return rc
	}
	rep, err := nezha.EvalRCA(ctx, *dir, nezha.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "omen eval rca: %v\n", err)
		return 1
	}
	fmt.Fprintf(reportWriter(*jsonOut, stdout, stderr), "faults %d  AC@1 %.4f  AC@3 %.4f  AC@5 %.4f  Avg@5 %.4f  metric AC@1 %.4f\n",
		rep.Faults, rep.AC1, rep.AC3, rep.AC5, rep.Avg5, rep.MetricAC1)
	return writeJSON(*jsonOut, rep, stdout, stderr)
}

// reportWriter is where a command prints its human-readable report:
// stdout, or stderr when the JSON goes to stdout (--json -), so that
// stdout holds only the JSON.
func reportWriter(jsonPath string, stdout, stderr io.Writer) io.Writer {
	if jsonPath == "-" {
		return stderr
	}
	return stdout
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

// countOrNone is n, or "none" for 0.
func countOrNone(n int) string {
	if n == 0 {
		return "none"
	}
	return strconv.Itoa(n)
}
