package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/mapshrink"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/registry"
	"github.com/omen-sre/omen/store"
)

type scorerOptions struct {
	Store  *store.Store
	Config *config.Config
	// Features returns the feature names in use (they change with a
	// configuration reload); default: those of Config.
	Features func() []string
	// Instant returns, for the PromQL features among Features (the first
	// ones), which are instant features (features.Config.InstantFeatures):
	// a stored vector with none of them is an absent entity's, kept for
	// its failure label (dropAbsent), and is left out of the windows
	// filled from the store as the live path leaves it out; default: those
	// of Config.
	Instant    func() []bool
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// prediction is one scored entity at one step, with the window it was
// computed from (kept for explanations).
type prediction struct {
	store.Prediction
	Labels  map[string]string
	Window  []float32 // W×F raw values, time-major
	Horizon time.Duration
	// Model is the model that scored it (version ModelVersion): an
	// explanation is computed with it, also after a promotion since.
	Model *model.Model
	// Failing: the entity's failure labels are set at the step (set by
	// the evaluator, markFailing).
	Failing bool
}

// scorer keeps the last W+1 feature vectors of every entity, scores the
// windows with the active model at each step, stores the predictions and
// exports them as metrics.
type scorer struct {
	opts   scorerOptions
	logger *slog.Logger

	// regMu serialises the registry's changes (registry.Daemon.Lock) and
	// the scorer's taking of reloaded features (featuresChanged), so that
	// a change checks and installs a model against the same features: a
	// reload waits for a change in progress, and a change for a reload.
	regMu sync.Mutex
	// testHook, when set (tests), is called at named steps of registry
	// changes.
	testHook func(step string)

	mu sync.RWMutex
	// features are the feature names models are checked against: those of
	// opts.Features when newScorer or featuresChanged (under regMu) last
	// read them, not those of a reload in progress.
	features []string
	model    *model.Model
	version  string
	sha      string // sha256 of version's data: a version is identified by both
	// refused is the registry's active version (modelKey) when it could
	// not be loaded (it does not decode or does not fit the features):
	// not retried, nor logged again, until another version is promoted or
	// the configuration is reloaded.
	refused string
	// refusedErr is why refused was refused (nil when refused is ""),
	// which the API and UI say while no model is loaded.
	refusedErr error
	step       time.Duration
	windows    map[string]*history
	latest     map[string]prediction
	// shown, shownVersion and shownSHA are the model whose predictions
	// latest holds, which the metrics export with them (its info and
	// threshold): after a promotion the previous model's, until the new
	// one's first step with vectors replaces latest as a whole, so that the
	// series neither go missing (a scrape between the promotion and that
	// step made Prometheus mark them stale, and its rules' alerts resolve)
	// nor mix models (a probability compared with another model's
	// threshold). nil exactly when model is.
	shown                  *model.Model
	shownVersion, shownSHA string
	// windowsPeak and latestPeak are the most entries windows and latest
	// held since they were made: predict rebuilds a map that shrank to a
	// quarter of its peak (mapshrink), which Go maps do not do on delete.
	windowsPeak, latestPeak mapshrink.Peak
	// fill is set when a model is installed with none before (a start) or
	// with a longer window than the one before: the next step with vectors
	// fills the entities' windows from the vectors in the store
	// (fillWindows), so that the model scores at once instead of W steps
	// later (each entity with W steps stored; one with fewer when its
	// window fills, with a warning).
	fill bool

	scored   prometheus.Counter
	duration prometheus.Histogram
}

// history is one entity's latest feature vectors: a ring of rows of nf
// float32 values in one allocation (not a slice per row: the scorer keeps
// W+1 rows of every entity, and a slice per row per step was both the
// larger part of its memory and an allocation per entity per step).
type history struct {
	labels map[string]string
	ring   []float32 // cap rows of nf values
	nf     int
	n      int // rows held, at most cap
	next   int // ring index of the next row written
	last   int64
}

// pushAt places v, the entity's vector at step t, on the step grid (step
// ms) as training does (storesource, training.MakeWindows): each step
// missing since the newest row is a row of NaN (missing, which the model
// takes as the feature's mean); with more than keep−1 steps missing
// (more than W: the window before was all NaN) the window starts afresh,
// and the entity is scored again once it holds keep rows; a second vector
// at the newest row's step replaces it.
func (h *history) pushAt(t, step int64, v []float64, keep int) {
	if h.n > 0 && step > 0 && len(v) > 0 {
		switch gap := (t - h.last + step/2) / step; {
		case gap <= 0:
			if len(v) == h.nf {
				c := len(h.ring) / h.nf
				h.n--
				h.next = (h.next - 1 + c) % c
			}
		case gap > int64(keep):
			h.n = 0
		default:
			nan := float32(math.NaN())
			for range gap - 1 {
				dst := h.slot(len(v), keep)
				for i := range dst {
					dst[i] = nan
				}
			}
		}
	}
	h.push(v, keep)
	h.last = t
}

// push appends a row, dropping the oldest beyond keep rows.
func (h *history) push(v []float64, keep int) {
	dst := h.slot(len(v), keep)
	for i, x := range v {
		dst[i] = float32(x)
	}
}

// slot appends a row of nf values (nil when nf is 0: none), dropping the
// oldest beyond keep rows, and returns it to be written.
func (h *history) slot(nf, keep int) []float32 {
	if nf == 0 {
		return nil
	}
	if nf != h.nf || len(h.ring) != keep*nf {
		// A new feature count (a reloaded configuration) or window (a new
		// model): keep the rows that still fit.
		ring := make([]float32, keep*nf)
		n := 0
		if nf == h.nf {
			n = min(h.n, keep-1)
			for k := range n {
				copy(ring[k*nf:(k+1)*nf], h.row(h.n-n+k))
			}
		}
		h.ring, h.nf, h.n, h.next = ring, nf, n, n%keep
	}
	dst := h.ring[h.next*nf : (h.next+1)*nf]
	h.next = (h.next + 1) % keep
	h.n = min(h.n+1, keep)
	return dst
}

// row returns the k-th held row, oldest first (k < n).
func (h *history) row(k int) []float32 {
	c := len(h.ring) / h.nf
	i := (h.next - h.n + k + c) % c
	return h.ring[i*h.nf : (i+1)*h.nf]
}

// relayout rearranges the rows for a new feature layout: column j of the
// result is column from[j] of the rows, or NaN (missing, which the model
// takes as the feature's mean) where from[j] < 0.
func (h *history) relayout(from []int) {
	if h.n == 0 || h.nf == 0 {
		h.ring, h.nf, h.n, h.next = nil, 0, 0, 0
		return
	}
	keep := len(h.ring) / h.nf
	nf := len(from)
	ring := make([]float32, keep*nf)
	nan := float32(math.NaN())
	for k := range h.n {
		src, dst := h.row(k), ring[k*nf:(k+1)*nf]
		for j, i := range from {
			if i < 0 {
				dst[j] = nan
			} else {
				dst[j] = src[i]
			}
		}
	}
	h.ring, h.nf, h.next = ring, nf, h.n%keep
}

func newScorer(o scorerOptions) (*scorer, error) {
	if o.Features == nil {
		names := features.Names(o.Config.Config)
		o.Features = func() []string { return names }
	}
	if o.Instant == nil {
		instant := o.Config.InstantFeatures()
		o.Instant = func() []bool { return instant }
	}
	s := &scorer{
		opts: o, logger: o.Logger,
		step:    time.Duration(o.Config.Step),
		windows: map[string]*history{},
		latest:  map[string]prediction{},
	}
	s.features = o.Features()
	f := promauto.With(o.Registerer)
	s.scored = f.NewCounter(prometheus.CounterOpts{
		Namespace: "omen", Name: "predictions_total", Help: "Entity windows scored by the model.",
	})
	s.duration = f.NewHistogram(prometheus.HistogramOpts{
		Namespace: "omen", Name: "scoring_duration_seconds", Help: "Time to score all entities at one step.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
	})
	o.Registerer.MustRegister(&predictionCollector{s: s, entityLabels: o.Config.EntityLabels})
	if err := s.reloadModel(); err != nil {
		s.logger.Warn("no usable model in the registry", "err", err)
	}
	if s.model == nil && o.Config.Model.File != "" {
		if err := s.loadFile(o.Config.Model.File); err != nil {
			return nil, err
		}
	}
	if s.model == nil {
		s.logger.Warn("no model: features are stored but nothing is scored until a model is trained (omen train) and promoted")
	}
	return s, nil
}

// loadFile registers a model file and promotes it when the registry has no
// active model.
func (s *scorer) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return modelFileReadError(path, err)
	}
	if _, err := (registryAdmin{st: s.opts.Store, s: s, source: path}).AddModel(context.Background(), data, api.AddOptions{Promote: true}); err != nil {
		return fmt.Errorf("load model %q: %w", path, err)
	}
	return nil
}

