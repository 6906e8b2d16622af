package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Limits on the architecture; they bound allocations when a model file is
// read and catch nonsense configurations early.
const (
	maxFeatures = 1 << 14
	maxWindow   = 1 << 14
	maxHidden   = 1 << 13
	maxLayers   = 16
	maxParams   = 1 << 28
)

// stdFloor is the smallest standard deviation SetNormalization accepts;
// FitNormalization replaces a (near-)constant feature's std by 1.
const stdFloor = 1e-6

// Config is the architecture of a Model.
type Config struct {
	// Features names the input features in order (F = len(Features)).
	Features []string `json:"features"`
	// Window is the number of time steps per input window (W, default 32).
	Window int `json:"window"`
	// Horizon is how many steps ahead the failure head looks (default 10).
	// It is metadata for the labelling; the network does not use it.
	Horizon int `json:"horizon"`
	// Hidden is the LSTM hidden size (default 64).
	Hidden int `json:"hidden"`
	// Layers is the number of stacked LSTM layers (default 1).
	Layers int `json:"layers"`
	// Dropout is the dropout probability between stacked layers, applied
	// in training only (0 ≤ Dropout < 1).
	Dropout float64 `json:"dropout"`
	// Seed fixes the random initialisation.
	Seed int64 `json:"seed"`
	// Step is the sampling interval the model was trained at: what one of
	// its Window and Horizon steps lasts. 0 is unknown (a model trained on
	// files without timestamps, or written before the step was recorded);
	// CheckStep accepts such a model at any step. Written to the model file
	// in whole milliseconds.
	Step time.Duration `json:"step"`
}

func (c *Config) setDefaults() {
	if c.Window == 0 {
		c.Window = 32
	}
	if c.Horizon == 0 {
		c.Horizon = 10
	}
	if c.Hidden == 0 {
		c.Hidden = 64
	}
	if c.Layers == 0 {
		c.Layers = 1
	}
}

func (c Config) validate() error {
	var errs []error
	if len(c.Features) == 0 || len(c.Features) > maxFeatures {
		errs = append(errs, fmt.Errorf("features: need 1..%d names, have %d", maxFeatures, len(c.Features)))
	}
	seen := make(map[string]bool, len(c.Features))
	for i, f := range c.Features {
		if f == "" {
			errs = append(errs, fmt.Errorf("feature %d: empty name", i))
		} else if seen[f] {
			errs = append(errs, fmt.Errorf("feature %q listed twice", f))
		}
		seen[f] = true
	}
	if err := errors.Join(append(errs, c.sizeErrors()...)...); err != nil {
		return err
	}
	if n := paramCount(len(c.Features), c.Hidden, c.Layers); n > maxParams {
		return fmt.Errorf("%d parameters: more than the limit %d", n, maxParams)
	}
	return nil
}

// sizeErrors checks the window, horizon, hidden size, layers, dropout and
// step of c.
func (c Config) sizeErrors() []error {
	var errs []error
	if c.Window < 1 || c.Window > maxWindow {
		errs = append(errs, fmt.Errorf("window %d: want 1..%d", c.Window, maxWindow))
	}
	if c.Horizon < 1 {
		errs = append(errs, fmt.Errorf("horizon %d: want ≥ 1", c.Horizon))
	}
	if c.Hidden < 1 || c.Hidden > maxHidden {
		errs = append(errs, fmt.Errorf("hidden %d: want 1..%d", c.Hidden, maxHidden))
	}
	if c.Layers < 1 || c.Layers > maxLayers {
		errs = append(errs, fmt.Errorf("layers %d: want 1..%d", c.Layers, maxLayers))
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		errs = append(errs, fmt.Errorf("dropout %v: want 0 ≤ dropout < 1", c.Dropout))
	}
	if c.Step < 0 || c.Step%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("step %v: want 0 (unknown) or whole milliseconds", c.Step))
	}
	return errs
}

