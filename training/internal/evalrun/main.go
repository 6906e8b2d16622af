package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/omen-sre/omen/explain"

	"github.com/omen-sre/omen/training"
)

func main() {
	var o training.EvalOptions
	var ents, out, dump string
	flag.StringVar(&o.Kind, "kind", "", "smd, asd or empty")
	flag.StringVar(&o.Dir, "dir", "", "data set directory")
	flag.StringVar(&ents, "entities", "", "comma-separated entities (default all)")
	flag.StringVar(&o.Detector, "detector", "", "lstm or ar")
	flag.IntVar(&o.Window, "window", 0, "window")
	flag.IntVar(&o.Hidden, "hidden", 0, "hidden size")
	flag.IntVar(&o.Epochs, "epochs", 0, "epochs")
	flag.IntVar(&o.MaxWindowsPerEpoch, "max-windows", 0, "windows per epoch")
	flag.StringVar(&o.Scale, "scale", "", "val-median, val, minmax or z")
	flag.StringVar(&o.Aggregate, "aggregate", "", "mean or max")
	flag.StringVar(&o.Tail, "tail", "", "robust-exp or gpd")
	flag.IntVar(&o.Gap, "gap", 0, "forecast gap")
	flag.BoolVar(&o.Stream, "stream", false, "streaming threshold (SPOT)")
	flag.IntVar(&o.Clean, "clean", 0, "replace detected steps by forecasts in later windows, at most this many in a row (0: off)")
	flag.IntVar(&o.RankSmooth, "rank-smooth", 0, "EWMA span of the ranking scores (negative: off)")
	flag.IntVar(&o.RankHold, "rank-hold", 0, "half-life of the peak-hold envelope of the ranking scores (0: off)")
	flag.StringVar(&o.RankTransform, "rank-transform", "", "log or linear")
	flag.StringVar(&dump, "dump", "", "write each entity's threshold, test scores and ranking scores to DIR/ENTITY.probe (see rankprobe)")
	flag.StringVar(&o.Calibration, "calibration", "", "val or train")
	flag.IntVar(&o.Smooth, "smooth", 0, "EWMA span")
	flag.IntVar(&o.Patience, "patience", 0, "patience")
	flag.Float64Var(&o.Risk, "risk", 0, "POT risk per minute of data (0: 1e-3)")
	flag.DurationVar(&o.Step, "step", 0, "sampling interval (0: 1m, 5m for -kind asd)")
	flag.Float64Var(&o.Level, "level", 0, "POT level")
	flag.Int64Var(&o.Seed, "seed", 1, "seed")
	flag.IntVar(&o.Members, "members", 0, "LSTMs from different seeds, forecasts averaged (0: 1)")
	flag.StringVar(&o.Loss, "loss", "", "the LSTM's forecast loss in training: mse or huber (empty: mse)")
	flag.StringVar(&out, "json", "", "write the report here")
	var ranker string
	var shapBudget int
	flag.StringVar(&ranker, "ranker", "residual", "residual or shap (explain.FeatureRanker at the labelled steps)")
	flag.IntVar(&shapBudget, "shap-budget", 0, "model evaluations per explained step (0: explain.Fast's default)")
	flag.Parse()
	if ranker == "shap" {
		o.RankerName = "shap"
		o.NewRanker = func(in training.RankerInput) (training.DimensionRanker, error) {
			return explain.NewFeatureRanker(in.Scorer, in.W, in.F, in.BackgroundX, in.BackgroundNext, explain.Fast{Budget: shapBudget, Seed: o.Seed})
		}
	}
	if dump != "" {
		o.Inspect = func(entity string, thr float64, score []float64, rank []float32) {
			if err := writeProbe(filepath.Join(dump, entity+".probe"), thr, score, rank); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
	if ents != "" {
		o.Entities = strings.Split(ents, ",")
	}
	o.Progress = os.Stderr
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := training.EvalDataset(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	if out != "" {
		if err := os.WriteFile(out, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Println(string(b))
	if err := rep.WriteTable(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// writeProbe writes int64 n, float64 threshold, n float64 scores and n×F
// float32 ranking scores, little-endian.
func writeProbe(path string, thr float64, score []float64, rank []float32) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	for _, v := range []any{int64(len(score)), thr, score, rank} {
		if err := binary.Write(f, binary.LittleEndian, v); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return f.Close()
}