// presenceColumns returns the columns of feats whose value makes an
// entity present, as dropAbsent decides (features.PresenceMask; names
// are the features in use, the first len(instant) of them PromQL). nil:
// every row counts.
func presenceColumns(feats, names []string, instant []bool) []int {
	counts := make(map[string]bool, len(instant))
	for i, c := range features.PresenceMask(instant) {
		if i < len(names) {
			counts[names[i]] = c
		}
	}
	var cols []int
	for j, f := range feats {
		if counts[f] {
			cols = append(cols, j)
		}
	}
	return cols
}

// PresenceFeatures returns the features of cfg whose value makes an
// entity's vector a row of its window (dropAbsent, presenceColumns):
// features.Config.PresenceFeatures.
func PresenceFeatures(cfg *config.Config) []string { return cfg.PresenceFeatures() }

// hasValue reports whether row has a value (not NaN) in one of cols, or
// cols is nil.
func hasValue(row []float32, cols []int) bool {
	if cols == nil {
		return true
	}
	for _, j := range cols {
		if row[j] == row[j] {
			return true
		}
	}
	return false
}

// modelKey identifies a registered model: its version and data.
func modelKey(version, sha string) string { return version + "\x00" + sha }

// reloadModel loads the registry's active model when it changed.
func (s *scorer) reloadModel() error {
	meta, err := s.opts.Store.Active()
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read active model: %w", err)
	}
	key := modelKey(meta.Version, meta.SHA256)
	s.mu.RLock()
	same := key == modelKey(s.version, s.sha) || key == s.refused
	s.mu.RUnlock()
	if same {
		return nil
	}
	m, sha, err := s.readModel(meta.Version)
	if err != nil {
		if !errors.Is(err, registry.ErrUnusable) {
			return err // a read error: tried again at the next check
		}
		err = fmt.Errorf("%w (not retried until another model is promoted or the configuration is reloaded)", err)
		s.mu.Lock()
		if a, _ := s.opts.Store.ActiveVersion(); a == meta.Version {
			s.refused, s.refusedErr = key, err
		}
		s.mu.Unlock()
		return err
	}
	return s.install(meta.Version, sha, m)
}