// CheckSizes reports the mistakes New would find in c's sizes before its
// features are known (a command checks its flags before it reads the
// history they come from): the window, horizon, hidden size, layers,
// dropout and step (zero values: New's defaults), and the parameter
// limit, for one feature, the fewest a model has. New checks the rest.
func (c Config) CheckSizes() error {
	c.setDefaults()
	if err := errors.Join(c.sizeErrors()...); err != nil {
		return fmt.Errorf("model config: %w", err)
	}
	if n := paramCount(1, c.Hidden, c.Layers); n > maxParams {
		return fmt.Errorf("model config: %d parameters with one feature: more than the limit %d", n, maxParams)
	}
	return nil
}

// tensorInfo locates one named parameter tensor in the flat weight vector.
type tensorInfo struct {
	name  string
	shape []int
	off   int
	size  int
}

// layerParams are views into the flat weight (or gradient) vector.
// Gate order within the 4H columns is input, forget, cell (g), output.
type layerParams struct {
	in     int
	wx, wh []float32 // in×4H and H×4H, row-major
	b      []float32 // 4H
}

type params struct {
	layers []layerParams
	wf, bf []float32 // H×F, F
	wp, bp []float32 // H (H×1), 1
}

func paramCount(f, h, layers int) int {
	n := 0
	in := f
	for range layers {
		n += in*4*h + h*4*h + 4*h
		in = h
	}
	return n + h*f + f + h + 1
}

func layout(f, h, layers int) []tensorInfo {
	var ts []tensorInfo
	off := 0
	add := func(name string, shape ...int) {
		size := 1
		for _, s := range shape {
			size *= s
		}
		ts = append(ts, tensorInfo{name: name, shape: shape, off: off, size: size})
		off += size
	}
	in := f
	for l := range layers {
		add(fmt.Sprintf("lstm.%d.wx", l), in, 4*h)
		add(fmt.Sprintf("lstm.%d.wh", l), h, 4*h)
		add(fmt.Sprintf("lstm.%d.b", l), 4*h)
		in = h
	}
	add("forecast.w", h, f)
	add("forecast.b", f)
	add("fail.w", h, 1)
	add("fail.b", 1)
	return ts
}

// view slices a flat vector laid out by layout into params.
func view(flat []float32, f, h, layers int) params {
	ts := layout(f, h, layers)
	get := func(i int) []float32 { return flat[ts[i].off : ts[i].off+ts[i].size : ts[i].off+ts[i].size] }
	var p params
	in := f
	for l := range layers {
		p.layers = append(p.layers, layerParams{in: in, wx: get(3 * l), wh: get(3*l + 1), b: get(3*l + 2)})
		in = h
	}
	k := 3 * layers
	p.wf, p.bf, p.wp, p.bp = get(k), get(k+1), get(k+2), get(k+3)
	return p
}

// Thresholds are the decision thresholds carried in the model file.
type Thresholds struct {
	// Failure is the probability at or above which a prediction alerts.
	Failure float64 `json:"failure"`
	// Critical is the probability from which an alert is critical
	// rather than warning, chosen on validation with the failure
	// threshold (CriticalProbability); the daemon follows it unless
	// alerting.critical_probability is set. 0 (none) in files written
	// before it was recorded, and for a model that never alerts.
	Critical float64 `json:"critical,omitempty"`
	// Anomaly is the anomaly score at or above which a residual alerts.
	Anomaly float64 `json:"anomaly"`
	// Method says how the thresholds were chosen (e.g. "f1-max on val").
	Method string `json:"method"`
}

// Meta is descriptive metadata carried in the model file.
type Meta struct {
	Version   string            `json:"version"`
	CreatedAt time.Time         `json:"created_at"`
	TrainedOn string            `json:"trained_on"`
	Epochs    int               `json:"epochs"`
	TrainLoss float64           `json:"train_loss"`
	ValLoss   float64           `json:"val_loss"`
	ValScore  float64           `json:"val_score"`
	Extra     map[string]string `json:"extra,omitempty"`
}

// Model is a trained or freshly initialised LSTM forecaster. See the package
// documentation for its concurrency contract.
type Model struct {
	cfg        Config
	nf, h      int
	w          []float32 // all parameters, laid out by layout
	p          params
	mean, std  []float32
	invStd     []float32
	thresholds Thresholds
	meta       Meta
	threads    int
	ichunk     int // windows per inference chunk
	pool       scratchPool
	// members are further networks of an ensemble (NewEnsemble): Predict,
	// Forecast, AnomalyScores and the streaming steps average over this
	// model's network and theirs. Immutable after NewEnsemble.
	members []*Model
}

