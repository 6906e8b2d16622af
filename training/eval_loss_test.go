package training

import (
	"context"
	"strings"
	"testing"

	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/training/dataset"
)

// EvalOptions.Loss reaches the forecaster's trainer: the same seed trained
// with the pseudo-Huber loss forecasts otherwise than with the MSE; a loss
// other than mse or huber, or huber with the closed-form ar baseline, is
// refused.
func TestEvalOptionsLoss(t *testing.T) {
	dir := t.TempDir()
	features, tr, va := splitRows(t, dir, "a", 200)
	fit := func(loss string) []float32 {
		t.Helper()
		opts := EvalOptions{Dir: dir, Window: 8, Hidden: 4, Epochs: 2, Seed: 7, Loss: loss}
		if err := opts.defaults(); err != nil {
			t.Fatal(err)
		}
		if loss == "" && opts.Loss != model.LossMSE {
			t.Fatalf("default loss %q, want %q", opts.Loss, model.LossMSE)
		}
		det, err := fitDetector(context.Background(), opts, "a", features, tr, va)
		if err != nil {
			t.Fatal(err)
		}
		x, _, n := validationWindows(t, va, opts.Window)
		fc := make([]float32, n*len(features))
		if err := det.model.Forecast(x, n, nil, fc); err != nil {
			t.Fatal(err)
		}
		return fc
	}
	mse, def, huber := fit(model.LossMSE), fit(""), fit(model.LossHuber)
	var differ bool
	for i := range mse {
		if mse[i] != def[i] {
			t.Fatalf("forecast %d: loss mse %v, default %v", i, mse[i], def[i])
		}
		differ = differ || mse[i] != huber[i]
	}
	if !differ {
		t.Fatal("huber and mse trained the same forecaster: the loss did not reach the trainer")
	}

	for _, tc := range []struct {
		opts EvalOptions
		want string
	}{
		{EvalOptions{Dir: dir, Loss: "l1"}, `loss "l1"`},
		{EvalOptions{Dir: dir, Loss: model.LossHuber, Detector: DetectorAR}, `loss "huber"`},
	} {
		if err := tc.opts.defaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one with %q", tc.opts, err, tc.want)
		}
	}
}

// splitRows writes entity e's files of n rows (writeRows) into dir and
// returns its features and its training file split in time order (20 %
// validation), missing values filled.
func splitRows(t *testing.T, dir, e string, n int) (features []string, tr, va *dataset.Series) {
	t.Helper()
	writeRows(t, dir, e, n)
	ent, err := dataset.LoadEntity(dir, e)
	if err != nil {
		t.Fatal(err)
	}
	ent.Train.FillMissing()
	tr, va, err = SplitTime(ent.Train, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	return ent.Train.Features, tr, va
}

// validationWindows returns every window of w steps of va with its next
// step, and how many there are.
func validationWindows(t *testing.T, va *dataset.Series, w int) (x, next []float32, n int) {
	t.Helper()
	vaw, err := MakeWindows(va, WindowOptions{Window: w})
	if err != nil {
		t.Fatal(err)
	}
	n, f := vaw.N(), vaw.F
	x, next = make([]float32, n*vaw.W*f), make([]float32, n*f)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	vaw.Gather(idx, x, next, make([]float32, n))
	return x, next, n
}