// install puts m (version's model, of data sha256 sha, read and checked
// against the features and the step, which does not change while the
// daemon runs) in use, unless the registry's active version is
// no longer version (a promotion since, whose caller loads it) or m does
// not fit the features in use (they changed since m was checked: a
// reloadModel, which does not hold the registry lock, overtaken by
// featuresChanged): then m is refused as reloadModel refuses an unusable
// model.
func (s *scorer) install(version, sha string, m *model.Model) error {
	s.mu.Lock()
	if a, _ := s.opts.Store.ActiveVersion(); a != version {
		s.mu.Unlock()
		return nil
	}
	if version == s.version && sha == s.sha {
		s.mu.Unlock()
		return nil
	}
	if err := m.CheckFeatures(s.features); err != nil {
		err = fmt.Errorf("model %s does not fit the configured features: %w: %w (not retried until another model is promoted or the configuration is reloaded)", version, registry.ErrUnusable, err)
		s.refused, s.refusedErr = modelKey(version, sha), err
		s.mu.Unlock()
		return err
	}
	// The windows hold the rows the previous model needed: filled from
	// the store when the new one needs more. The previous model's
	// predictions stay exported, with its threshold, until the new one's
	// first step with vectors replaces them (predict).
	s.fill = s.fill || s.model == nil || m.Config().Window > s.model.Config().Window
	s.model, s.version, s.sha, s.refused, s.refusedErr = m, version, sha, "", nil
	if s.shown == nil || len(s.latest) == 0 {
		s.shown, s.shownVersion, s.shownSHA = m, version, sha
	}
	s.mu.Unlock()
	s.logger.Info("model loaded", "version", version, "window", m.Config().Window, "threshold", m.Thresholds().Failure)
	return nil
}

// readModel reads and decodes a registered version and checks it against
// the features in use; an unusable one wraps registry.ErrUnusable. sha is the
// sha256 (hex) of the data read.
func (s *scorer) readModel(version string) (m *model.Model, sha string, err error) {
	return readRegisteredModel(s.opts.Store, version, s.currentFeatures(), s.step)
}

// readActiveModel reads the registry's active model of st, as a start
// loads it (newScorer, reloadModel), and checks it against the features
// names and the step: an error (store.ErrNotFound when there is none)
// when a start would not load it and would read model.file instead.
func readActiveModel(st *store.Store, names []string, step time.Duration) error {
	meta, err := st.Active()
	if err != nil {
		return fmt.Errorf("read active model: %w", err)
	}
	_, _, err = readRegisteredModel(st, meta.Version, names, step)
	return err
}