// NewEnsemble returns a model whose outputs are the mean over the networks
// of ms (each trained on the same features, window and horizon, e.g. from
// different seeds): probabilities and forecasts are averaged, which cuts
// the run-to-run spread of a single network. The result is a copy of
// ms[0] (thresholds, metadata, normalisation) holding the others as
// members; ms must not be changed afterwards. It saves and loads as one
// model file (format version 2, which builds before ensembles cannot
// read). Every call runs every network: scoring and explanations cost the
// number of members times a single network's.
func NewEnsemble(ms ...*Model) (*Model, error) {
	if len(ms) == 0 || ms[0] == nil {
		return nil, errors.New("ensemble: no models")
	}
	base := ms[0]
	for i, o := range ms {
		if o == nil || len(o.members) > 0 {
			return nil, fmt.Errorf("ensemble: model %d is nil or already an ensemble", i)
		}
		if !slices.Equal(o.cfg.Features, base.cfg.Features) || o.cfg.Window != base.cfg.Window || o.cfg.Horizon != base.cfg.Horizon || o.cfg.Step != base.cfg.Step {
			return nil, fmt.Errorf("ensemble: model %d has features %v, window %d, horizon %d, step %v; model 0 has %v, %d, %d, %v",
				i, o.cfg.Features, o.cfg.Window, o.cfg.Horizon, o.cfg.Step, base.cfg.Features, base.cfg.Window, base.cfg.Horizon, base.cfg.Step)
		}
	}
	b, err := base.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("ensemble: %w", err)
	}
	e, err := Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("ensemble: %w", err)
	}
	e.members = slices.Clone(ms[1:])
	return e, nil
}

// Members is the number of networks the model averages (1 unless it was
// made by NewEnsemble).
func (m *Model) Members() int { return 1 + len(m.members) }

// New returns a model with the architecture cfg (defaults filled in) and
// weights drawn at random from cfg.Seed: LSTM and head weights uniform in
// ±1/√H, zero biases except the forget gates (1). Normalisation starts as the
// identity (mean 0, std 1).
func New(cfg Config) (*Model, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	cfg.Features = slices.Clone(cfg.Features)
	m := newEmpty(cfg)
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6f6d656e))
	k := float32(1 / math.Sqrt(float64(m.h)))
	for i := range m.w {
		m.w[i] = (2*rng.Float32() - 1) * k
	}
	for _, lp := range m.p.layers {
		for j := range lp.b {
			lp.b[j] = 0
			if j >= m.h && j < 2*m.h {
				lp.b[j] = 1
			}
		}
	}
	clear(m.p.bf)
	clear(m.p.bp)
	return m, nil
}

// newEmpty allocates a model with zero weights and identity normalisation;
// cfg must be valid.
func newEmpty(cfg Config) *Model {
	f := len(cfg.Features)
	m := &Model{cfg: cfg, nf: f, h: cfg.Hidden}
	m.w = make([]float32, paramCount(f, cfg.Hidden, cfg.Layers))
	m.p = view(m.w, f, cfg.Hidden, cfg.Layers)
	m.mean = make([]float32, f)
	m.std = make([]float32, f)
	m.invStd = make([]float32, f)
	for i := range m.std {
		m.std[i], m.invStd[i] = 1, 1
	}
	m.ichunk = m.chunkFor(inferChunk)
	m.pool.init(m)
	return m
}

// Config returns the model's architecture (a copy).
func (m *Model) Config() Config {
	c := m.cfg
	c.Features = slices.Clone(c.Features)
	return c
}

// NumParams is the number of trainable parameters.
func (m *Model) NumParams() int { return len(m.w) }

// Weights returns a copy of all trainable parameters (NumParams values, in
// the model's internal order), e.g. to average the weights of several
// epochs.
func (m *Model) Weights() []float32 { return slices.Clone(m.w) }

// SetWeights replaces all trainable parameters by w (as Weights returns
// them; copied). It must not run concurrently with any other method.
func (m *Model) SetWeights(w []float32) error {
	if len(w) != len(m.w) {
		return fmt.Errorf("set weights: %d values for %d parameters", len(w), len(m.w))
	}
	copy(m.w, w)
	return nil
}

// SetParallelism sets how many goroutines a batch call (Predict, Forecast,
// AnomalyScores, Trainer.Step) may use; n ≤ 0 means runtime.GOMAXPROCS(0).
// An ensemble passes the setting on to its members. Results do not depend
// on it: the fast engine's training gives the same weights bit for bit
// with any parallelism (see gradGroups).
func (m *Model) SetParallelism(n int) {
	m.threads = n
	for _, mem := range m.members {
		mem.threads = n
	}
}

func (m *Model) parallelism() int {
	if m.threads > 0 {
		return m.threads
	}
	return runtime.GOMAXPROCS(0)
}

// SetNormalization sets the per-feature mean and standard deviation the
// model normalises its inputs with. Both must have one finite value per
// feature and every std must be ≥ 1e-6.
func (m *Model) SetNormalization(mean, std []float32) error {
	if len(mean) != m.nf || len(std) != m.nf {
		return fmt.Errorf("normalization: need %d means and stds, have %d and %d", m.nf, len(mean), len(std))
	}
	for i := range mean {
		mu, s := float64(mean[i]), float64(std[i])
		if math.IsNaN(mu) || math.IsInf(mu, 0) {
			return fmt.Errorf("normalization: mean of %q is %v", m.cfg.Features[i], mu)
		}
		if math.IsNaN(s) || math.IsInf(s, 0) || s < stdFloor {
			return fmt.Errorf("normalization: std of %q is %v, want finite ≥ %g", m.cfg.Features[i], s, stdFloor)
		}
	}
	copy(m.mean, mean)
	copy(m.std, std)
	for i, s := range std {
		m.invStd[i] = 1 / s
	}
	return nil
}

// Normalization returns copies of the per-feature mean and std.
func (m *Model) Normalization() (mean, std []float32) {
	return slices.Clone(m.mean), slices.Clone(m.std)
}

// FitNormalization computes the per-feature mean and std of n windows x
// (laid out as for Predict), ignoring NaNs, and sets them. A feature with no
// finite value gets mean 0; one whose std is below 1e-6 gets std 1. The
// variance takes two passes in float64 (the mean, then the corrected sum of
// squared deviations): the one-pass E[x²] − E[x]² cancels catastrophically
// for a feature that is large relative to its spread (a constant 5e7 came
// out with std 102.8).
func (m *Model) FitNormalization(x []float32, n int) error {
	if err := m.checkX(x, n); err != nil {
		return err
	}
	f := m.nf
	rows := n * m.cfg.Window
	sum := make([]float64, f)
	cnt := make([]float64, f)
	for r := range rows {
		for j, v := range x[r*f : r*f+f] {
			if v == v && !math.IsInf(float64(v), 0) {
				sum[j] += float64(v)
				cnt[j]++
			}
		}
	}
	mu := make([]float64, f)
	for j := range f {
		if cnt[j] > 0 {
			mu[j] = sum[j] / cnt[j]
		}
	}
	dev := make([]float64, f) // Σ(v−μ), rounding residue for the correction
	sq := make([]float64, f)  // Σ(v−μ)²
	for r := range rows {
		for j, v := range x[r*f : r*f+f] {
			if v == v && !math.IsInf(float64(v), 0) {
				d := float64(v) - mu[j]
				dev[j] += d
				sq[j] += d * d
			}
		}
	}
	mean := make([]float32, f)
	std := make([]float32, f)
	for j := range f {
		if cnt[j] == 0 {
			std[j] = 1
			continue
		}
		v := (sq[j] - dev[j]*dev[j]/cnt[j]) / cnt[j]
		s := math.Sqrt(math.Max(v, 0))
		if s < stdFloor {
			s = 1
		}
		mean[j], std[j] = float32(mu[j]), float32(s)
	}
	return m.SetNormalization(mean, std)
}