// readRegisteredModel reads and decodes version's model from st and checks
// it against the features names and the step; an unusable one wraps
// registry.ErrUnusable. sha is the sha256 (hex) of the data read.
func readRegisteredModel(st *store.Store, version string, names []string, step time.Duration) (m *model.Model, sha string, err error) {
	data, meta, err := st.Model(version)
	if store.IsCorrupt(err) {
		// Damaged data: reading it again every few seconds gives the same
		// error (it was logged every 2 s for good). Refused until another
		// model is promoted.
		return nil, "", fmt.Errorf("read model %s: %w: %w; promote another version or roll back (omen model rollback)", version, registry.ErrUnusable, err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read model %s: %w", version, err)
	}
	m, err = model.Unmarshal(data)
	if err != nil {
		return nil, "", fmt.Errorf("load model %s: %w: %w", version, registry.ErrUnusable, err)
	}
	if err := m.CheckFeatures(names); err != nil {
		return nil, "", fmt.Errorf("model %s does not fit the configured features: %w: %w", version, registry.ErrUnusable, err)
	}
	if err := m.CheckStep(step); err != nil {
		return nil, "", fmt.Errorf("model %s does not fit the configured step: %w: %w", version, registry.ErrUnusable, err)
	}
	return m, meta.SHA256, nil
}

// use puts m in use as version, as reloadModel would after reading and
// checking it (readModel), without decoding it again: m was decoded from
// version's data, of sha256 sha, and checked against the features in use
// then. Its callers, registry changes, hold the registry lock, which
// featuresChanged waits for: the features have not changed since. When the registry's active version is no longer version
// (a concurrent promotion or rollback), reloadModel loads the active one
// instead.
func (s *scorer) use(version, sha string, m *model.Model) error {
	if a, _ := s.opts.Store.ActiveVersion(); a != version || m == nil {
		return s.reloadModel()
	}
	return s.install(version, sha, m)
}

// currentFeatures returns the feature names models are checked against
// (see scorer.features); the slice is not modified.
func (s *scorer) currentFeatures() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.features
}

// lockRegistry takes regMu (calling the test hook with "contended" when
// it has to wait); it returns the unlock.
func (s *scorer) lockRegistry() func() {
	if !s.regMu.TryLock() {
		if s.testHook != nil {
			s.testHook("contended")
		}
		s.regMu.Lock()
	}
	return s.regMu.Unlock
}

// featuresChanged takes the features of a configuration reload
// (opts.Features) and re-checks the loaded model: one that no longer fits
// is unloaded (scoring stops until a fitting model is promoted, rather
// than feeding the model other features than it was trained on), and a
// refused version is tried again. The caller holds the registry lock
// (lockRegistry): a registry change in progress completes against the
// features it checked (and the reload may then unload its model), so that
// a change refused as not fitting has not changed the registry, and a
// model in use was checked against the features in use. apply (nil:
// none) switches what is extracted (the extractor's new configuration):
// taken with the lock, the wait for a registry change happens before the
// switch, so the old model does not score vectors of the new features
// meanwhile. A reload takes the lock before its model.file decision
// (App.checkModelFile), which the registry's active model then cannot
// change before the switch.
func (s *scorer) featuresChanged(apply func()) {
	if apply != nil {
		apply()
	}
	s.mu.Lock()
	old := s.features
	s.features = s.opts.Features()
	s.refused, s.refusedErr = "", nil
	if !slices.Equal(old, s.features) {
		// The entities' windows hold rows of the old layout: each feature
		// keeps its column under its name, a new one is missing until
		// the following steps fill it.
		from := store.Columns(s.features, old)
		for _, h := range s.windows {
			h.relayout(from)
		}
	}
	if s.model != nil {
		if err := s.model.CheckFeatures(s.features); err != nil {
			s.logger.Error("the active model does not fit the reloaded features: nothing is scored until a fitting model is promoted (omen train, omen model promote)",
				"version", s.version, "err", err)
			s.refused = modelKey(s.version, s.sha)
			s.refusedErr = fmt.Errorf("model %s does not fit the reloaded features: %w: %w", s.version, registry.ErrUnusable, err)
			s.model, s.version, s.sha = nil, "", ""
			s.shown, s.shownVersion, s.shownSHA = nil, "", ""
			clear(s.latest)
		}
	}
	s.mu.Unlock()
	if err := s.reloadModel(); err != nil {
		s.logger.Error("load promoted model", "err", err)
	}
}

// latestPrediction returns the entity's latest prediction with a copy
// of the window it scored; ok is false when the entity has none or when
// it has received a vector since (its window is no longer held). The
// window is that of the model that scored it (p.Model), also after
// another was promoted or rolled back to: latest holds the previous
// model's predictions until the new one's first step, and until then
// they are explained with the model that made them.
func (s *scorer) latestPrediction(entity string) (p prediction, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok = s.latest[entity]
	h := s.windows[entity]
	if !ok || h == nil || h.last != p.T || p.Model == nil {
		// No prediction, or a newer vector since.
		return prediction{}, false
	}
	cfg := p.Model.Config()
	w := cfg.Window
	if h.n < w || h.nf != len(cfg.Features) {
		// The ring no longer holds the window scored (refilled for a
		// model of other features).
		return prediction{}, false
	}
	p.Window = make([]float32, 0, w*h.nf)
	for k := h.n - w; k < h.n; k++ {
		p.Window = append(p.Window, h.row(k)...)
	}
	return p, true
}

// filling reports whether entity's window is filling for the active
// model: the entity is live (its window is held) but not scored yet,
// holding held of the need rows the model scores from (a new entity,
// one back after a gap, or every entity after a model with a longer
// window or other features was promoted). Safe for concurrent use.
func (s *scorer) filling(entity string) (held, need int, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := s.windows[entity]
	if s.model == nil || h == nil {
		return 0, 0, false
	}
	cfg := s.model.Config()
	need, held = cfg.Window+1, h.n
	if h.nf != len(cfg.Features) {
		held = 0 // refilled with the model's features from the next vector
	}
	if held >= need {
		return 0, 0, false
	}
	return held, need, true
}

// Model returns the active model and its version (nil when none).
func (s *scorer) Model() (*model.Model, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.model, s.version
}

// noModel is the error of a request that needs a model while none is
// loaded (api.ErrUnavailable), with why when the promoted one was refused.
func (s *scorer) noModel() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &api.NoModelError{Reason: s.refusedErr}
}

// score appends the step's vectors to each entity's history and scores
// every entity with a full window. unscored are the step's vectors of
// the entities a loaded model did not score: their window is still
// filling, or scoring failed (err); with no model there are none (no
// prediction is coming). err is a scoring or storing failure (the
// predictions are returned also when only storing them failed).
func (s *scorer) score(ctx context.Context, t int64, vs []features.Vector) (preds []prediction, unscored []features.Vector, err error) {
	if len(vs) > 0 {
		s.fillWindows(ctx, t)
	}
	start := time.Now()
	preds, recs, unscored, err := s.predict(t, vs)
	if err != nil {
		return nil, unscored, err
	}
	if len(recs) == 0 {
		return preds, unscored, nil
	}
	s.scored.Add(float64(len(preds)))
	// Stored outside the lock: a slow disk does not hold up the readers
	// of the predictions (the metrics, explanations, model changes).
	err = s.opts.Store.PutPredictions(recs)
	s.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		return preds, unscored, fmt.Errorf("store predictions: %w", err)
	}
	return preds, unscored, nil
}