// ShiftFailureLogit adds d to the failure head's output bias: every
// P(failure) p becomes σ(logit(p) + d), its odds multiplied by e^d, and
// the order of the windows' probabilities stays. Training with positive
// examples weighted w (TrainOptions.PosWeight) multiplies the odds of the
// weighted likelihood's optimum by w; ShiftFailureLogit(−ln w) undoes
// that (a prior correction), so that the output is a probability again.
// The thresholds are left as they are. It refuses an ensemble (shift the
// members before NewEnsemble) and a d that is not finite.
func (m *Model) ShiftFailureLogit(d float64) error {
	if len(m.members) > 0 {
		return errors.New("shift failure logit: the model is an ensemble: shift its members before NewEnsemble")
	}
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return fmt.Errorf("shift failure logit: %v, want a finite shift", d)
	}
	m.p.bp[0] = float32(float64(m.p.bp[0]) + d)
	return nil
}

// Thresholds returns the decision thresholds.
func (m *Model) Thresholds() Thresholds { return m.thresholds }

// SetThresholds sets the decision thresholds.
func (m *Model) SetThresholds(t Thresholds) { m.thresholds = t }

// Meta returns the metadata (Extra is a copy).
func (m *Model) Meta() Meta {
	mt := m.meta
	if mt.Extra != nil {
		mt.Extra = make(map[string]string, len(m.meta.Extra))
		for k, v := range m.meta.Extra {
			mt.Extra[k] = v
		}
	}
	return mt
}

// SetMeta sets the metadata.
func (m *Model) SetMeta(mt Meta) {
	if mt.Extra != nil {
		e := make(map[string]string, len(mt.Extra))
		for k, v := range mt.Extra {
			e[k] = v
		}
		mt.Extra = e
	}
	m.meta = mt
}

// CheckFeatures returns nil if names, the features in use (a daemon's
// configured ones, a store's schema), equals the model's feature list, in
// order, and otherwise an error listing the model's features missing from
// names, the names the model lacks, or the first out of order.
func (m *Model) CheckFeatures(names []string) error {
	if slices.Equal(names, m.cfg.Features) {
		return nil
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	want := make(map[string]bool, len(m.cfg.Features))
	for _, n := range m.cfg.Features {
		want[n] = true
	}
	var missing, extra []string
	for _, n := range m.cfg.Features {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	for _, n := range names {
		if !want[n] {
			extra = append(extra, n)
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "the model's features missing from those in use: "+quoteList(missing))
	}
	if len(extra) > 0 {
		parts = append(parts, "features in use the model lacks: "+quoteList(extra))
	}
	if len(missing) == 0 && len(extra) == 0 {
		for i := range names {
			if i < len(m.cfg.Features) && names[i] != m.cfg.Features[i] {
				parts = append(parts, fmt.Sprintf("order differs from position %d: in use %q, the model's %q", i, names[i], m.cfg.Features[i]))
				break
			}
		}
		if len(parts) == 0 {
			parts = append(parts, fmt.Sprintf("%d features in use (with duplicates), the model's %d", len(names), len(m.cfg.Features)))
		}
	}
	return fmt.Errorf("feature mismatch with model (%d features): %s", len(m.cfg.Features), strings.Join(parts, "; "))
}

// CheckStep returns nil when the model may score data sampled every step:
// when it was trained at that step, or its step is unknown (0). Otherwise
// its Window and Horizon, counted in steps, would span other durations
// than it learned (a 10-step horizon learned at 30s is 5 minutes; scored
// at 15s it would be read as 2.5), and the error says so.
func (m *Model) CheckStep(step time.Duration) error {
	if m.cfg.Step == 0 || m.cfg.Step == step {
		return nil
	}
	return fmt.Errorf("step mismatch with model: trained at a step of %v, not %v (its window of %d steps and horizon of %d would last %v and %v instead of %v and %v)",
		m.cfg.Step, step, m.cfg.Window, m.cfg.Horizon,
		time.Duration(m.cfg.Window)*step, time.Duration(m.cfg.Horizon)*step,
		time.Duration(m.cfg.Window)*m.cfg.Step, time.Duration(m.cfg.Horizon)*m.cfg.Step)
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, " ") + "]"
}

func (m *Model) checkX(x []float32, n int) error {
	if n < 0 {
		return fmt.Errorf("window count %d is negative", n)
	}
	if want := n * m.cfg.Window * m.nf; len(x) != want {
		return fmt.Errorf("input: %d windows of %d×%d need %d values, have %d", n, m.cfg.Window, m.nf, want, len(x))
	}
	return nil
}