// predict is score under s.mu, but for storing the predictions recs.
func (s *scorer) predict(t int64, vs []features.Vector) (out []prediction, recs []store.Prediction, unscored []features.Vector, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := 0
	if s.model != nil {
		w = s.model.Config().Window
	}
	keep := w + 1
	if keep < 2 {
		keep = 2
	}
	for _, v := range vs {
		h := s.windows[v.Entity]
		if h == nil {
			h = &history{labels: v.Labels}
			s.windows[v.Entity] = h
		}
		h.pushAt(t, s.step.Milliseconds(), v.Values, keep)
	}
	// An entity's exported prediction goes at the step its alert resolves
	// for want of predictions (the alert.DefaultMissingSteps+1-th without
	// a vector): rules on omen_failure_probability would otherwise keep
	// firing on a vanished pod long after omen resolved its alert.
	// Entities silent for longer than the window are gone: their windows
	// are dropped too (pushAt would start them afresh).
	gone := t - int64(alert.DefaultMissingSteps+1)*s.step.Milliseconds()
	stale := t - int64(keep)*s.step.Milliseconds()
	s.windowsPeak.Note(len(s.windows))
	s.latestPeak.Note(len(s.latest))
	for id, h := range s.windows {
		if h.last < stale {
			delete(s.windows, id)
		}
	}
	// Apart from the windows: a window of W+1 < 4 rows goes first (it
	// kept a 1-step model's prediction exported for good).
	for id, p := range s.latest {
		if h := s.windows[id]; p.T <= gone && (h == nil || h.last <= gone) {
			delete(s.latest, id)
		}
	}
	// After a churn (pods that came and went) the maps would keep the
	// buckets of their largest population: rebuilt once they shrank to a
	// quarter of it (also latest after a model change cleared it).
	s.windows = mapshrink.Compact(s.windows, &s.windowsPeak)
	s.latest = mapshrink.Compact(s.latest, &s.latestPeak)
	if s.model == nil {
		return nil, nil, nil, nil
	}
	if s.shown != s.model && len(vs) > 0 {
		// The model's first step with vectors since it was installed:
		// its predictions replace the previous model's as a whole. An
		// entity it does not score this step (its window fills) is
		// exported again at its first prediction, not with the previous
		// model's last one meanwhile.
		clear(s.latest)
		s.shown, s.shownVersion, s.shownSHA = s.model, s.version, s.sha
	}
	cfg := s.model.Config()
	nf := len(cfg.Features)
	var ids []string
	for _, v := range vs {
		if h := s.windows[v.Entity]; h.n >= w+1 && h.nf == nf {
			ids = append(ids, v.Entity)
		} else {
			unscored = append(unscored, v)
		}
	}
	if len(ids) == 0 {
		return nil, nil, unscored, nil
	}
	sort.Strings(ids)
	ids = slices.Compact(ids) // an entity twice in vs is scored once
	n := len(ids)
	cur := make([]float32, n*w*nf)  // windows ending at t
	prev := make([]float32, n*w*nf) // windows ending at t-1
	next := make([]float32, n*nf)   // the vector at t
	for i, id := range ids {
		h := s.windows[id]
		off := h.n - w - 1
		for k := 0; k < w; k++ {
			copy(prev[(i*w+k)*nf:], h.row(off+k))
			copy(cur[(i*w+k)*nf:], h.row(off+k+1))
		}
		copy(next[i*nf:], h.row(off+w))
	}
	prob := make([]float64, n)
	anom := make([]float64, n)
	if err := s.model.Predict(cur, n, prob); err != nil {
		return nil, nil, vs, fmt.Errorf("score windows: %w", err)
	}
	if err := s.model.AnomalyScores(prev, next, n, anom, nil); err != nil {
		return nil, nil, vs, fmt.Errorf("anomaly scores: %w", err)
	}
	th := s.model.Thresholds()
	out = make([]prediction, n)
	recs = make([]store.Prediction, n)
	for i, id := range ids {
		p := prediction{
			Prediction: store.Prediction{
				ID: predictionID(id, t), Entity: id, T: t, Prob: prob[i], Anomaly: anom[i],
				ModelVersion: s.version, Threshold: th.Failure,
			},
			Labels:  s.windows[id].labels,
			Window:  cur[i*w*nf : (i+1)*w*nf],
			Horizon: time.Duration(cfg.Horizon) * s.step,
			Model:   s.model,
		}
		if math.IsNaN(p.Prob) {
			p.Prob = 0
		}
		out[i], recs[i] = p, p.Prediction
		// The latest prediction without its window: latestPrediction
		// copies it from the entity's ring, which holds it until the
		// entity's next vector (keeping the window here kept the whole
		// step's batch alive, W×F float32 per entity).
		p.Window = nil
		s.latest[id] = p
	}
	return out, recs, unscored, nil
}

// fillWindows fills the entities' windows from the store when a model was
// installed since the last step (s.fill): each entity with vectors before
// t gets the rows its live window would hold (storedWindows: on the step
// grid, back to where it would have started afresh; the step's own vector
// comes next), their features mapped by name to the features
// in use (a feature the stored vectors lack is missing, NaN). The store
// is read without s.mu; the windows are replaced only if the model and
// the features are still those read for (else the next step tries
// again). A read error or ctx ending leaves the windows to fill from the
// live vectors. It logs how many windows are full: a warning when the
// store holds less history than the model's window for some entities
// (they are scored once their windows fill from the live vectors).
func (s *scorer) fillWindows(ctx context.Context, t int64) {
	s.mu.RLock()
	fill, m, feats := s.fill && s.model != nil, s.model, s.features
	s.mu.RUnlock()
	if !fill {
		return
	}
	start := time.Now()
	w := m.Config().Window
	rings, err := s.storedWindows(ctx, t, w, feats)
	if err != nil {
		s.logger.Warn("fill the windows from the store: the entities are scored once their windows are full", "err", err)
		rings = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.model != m || !slices.Equal(s.features, feats) {
		return
	}
	s.fill = false
	step := s.step.Milliseconds()
	// A window is full when, with the step's vector (and a row of NaN
	// for each step missed since the newest stored one: pushAt), it holds
	// the W+1 rows predict scores.
	full, shortest, wait := 0, w+1, 0
	for id, r := range rings {
		h := s.windows[id]
		if h == nil {
			h = &history{labels: r.labels}
			s.windows[id] = h
		}
		h.ring, h.nf, h.n, h.next, h.last = r.ring, len(feats), r.n, r.n%(w+1), r.last
		rows := r.n + max(int((t-r.last+step/2)/step), 0)
		if rows >= w+1 {
			full++
			continue
		}
		shortest, wait = min(shortest, rows), max(wait, w+1-rows)
	}
	switch {
	case len(rings) == 0:
	case full == len(rings):
		s.logger.Info("windows filled from the store", "entities", len(rings), "window", w, "duration", time.Since(start))
	default:
		// The model's window is longer than the history stored (a model
		// promoted soon after the daemon's first start, or one with a
		// longer window): those entities are unscored, and have no
		// omen_failure_probability series, until their windows fill.
		s.logger.Warn("the store holds less history than the model's window: entities without a full window are not scored until it fills",
			"entities", len(rings), "full_windows", full, "window", w, "steps_needed", w+1,
			"shortest_history_steps", shortest, "steps_until_all_scored", wait, "duration", time.Since(start))
	}
}

// storedWindow is an entity's window filled from the store.
type storedWindow struct {
	labels map[string]string
	ring   []float32 // (w+1)×nf, the first n rows filled, oldest first
	n      int
	last   int64 // T of the newest row, ms
}

// appendRows appends to rows (l.nf each) and times entity's vectors of
// from ≤ T ≤ to that the scorer puts in a window, in the layout l: not
// one of a layout not recorded, nor an absent entity's (none of present
// has a value, presenceColumns), stored for its failure label, not scored
// live. failing, when not nil, is called with the time of each vector
// carrying a failure label, absent ones too.
func (l *vectorLayout) appendRows(st *store.Store, entity string, from, to int64, present []int, rows []float32, times []int64, failing func(t int64)) ([]float32, []int64, error) {
	nf := l.nf
	err := st.Vectors(entity, from, to, func(v store.Vector) error {
		if failing != nil && slices.Contains(v.Failure, true) {
			failing(v.T)
		}
		rows = slices.Grow(rows, nf)[:len(rows)+nf]
		if !l.row(v, rows[len(rows)-nf:]) || !hasValue(rows[len(rows)-nf:], present) {
			rows = rows[:len(rows)-nf]
			return nil
		}
		times = append(times, v.T)
		return nil
	})
	if err != nil {
		return rows, times, fmt.Errorf("read vectors of %q: %w", entity, err)
	}
	return rows, times, nil
}

// storedWindows reads, for each entity seen before t, the rows its live
// window would hold at t before the step's vector (pushAt): its stored
// vectors on the step grid, the newest W+1 steps up to its newest vector,
// a step without one a row of NaN, back to where the window would have
// started afresh (more than W steps missing), in the layout of feats. An
// entity whose newest vector is more than W+1 steps before t has none
// (its window would start afresh at t).
func (s *scorer) storedWindows(ctx context.Context, t int64, w int, feats []string) (map[string]storedWindow, error) {
	layout, err := newVectorLayout(s.opts.Store, feats)
	if err != nil {
		return nil, err
	}
	ents, err := s.opts.Store.Entities()
	if err != nil {
		return nil, fmt.Errorf("list entities: %w", err)
	}
	step := s.step.Milliseconds()
	keep := w + 1
	// The window's rows lie within keep steps of the newest vector, at
	// most keep steps before t; the vector before them decides whether
	// the window started afresh at the oldest, up to keep steps earlier.
	from := t - 3*int64(keep)*step
	nf := len(feats)
	present := presenceColumns(feats, s.opts.Features(), s.opts.Instant())
	steps := func(a, b int64) int64 { return (b - a + step/2) / step } // as pushAt
	out := map[string]storedWindow{}
	var buf []float32 // rows read, nf each
	var times []int64
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// LastSeen is rewritten every entityRefresh only.
		if e.LastSeen < from-entityRefresh.Milliseconds() {
			continue
		}
		buf, times, err = layout.appendRows(s.opts.Store, e.ID, from, t-1, present, buf[:0], times[:0], nil)
		if err != nil {
			return nil, err
		}
		n := len(times)
		if n == 0 || steps(times[n-1], t) > int64(keep) {
			continue
		}
		last := times[n-1]
		// k: the oldest vector within the window's rows.
		k := n - 1
		for k > 0 && steps(times[k-1], last) < int64(keep) {
			k--
		}
		rows := keep // the window went on from before its rows
		if k == 0 || steps(times[k-1], times[k]) > int64(keep) {
			rows = int(steps(times[k], last)) + 1 // it started afresh at times[k]
		}
		ring := make([]float32, keep*nf)
		nan := float32(math.NaN())
		for i := range ring[:rows*nf] {
			ring[i] = nan
		}
		for j := k; j < n; j++ {
			r := rows - 1 - int(steps(times[j], last))
			if r >= 0 && r < rows {
				copy(ring[r*nf:(r+1)*nf], buf[j*nf:(j+1)*nf])
			}
		}
		out[e.ID] = storedWindow{labels: e.Labels, ring: ring, n: rows, last: last}
	}
	return out, nil
}

// predictionID is stable for an entity and step.
func predictionID(entity string, t int64) string {
	return fmt.Sprintf("%s@%d", entity, t)
}

// predictionCollector exports the latest prediction of every live entity
// as omen_failure_probability and omen_anomaly_score; entities that
// disappear disappear from the exposition.
type predictionCollector struct {
	s            *scorer
	entityLabels []string
}

func (c *predictionCollector) descs() (*prometheus.Desc, *prometheus.Desc) {
	return prometheus.NewDesc("omen_failure_probability",
			"Predicted probability of a module-load failure within the model's horizon.", c.entityLabels, nil),
		prometheus.NewDesc("omen_anomaly_score",
			"Forecast-residual anomaly score of the entity's latest step.", c.entityLabels, nil)
}

// modelDescs describe whether a model is loaded, which, and the failure
// threshold it alerts at: without one nothing is scored (a reload may
// unload a model that no longer fits the features) while the evaluator
// goes on stepping, so the evaluator's metrics do not show it. The
// threshold is the calibrated probability the model's training chose
// (0.4-0.8 on a long history, a few percent on a short one), so rules and
// dashboards compare omen_failure_probability with it rather than with a
// fixed probability. Info and threshold are those of the model whose
// predictions are exported (scorer.shown): after a promotion, the
// previous model's until the new one's first step with vectors.
func (c *predictionCollector) modelDescs() (loaded, info, threshold *prometheus.Desc) {
	return prometheus.NewDesc("omen_model_loaded",
			"1 when a model is loaded and scores the entities, 0 when none is (nothing is scored).", nil, nil),
		prometheus.NewDesc("omen_model_info",
			"The loaded model: its registry version and the sha256 of its file (always 1; absent without a model).", []string{"version", "sha256"}, nil),
		prometheus.NewDesc("omen_model_failure_threshold",
			"The loaded model's failure threshold: an entity whose omen_failure_probability stays at or above it for alerting.for steps alerts (absent without a model).", nil, nil)
}

func (c *predictionCollector) Describe(ch chan<- *prometheus.Desc) {
	p, a := c.descs()
	ch <- p
	ch <- a
	l, i, th := c.modelDescs()
	ch <- l
	ch <- i
	ch <- th
}

func (c *predictionCollector) Collect(ch chan<- prometheus.Metric) {
	pd, ad := c.descs()
	ld, id, thd := c.modelDescs()
	c.s.mu.RLock()
	defer c.s.mu.RUnlock()
	loaded := 0.0
	if c.s.model != nil && c.s.shown != nil {
		loaded = 1
		// The model of the exported predictions (scorer.shown): the
		// previous one's between a promotion and the new one's first
		// step with vectors. A version registered before invalid UTF-8 was
		// refused would make the metric, and so the whole scrape, fail.
		ch <- prometheus.MustNewConstMetric(id, prometheus.GaugeValue, 1, strings.ToValidUTF8(c.s.shownVersion, "\uFFFD"), c.s.shownSHA)
		ch <- prometheus.MustNewConstMetric(thd, prometheus.GaugeValue, c.s.shown.Thresholds().Failure)
	}
	ch <- prometheus.MustNewConstMetric(ld, prometheus.GaugeValue, loaded)
	for _, p := range c.s.latest {
		vals := make([]string, len(c.entityLabels))
		for i, l := range c.entityLabels {
			vals[i] = p.Labels[l]
		}
		ch <- prometheus.MustNewConstMetric(pd, prometheus.GaugeValue, p.Prob, vals...)
		ch <- prometheus.MustNewConstMetric(ad, prometheus.GaugeValue, p.Anomaly, vals...)
	}
}
