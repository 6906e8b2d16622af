package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
)

// Options configure New.
type Options struct {
	// Backend answers every page. Required.
	Backend api.Backend
	// HeatmapEntities is the number of entities (highest failure
	// probability first) in the overview's heat map (default 40); each
	// costs one Backend.Explanation call per page view.
	HeatmapEntities int
	// HeatmapGroups caps the heat map's columns (default 24; the groups
	// with the largest total |φ| are kept).
	HeatmapGroups int
	// MaxAlerts caps the overview's alert list (default 100; firing
	// first, then pending, then resolved).
	MaxAlerts int
	// ServiceEntities caps a service page's list of current entities
	// (default 200): a service of more lists the ServiceEntities likeliest
	// to fail, and its gone entities beyond 50 the 50 last seen, with
	// their counts and a link to the page of them all (?all=1).
	ServiceEntities int
	// History is the span of the entity page's chart, ending at the
	// entity's latest prediction (default 6h).
	History time.Duration
	// ExplainGate bounds the explanations the entity page's "explain
	// now" makes: give the API's (api.Options.ExplainGate), so that the UI
	// and the API share its limits. Default: a gate of its own with the
	// API's default limits.
	ExplainGate *api.ExplainGate
	// Alertmanager returns the URL of the Alertmanager whose UI a firing
	// alert's page links to (its alert list filtered to the alert's
	// labels): http://host:9093, or with its path prefix (its user info
	// and query are not shown), "" for none: no link. Called at each view
	// of an alert's page, so that a reload of the configuration shows.
	// The daemon gives alerting.alertmanager_ui_url, else the first
	// Alertmanager it sends alerts to (alerting.alertmanagers, then
	// --alertmanager.url). Nil: no link.
	Alertmanager func() string
	// Logger (default: discard).
	Logger *slog.Logger
}

// ExplanationFinder is implemented by a Backend that can find an entity's
// stored explanations quickly (the daemon's, over its store). Without it
// the UI looks up each of the entity's predictions of the span with
// Backend.Explanation.
type ExplanationFinder interface {
	// EntityExplanation returns the explanation stored under the newest of
	// the entity's predictions with from ≤ t ≤ to (ms) that has one, an
	// error wrapping api.ErrNotFound when none has.
	EntityExplanation(ctx context.Context, entity string, from, to int64) (api.Explanation, error)
}

// NewestFinder is implemented by a Backend that knows the time of the
// fleet's newest prediction without listing every entity's latest (the
// daemon's, over its store: api.StoreBackend). Without it the entity and
// alert pages list them all (Predictions of a zero PredictionQuery) to
// tell whether an entity is gone.
type NewestFinder interface {
	// NewestPrediction returns the time (ms) of the newest of the
	// entities' latest predictions, an error wrapping api.ErrNotFound when
	// there is none.
	NewestPrediction(ctx context.Context) (int64, error)
}

// LatestScanner is implemented by a Backend that keeps every entity's
// latest prediction in memory (the daemon's, over its store:
// api.StoreBackend). Without it the overview, the service pages and the
// alert page's dependency graph list them all (Predictions of a zero
// PredictionQuery) at each view: 0.2 s and 105 MB a view with 50,000
// entities kept (docs/PERFORMANCE.md).
type LatestScanner interface {
	// EachLatest calls fn with every entity's latest prediction (those
	// Predictions of a zero PredictionQuery answers), in no particular
	// order, until fn returns false. *p is valid during the call only;
	// p.Labels may be kept but must not be modified. fn must be quick and
	// must not call the Backend.
	EachLatest(ctx context.Context, fn func(p *api.Prediction) bool) error
}

// ModelVersionDescriber is implemented by a Backend that can describe any
// registered model version, not only the active one (the daemon's, over
// its model registry). The pages judge a prediction's anomaly score
// against the anomaly threshold of the model that scored it
// (Prediction.ModelVersion): without a ModelVersionDescriber that
// threshold is known only when the active model scored it.
type ModelVersionDescriber interface {
	// ModelVersionInfo describes a registered version: at least its
	// Version, Threshold and AnomalyThreshold; an error wrapping
	// api.ErrNotFound when it is not registered (deleted since). A
	// version's description must not change (the registry never
	// registers other data under a version's name, even a deleted one's):
	// the UI keeps those it read.
	ModelVersionInfo(ctx context.Context, version string) (api.ModelInfo, error)
}

// UI serves the pages. It is an http.Handler for paths under /ui/.
type UI struct {
	opts   Options
	b      api.Backend
	gate   *api.ExplainGate
	logger *slog.Logger
	mux    *http.ServeMux
	tmpl   *template.Template
	// versions keeps the model versions ModelVersionDescriber described.
	versions versionCache
}

// maxVersions caps the model versions the UI keeps described; the cache
// is emptied when full (a registry holds a few versions).
const maxVersions = 64

// versionCache holds model versions described, by version.
type versionCache struct {
	mu sync.Mutex
	m  map[string]api.ModelInfo
}

// New validates opts and builds the UI.
func New(opts Options) (*UI, error) {
	if opts.Backend == nil {
		return nil, errors.New("ui: no backend")
	}
	if opts.HeatmapEntities == 0 {
		opts.HeatmapEntities = 40
	}
	if opts.HeatmapGroups == 0 {
		opts.HeatmapGroups = 24
	}
	if opts.MaxAlerts == 0 {
		opts.MaxAlerts = 100
	}
	if opts.ServiceEntities == 0 {
		opts.ServiceEntities = 200
	}
	if opts.History == 0 {
		opts.History = 6 * time.Hour
	}
	if opts.HeatmapEntities < 0 || opts.HeatmapGroups < 0 || opts.MaxAlerts < 0 || opts.ServiceEntities < 0 || opts.History < 0 {
		return nil, fmt.Errorf("ui: negative option in %+v", opts)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	gate := opts.ExplainGate
	if gate == nil {
		var err error
		if gate, err = api.NewExplainGate(0, 0); err != nil {
			return nil, fmt.Errorf("ui: %w", err)
		}
	}
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	u := &UI{opts: opts, b: opts.Backend, gate: gate, logger: opts.Logger, tmpl: t, mux: http.NewServeMux()}
	u.mux.HandleFunc("GET /ui/{$}", u.overview)
	// An entity name (namespace/pod) or a prediction id holds a "/": the
	// links escape it as %2F, but the rest of the path is the name either
	// way (no page lies below them), so an unescaped one is read too.
	u.mux.HandleFunc("GET /ui/entities/{entity...}", u.entity)
	// Explain now: a POST (the page's button), which the API's
	// cross-origin check covers.
	u.mux.HandleFunc("POST /ui/entities/{entity...}", u.explainNow)
	u.mux.HandleFunc("GET /ui/alerts/{id...}", u.alert)
	u.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		u.render(w, http.StatusNotFound, "error", http.StatusText(http.StatusNotFound), errorData{
			Code: http.StatusNotFound, Err: fmt.Sprintf("No page %s.", r.URL.EscapedPath()),
			Hint: "The pages are /ui/ (the fleet; match[LABEL]=VALUE filters it), /ui/entities/ENTITY (an entity, or a service's entities) " +
				"and /ui/alerts/ID (an alert by fingerprint, or a prediction by id); escape \"/\" in entity names and prediction ids as %2F.",
		})
	})
	return u, nil
}

// ServeHTTP implements http.Handler.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	u.mux.ServeHTTP(w, r)
}

type page struct {
	Title string
	Body  any
}

func (u *UI) render(w http.ResponseWriter, code int, name, title string, data any) {
	var b bytes.Buffer
	if err := u.tmpl.ExecuteTemplate(&b, name, page{Title: title, Body: data}); err != nil {
		u.logger.Error("render page", "page", name, "err", err)
		http.Error(w, "render page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

func (u *UI) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	switch {
	case errors.Is(err, api.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, api.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		code = http.StatusServiceUnavailable
	}
	if code >= 500 {
		u.logger.Error("ui page", "path", r.URL.Path, "err", err)
	}
	u.render(w, code, "error", http.StatusText(code), errorData{Code: code, Err: err.Error()})
}

// errorData is the error page: the error, and optionally a hint and a
// link (a path on this server).
type errorData struct {
	Code           int
	Err            string
	Hint           string
	Link, LinkText string
}

// overviewData is the overview page.
type overviewData struct {
	Matchers map[string]string
	Alerts   []api.Alert
	// MoreAlerts is the number of alerts not listed.
	MoreAlerts int
	Heatmap    heatmap
	Model      *api.ModelInfo
	// NoModel is set when no model is loaded (the backend says so: not an
	// error reading it): why, when the promoted one was refused ("" when
	// none is promoted).
	NoModel *noModel
	// Total is the number of current entities (the heat map's rows are
	// the likeliest to fail of them).
	Total int
	// Gone are the entities (up to maxGone of GoneTotal, newest first)
	// whose latest prediction is GoneAfterMs or more behind Newest, the
	// fleet's newest: left out of the heat map, whose P(failure) they
	// would keep at the top (a rolling deploy's old pods).
	Gone        []api.Prediction
	GoneTotal   int
	GoneAfterMs int64
	Newest      int64
	// HistoryMs is the span searched for an entity's stored explanation.
	HistoryMs int64
}

// overviewParams is the one kind of parameter the overview takes.
const overviewParams = "the overview takes only match[LABEL]=VALUE filters (of entity labels)"

func (u *UI) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// Malformed filters are refused as the API refuses them (400), not
	// ignored: a page of the whole fleet would read as the filter's. So
	// are the API's other parameters (state=, from=, entity=, …), which
	// the overview does not apply.
	for k := range r.URL.Query() {
		if !strings.HasPrefix(k, "match[") {
			u.fail(w, r, http.StatusBadRequest, fmt.Errorf("parameter %q: %s; the API's /api/v1/alerts and /api/v1/predictions take the others", k, overviewParams))
			return
		}
	}
	m, err := api.ParseMatchers(r.URL.Query())
	if err != nil {
		u.fail(w, r, http.StatusBadRequest, err)
		return
	}
	alerts, err := u.b.Alerts(ctx, api.AlertQuery{Matchers: m})
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, fmt.Errorf("alerts: %w", err))
		return
	}
	q := api.PredictionQuery{Matchers: m}
	// The whole fleet's latest predictions: the newest of them is the
	// clock the gone entities' age is told by, whatever the filter. Only
	// the heat map's rows and the gone entities listed are kept.
	newest, each, err := u.fleet(ctx)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, fmt.Errorf("predictions: %w", err))
		return
	}
	model, noModel := u.modelOrWhy(ctx)
	cutoff := goneAfterMs(model)
	aq := api.AlertQuery{Matchers: m}
	kept := alerts[:0]
	for _, a := range alerts {
		if aq.Match(a) {
			kept = append(kept, a)
		}
	}
	api.SortAlerts(kept)
	top := topK[api.Prediction]{k: u.opts.HeatmapEntities, less: byRisk}
	lastGone := topK[api.Prediction]{k: maxGone, less: newestFirst}
	total, goneTotal, seen := 0, 0, newest
	err = each(func(p *api.Prediction) {
		seen = max(seen, p.T)
		switch {
		case !q.Match(*p):
		case isGone(*p, newest, cutoff):
			goneTotal++
			lastGone.add(*p)
		default:
			total++
			top.add(*p)
		}
	})
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, fmt.Errorf("predictions: %w", err))
		return
	}
	// At least the newest listed (one stored between the reads).
	d := overviewData{Matchers: m, Alerts: kept, Total: total, Newest: seen, GoneAfterMs: cutoff, GoneTotal: goneTotal,
		HistoryMs: u.opts.History.Milliseconds()}
	d.Gone = lastGone.sorted()
	if len(d.Alerts) > u.opts.MaxAlerts {
		d.MoreAlerts = len(d.Alerts) - u.opts.MaxAlerts
		d.Alerts = d.Alerts[:u.opts.MaxAlerts]
	}
	current := top.sorted()
	rows := make([]heatRow, 0, len(current))
	for _, p := range current {
		row := heatRow{Prediction: p}
		x, under, err := u.latestExplanation(ctx, p, kept)
		switch {
		case err == nil && x.Error != "": // stored without attributions
		case err == nil:
			row.Groups = x.Attribution.Groups
			row.Explained = true
			row.ExplainedID = x.PredictionID
			row.ExplainedT = x.T
			row.ExplainedAlert = alertOf(x, under, kept)
		case errors.Is(err, api.ErrNotFound):
		default:
			u.fail(w, r, http.StatusInternalServerError, fmt.Errorf("explanation of %s: %w", p.ID, err))
			return
		}
		rows = append(rows, row)
	}
	d.Heatmap = buildHeatmap(rows, u.opts.HeatmapGroups)
	d.Model, d.NoModel = model, noModel
	u.render(w, http.StatusOK, "overview", "omen", d)
}

// maxGone caps the overview's list of gone entities (and a service page's
// but with all=1).
const maxGone = 50

// byRisk orders latest predictions the likeliest to fail first.
func byRisk(a, b api.Prediction) bool {
	if a.Probability != b.Probability {
		return a.Probability > b.Probability
	}
	return a.Entity < b.Entity
}

// newestFirst orders latest predictions the newest first.
func newestFirst(a, b api.Prediction) bool {
	if a.T != b.T {
		return a.T > b.T
	}
	return a.Entity < b.Entity
}

// newestT is the time of the newest of ps (0 for none): the fleet's clock,
// which is data time (ahead of the wall clock in omen demo).
func newestT(ps []api.Prediction) int64 {
	var t int64
	for _, p := range ps {
		t = max(t, p.T)
	}
	return t
}

// newest is the time of the fleet's newest prediction (newestT of every
// entity's latest); ok is false when there is none.
func (u *UI) newest(ctx context.Context) (t int64, ok bool, err error) {
	if f, isF := u.b.(NewestFinder); isF {
		t, err := f.NewestPrediction(ctx)
		if errors.Is(err, api.ErrNotFound) {
			return 0, false, nil
		}
		return t, err == nil, err
	}
	if sc, isS := u.b.(LatestScanner); isS {
		err := sc.EachLatest(ctx, func(p *api.Prediction) bool {
			t, ok = max(t, p.T), true
			return true
		})
		return t, ok, err
	}
	ps, err := u.b.Predictions(ctx, api.PredictionQuery{})
	return newestT(ps), len(ps) > 0, err
}

// fleet reads every entity's latest prediction for a page that weighs them
// all: newest is the time of the newest of them (0 for none), and each
// calls fn with every one (*p valid during the call only, p.Labels not to
// be modified). With a LatestScanner, each reads the backend's memory at
// every call, after newest was read: a prediction stored in between is
// newer than newest. Else they are listed once (Predictions).
func (u *UI) fleet(ctx context.Context) (newest int64, each func(fn func(p *api.Prediction)) error, err error) {
	if sc, ok := u.b.(LatestScanner); ok {
		newest, _, err = u.newest(ctx)
		return newest, func(fn func(p *api.Prediction)) error {
			return sc.EachLatest(ctx, func(p *api.Prediction) bool { fn(p); return true })
		}, err
	}
	ps, err := u.b.Predictions(ctx, api.PredictionQuery{})
	return newestT(ps), func(fn func(p *api.Prediction)) error {
		for i := range ps {
			fn(&ps[i])
		}
		return nil
	}, err
}

// topK keeps the k first, in the order less (a strict total order), of
// the values added: a heap whose root is the last of those kept.
type topK[T any] struct {
	k    int
	less func(a, b T) bool
	h    []T
}

func (t *topK[T]) add(v T) {
	switch {
	case t.k <= 0:
	case len(t.h) < t.k:
		t.h = append(t.h, v)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !t.less(t.h[p], t.h[i]) {
				break
			}
			t.h[p], t.h[i] = t.h[i], t.h[p]
			i = p
		}
	case t.less(v, t.h[0]):
		t.h[0] = v
		for i := 0; ; {
			last := i
			for _, c := range []int{2*i + 1, 2*i + 2} {
				if c < len(t.h) && t.less(t.h[last], t.h[c]) {
					last = c
				}
			}
			if last == i {
				break
			}
			t.h[i], t.h[last] = t.h[last], t.h[i]
			i = last
		}
	}
}

// sorted returns the values kept, first first.
func (t *topK[T]) sorted() []T {
	sort.Slice(t.h, func(i, j int) bool { return t.less(t.h[i], t.h[j]) })
	return t.h
}

// goneAfterMs is how far behind the fleet's newest prediction an entity's
// latest one is when the entity is gone: the scorer drops an entity, and
// its alert resolves, at the (alert.DefaultMissingSteps+1)-th step
// without a prediction. 0 (no cutoff) without a model's step.
func goneAfterMs(m *api.ModelInfo) int64 {
	if m == nil || m.StepMs <= 0 {
		return 0
	}
	return int64(alert.DefaultMissingSteps+1) * m.StepMs
}

// isGone reports whether p, an entity's latest prediction, is at least
// cutoff ms older than newest (the fleet's newest).
func isGone(p api.Prediction, newest, cutoff int64) bool {
	return cutoff > 0 && p.T <= newest-cutoff
}

// latestExplanation returns the explanation of p or, when p has none
// stored (omen explains a prediction when its alert fires), the document
// of the first of the entity's alerts that has one (alerts in SortAlerts
// order: firing first), with the id it was found under. That document may
// be a note without attributions (Explanation.Error: the explanation
// failed when the alert fired): the firing alert's note is shown rather
// than an older, resolved alert's explanation.
//
// Else, as an alert leaves the list 15 data-minutes after it resolves
// while its explanation stays stored, it is the newest explanation stored
// under one of the entity's predictions of the last History before p.
func (u *UI) latestExplanation(ctx context.Context, p api.Prediction, alerts []api.Alert) (api.Explanation, string, error) {
	x, err := u.b.Explanation(ctx, p.ID)
	if err == nil || !errors.Is(err, api.ErrNotFound) {
		return x, p.ID, err
	}
	for _, a := range alerts {
		if a.Entity != p.Entity {
			continue
		}
		x, aerr := u.b.Explanation(ctx, a.Fingerprint)
		if !errors.Is(aerr, api.ErrNotFound) {
			return x, a.Fingerprint, aerr
		}
	}
	x, err = u.storedExplanation(ctx, p.Entity, p.T-u.opts.History.Milliseconds(), p.T-1)
	if err != nil {
		return api.Explanation{}, "", err
	}
	return x, x.PredictionID, nil
}

// alertOf is the fingerprint of the alert x was made for, when known: the
// fingerprint x was found under (id), else the first listed alert of x's
// entity, not pending, that fired on x's prediction. "" when none is: x
// is an explain-now's, or an alert's no longer listed (the stored
// document does not name its alert).
func alertOf(x api.Explanation, id string, alerts []api.Alert) string {
	if id != "" && id != x.PredictionID {
		return id
	}
	for _, a := range alerts {
		if a.Entity == x.Entity && a.PredictionID == x.PredictionID && a.State != api.AlertPending {
			return a.Fingerprint
		}
	}
	return ""
}

// storedExplanation is the explanation stored under the newest of the
// entity's predictions with from ≤ t ≤ to that has one.
func (u *UI) storedExplanation(ctx context.Context, entity string, from, to int64) (api.Explanation, error) {
	if f, ok := u.b.(ExplanationFinder); ok {
		return f.EntityExplanation(ctx, entity, from, to)
	}
	ps, err := u.b.Predictions(ctx, api.PredictionQuery{Entity: entity, From: time.UnixMilli(from), To: time.UnixMilli(to)})
	if err != nil {
		return api.Explanation{}, fmt.Errorf("predictions of %s: %w", entity, err)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].T > ps[j].T })
	for _, p := range ps {
		if p.Entity != entity || p.T < from || p.T > to {
			continue
		}
		x, err := u.b.Explanation(ctx, p.ID)
		if !errors.Is(err, api.ErrNotFound) {
			return x, err
		}
	}
	return api.Explanation{}, fmt.Errorf("no explanation of %s stored: %w", entity, api.ErrNotFound)
}

// entityData is the entity page.
type entityData struct {
	Entity      string
	Latest      api.Prediction
	Chart       chart
	Alerts      []api.Alert
	Explanation *explanationView
	ExplainErr  string
	ExplainNow  bool
	// ExplainAgeMs is how much older than the latest prediction the
	// explanation shown is (0 when it is of the latest prediction).
	ExplainAgeMs int64
	// Model is the active model (nil when unknown). ScoredBy is the model
	// version that scored Latest (nil when unknown: scoredBy), whose
	// anomaly threshold is shown beside its anomaly score.
	Model    *api.ModelInfo
	ScoredBy *api.ModelInfo
	// GoneAgeMs is how far the latest prediction is behind the fleet's
	// newest (Newest) when the entity is gone (see goneAfterMs), else 0.
	GoneAgeMs int64
	Newest    int64
}

// model returns the active model, nil when there is none (or it cannot be
// read: the pages show what they can without it).
func (u *UI) model(ctx context.Context) *api.ModelInfo {
	mi, _ := u.modelOrWhy(ctx)
	return mi
}

// noModel says why no model is loaded.
type noModel struct {
	// Reason is why the promoted model was refused, "" when none is
	// promoted.
	Reason string
}

// modelOrWhy returns the active model as model does, or, when the
// backend says none is loaded (api.NoModelError), why.
func (u *UI) modelOrWhy(ctx context.Context) (*api.ModelInfo, *noModel) {
	mi, err := u.b.ModelInfo(ctx)
	if nm := (*api.NoModelError)(nil); errors.As(err, &nm) {
		why := &noModel{}
		if nm.Reason != nil {
			why.Reason = nm.Reason.Error()
		}
		return nil, why
	}
	if err != nil {
		return nil, nil
	}
	return &mi, nil
}

// scoredBy describes the model version that scored a prediction, for its
// anomaly threshold: active when it is that version, else the
// backend's description of it (ModelVersionDescriber), nil when unknown
// (no version, a backend that cannot describe it, a version deleted).
func (u *UI) scoredBy(ctx context.Context, version string, active *api.ModelInfo) *api.ModelInfo {
	switch {
	case version == "":
		return nil
	case active != nil && active.Version == version:
		return active
	}
	d, ok := u.b.(ModelVersionDescriber)
	if !ok {
		return nil
	}
	u.versions.mu.Lock()
	mi, kept := u.versions.m[version]
	u.versions.mu.Unlock()
	if kept {
		return &mi
	}
	mi, err := d.ModelVersionInfo(ctx, version)
	if err != nil {
		if !errors.Is(err, api.ErrNotFound) {
			u.logger.Warn("describe model version", "version", version, "err", err)
		}
		return nil
	}
	if mi.Version != version {
		return nil
	}
	u.versions.mu.Lock()
	if u.versions.m == nil || len(u.versions.m) >= maxVersions {
		u.versions.m = make(map[string]api.ModelInfo)
	}
	u.versions.m[version] = mi
	u.versions.mu.Unlock()
	return &mi
}

type serviceData struct {
	Name string
	// Entities are the service's current entities, by name; of more
	// than Options.ServiceEntities (unless All), those likeliest to fail,
	// the likeliest first. Total counts them all.
	Entities []api.Prediction
	Total    int
	// Gone are the service's entities whose latest prediction is
	// GoneAfterMs or more behind Newest, the fleet's newest (see
	// isGone): listed apart, with their age, by name; of more than maxGone
	// (unless All), those last seen most recently, newest first.
	// GoneTotal counts them all.
	Gone        []api.Prediction
	GoneTotal   int
	GoneAfterMs int64
	Newest      int64
	// All: the page of them all (?all=1).
	All bool
}

// explainNowBody bounds the body of an explain-now POST (explain=now).
const explainNowBody = 1 << 10

func (u *UI) entity(w http.ResponseWriter, r *http.Request) {
	e := r.PathValue("entity")
	if e == "" {
		u.noEntity(w)
		return
	}
	var explained string
	var all bool
	for k, vs := range r.URL.Query() {
		switch {
		case k == "explain":
			// The explain-now link of old: explaining stores an
			// explanation, which a GET (any page can make a browser
			// send one cross-site) must not.
			u.render(w, http.StatusBadRequest, "error", http.StatusText(http.StatusBadRequest), errorData{
				Code: http.StatusBadRequest,
				Err:  fmt.Sprintf("parameter %s=%s: explaining now stores an explanation, so it is a POST, not a link.", k, strings.Join(vs, ",")),
				Hint: `The entity's page has an "explain now" button.`,
				Link: api.EntityUIPath(e), LinkText: "the entity's page",
			})
			return
		case k == "explained" && len(vs) == 1 && vs[0] != "":
			explained = vs[0]
		case k == "all" && len(vs) == 1 && vs[0] == "1":
			all = true
		default:
			u.fail(w, r, http.StatusBadRequest, fmt.Errorf("parameter %s=%s: an entity's page takes only explained=PREDICTION_ID (where its \"explain now\" button leads), a service's all=1 (every entity of it listed)", k, strings.Join(vs, ",")))
			return
		}
	}
	d, last, ok := u.entityData(w, r, e)
	if !ok {
		return
	}
	if last == nil {
		u.service(w, r, e, all)
		return
	}
	if all {
		u.fail(w, r, http.StatusBadRequest, fmt.Errorf("parameter all=1: %q is an entity, not a service (all=1 lists every entity of a service)", e))
		return
	}
	var x api.Explanation
	var id string
	var err error
	if explained != "" {
		// Where an explain-now leads (POST, redirect, GET): the
		// explanation it stored, read only, so that a reload explains
		// nothing again.
		d.ExplainNow = true
		x, err = u.b.Explanation(r.Context(), explained)
		if err == nil && x.Entity != e {
			err = fmt.Errorf("prediction %s is not of %s: %w", explained, e, api.ErrNotFound)
		}
		if errors.Is(err, api.ErrNotFound) {
			d.ExplainErr = fmt.Sprintf("No explanation of %s stored under prediction %s: %v.", e, explained, err)
			u.render(w, http.StatusNotFound, "entity", e, d)
			return
		}
	} else {
		x, id, err = u.latestExplanation(r.Context(), *last, d.Alerts)
	}
	switch {
	case err == nil:
		if !d.ExplainNow {
			// Linked as the alert's when it was made for one.
			id = alertOf(x, id, d.Alerts)
		}
		u.setExplanation(&d, x, id)
	case errors.Is(err, api.ErrNotFound):
		d.ExplainErr = "No explanation stored for this entity yet: omen explains a prediction when its alert fires."
	default:
		u.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	u.render(w, http.StatusOK, "entity", e, d)
}

// explainNow explains the entity's latest window (POST from the entity
// page's "explain now" button), within the explain-now gate the API shares,
// and redirects to the entity's page showing the explanation stored
// (POST/redirect/GET: reloading that page explains nothing again). When it
// cannot explain, it answers the entity's page saying why: 503 when the
// gate's slots stayed busy or the explanation ran out of time.
func (u *UI) explainNow(w http.ResponseWriter, r *http.Request) {
	e := r.PathValue("entity")
	if e == "" {
		u.noEntity(w)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, explainNowBody)
	if err := r.ParseForm(); err != nil {
		u.fail(w, r, http.StatusBadRequest, fmt.Errorf("parse form: %w", err))
		return
	}
	if r.URL.RawQuery != "" {
		u.fail(w, r, http.StatusBadRequest, errors.New("explain now takes no query parameters"))
		return
	}
	for k, vs := range r.PostForm {
		if k != "explain" || len(vs) != 1 || vs[0] != "now" {
			u.fail(w, r, http.StatusBadRequest, fmt.Errorf("form field %s=%s: explain now takes only explain=now", k, strings.Join(vs, ",")))
			return
		}
	}
	d, last, ok := u.entityData(w, r, e)
	if !ok {
		return
	}
	if last == nil {
		u.render(w, http.StatusNotFound, "error", http.StatusText(http.StatusNotFound), errorData{
			Code: http.StatusNotFound, Err: fmt.Sprintf("No entity %q to explain: omen has no prediction of it.", e),
			Link: api.EntityUIPath(e), LinkText: "its page (a service's page, when it names one)",
		})
		return
	}
	d.ExplainNow = true
	var err error
	var x api.Explanation
	if d.GoneAgeMs > 0 {
		err = fmt.Errorf("%s is gone: omen no longer scores it (its latest prediction is %s behind the fleet's newest), so it has no current window to explain: %w",
			e, time.Duration(d.GoneAgeMs)*time.Millisecond, api.ErrNotFound)
	} else {
		x, err = u.gate.Explain(r.Context(), u.b, e)
	}
	code := http.StatusOK
	switch {
	case err == nil && x.PredictionID == "":
		// Nothing to lead to (a backend that names no prediction):
		// shown here.
		u.setExplanation(&d, x, "")
	case err == nil:
		http.Redirect(w, r, api.EntityUIPath(e)+"?"+url.Values{"explained": {x.PredictionID}}.Encode(), http.StatusSeeOther)
		return
	case errors.Is(err, api.ErrBusy):
		// The API's Retry-After for the same 503 (the gate's timeout):
		// by then every explanation running or waiting has ended.
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", u.gate.RetryAfter())
		d.ExplainErr = "omen is busy explaining other windows: " + err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", u.gate.RetryAfter())
		d.ExplainErr = "Cannot explain it now: the explanation ran out of time (" + err.Error() + "); retry later."
	case errors.Is(err, api.ErrNotFound), errors.Is(err, api.ErrUnavailable):
		d.ExplainErr = "Cannot explain it now: " + err.Error()
	default:
		u.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	u.render(w, code, "entity", e, d)
}

// setExplanation shows x (decorated as the explanation of id: an alert's
// fingerprint, else "") on the entity page d.
func (u *UI) setExplanation(d *entityData, x api.Explanation, id string) {
	api.Decorate(&x, id)
	v := newExplanationView(x)
	d.Explanation = &v
	if x.T < d.Latest.T {
		d.ExplainAgeMs = d.Latest.T - x.T
	}
}

// noEntity answers /ui/entities/ without a name: no entity nor service is
// named "" (inService would list every entity without a service label).
func (u *UI) noEntity(w http.ResponseWriter) {
	u.render(w, http.StatusNotFound, "error", http.StatusText(http.StatusNotFound), errorData{
		Code: http.StatusNotFound, Err: "No entity named: the page of an entity or service is /ui/entities/NAME.",
		Link: "/ui/", LinkText: "the overview",
	})
}

// entityData reads the entity page's data but for its explanation: the
// latest prediction (last, nil when the entity has none: it may name a
// service), its history, alerts and whether it is gone. ok is false when
// it answered the request with an error.
func (u *UI) entityData(w http.ResponseWriter, r *http.Request, e string) (d entityData, last *api.Prediction, ok bool) {
	ctx := r.Context()
	// The entity's latest prediction only, and the fleet's newest time:
	// not every entity's latest (150,000 kept after a fortnight of pod
	// churn).
	latest, err := u.b.Predictions(ctx, api.PredictionQuery{Entity: e})
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, fmt.Errorf("predictions of %s: %w", e, err))
		return d, nil, false
	}
	for i := range latest {
		if latest[i].Entity == e && (last == nil || latest[i].T > last.T) {
			last = &latest[i]
		}
	}
	if last == nil {
		return d, nil, true
	}
	newest, _, err := u.newest(ctx)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, fmt.Errorf("newest prediction: %w", err))
		return d, nil, false
	}
	// At least the entity's (a prediction stored between the two reads).
	d = entityData{Entity: e, Latest: *last, Model: u.model(ctx), Newest: max(newest, last.T)}
	d.ScoredBy = u.scoredBy(ctx, last.ModelVersion, d.Model)
	if isGone(*last, d.Newest, goneAfterMs(d.Model)) {
		d.GoneAgeMs = d.Newest - last.T
	}
	hist, err := u.b.Predictions(ctx, api.PredictionQuery{Entity: e,
		From: time.UnixMilli(last.T).Add(-u.opts.History), To: time.UnixMilli(last.T)})
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, fmt.Errorf("prediction history of %s: %w", e, err))
		return d, nil, false
	}
	var pts []api.Prediction
	for _, p := range hist {
		if p.Entity == e {
			pts = append(pts, p)
		}
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].T < pts[j].T })
	d.Chart = buildChart(pts)
	alerts, err := u.b.Alerts(ctx, api.AlertQuery{Entity: e})
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, fmt.Errorf("alerts of %s: %w", e, err))
		return d, nil, false
	}
	for _, a := range alerts {
		if a.Entity == e {
			d.Alerts = append(d.Alerts, a)
		}
	}
	api.SortAlerts(d.Alerts)
	return d, last, true
}

// service lists the entities of a service: those api.ServiceOf maps to
// it (the mapping of the dependency graph's nodes: a service label, else
// the pod name without its Deployment suffixes) or with any service label
// (api.ServiceLabels) equal to it. Dependency graphs and root causes name
// services, not pods.
//
// A service of more than Options.ServiceEntities current entities lists
// those likeliest to fail, and of more than maxGone gone ones those last
// seen most recently, with their counts, unless all (?all=1).
func (u *UI) service(w http.ResponseWriter, r *http.Request, name string, all bool) {
	newest, each, err := u.fleet(r.Context())
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	d := serviceData{Name: name, Newest: newest, GoneAfterMs: goneAfterMs(u.model(r.Context())), All: all}
	top := topK[api.Prediction]{k: u.opts.ServiceEntities, less: byRisk}
	lastGone := topK[api.Prediction]{k: maxGone, less: newestFirst}
	if all {
		top.k, lastGone.k = math.MaxInt, math.MaxInt
	}
	seen := newest
	err = each(func(p *api.Prediction) {
		seen = max(seen, p.T)
		switch {
		case !inService(p.Labels, name):
		case isGone(*p, newest, d.GoneAfterMs):
			d.GoneTotal++
			lastGone.add(*p)
		default:
			d.Total++
			top.add(*p)
		}
	})
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	// At least the newest listed (one stored between the reads).
	d.Newest = seen
	d.Entities, d.Gone = top.sorted(), lastGone.sorted()
	if d.Total == len(d.Entities) {
		api.SortPredictions(d.Entities)
	}
	if d.GoneTotal == len(d.Gone) {
		api.SortPredictions(d.Gone)
	}
	if d.Total+d.GoneTotal == 0 {
		ed := errorData{
			Code: http.StatusNotFound,
			Err:  fmt.Sprintf("No entity or service %q.", name),
			Hint: "An entity belongs to a service named by its first label of " + strings.Join(api.ServiceLabels, ", ") +
				", else by its pod label without the Deployment's generated suffixes (cartservice-7d9f8b6c4-x2k9p → cartservice). No predicted entity maps to this name.",
		}
		// Linked only when the graph holds it: a link that 404s too
		// says nothing. Dependencies answers for an entity the backend
		// knows (a pod without predictions, still in the store's
		// history) with its service's node: that entity is not a node.
		switch n, err := u.b.Dependencies(r.Context(), name); {
		case err != nil:
		case n.Node == name:
			ed.Hint += " The dependency graph holds it as a node."
			ed.Link, ed.LinkText = api.DependenciesPath(name), "its dependency neighbourhood (API, JSON)"
		case n.Node != "":
			ed.Err = fmt.Sprintf("No prediction of %q.", name)
			ed.Hint = fmt.Sprintf("omen knows %s as an entity of the service %s, but has no prediction of it to show. "+
				"The dependency graph holds its service, not it.", name, n.Node)
			ed.Link, ed.LinkText = api.EntityUIPath(n.Node), "the page of its service "+n.Node
		}
		u.render(w, http.StatusNotFound, "error", http.StatusText(http.StatusNotFound), ed)
		return
	}
	u.render(w, http.StatusOK, "service", name, d)
}

// inService reports whether an entity of labels is of the service name
// (not ""): api.ServiceOf(labels) is name, or one of its service labels
// (api.ServiceLabels) is. The pages ask it of every entity kept, so the
// pod name's suffixes (a regular expression) are stripped only of a pod
// name that begins with name.
func inService(labels map[string]string, name string) bool {
	labelled := false
	for _, k := range api.ServiceLabels {
		v := labels[k]
		if v == name {
			return true
		}
		labelled = labelled || v != ""
	}
	switch pod := labels["pod"]; {
	case labelled: // ServiceOf is the first service label's value
		return false
	case pod != "" && !strings.HasPrefix(pod, name):
		return false // ServiceOf strips a suffix of it
	}
	return api.ServiceOf(labels) == name
}

// serviceIn returns api.ServiceOf(labels) and whether it is one of want:
// as inService, the pod name's suffixes are stripped only of a pod name
// that begins with one of want.
func serviceIn(labels map[string]string, want map[string]bool) (string, bool) {
	for _, k := range api.ServiceLabels {
		if v := labels[k]; v != "" {
			return v, want[v]
		}
	}
	if pod := labels["pod"]; pod != "" {
		begins := false
		for w := range want {
			if strings.HasPrefix(pod, w) {
				begins = true
				break
			}
		}
		if !begins {
			return "", false
		}
	}
	svc := api.ServiceOf(labels)
	return svc, want[svc]
}

// alertData is the alert page.
type alertData struct {
	ID string
	// Fingerprint is the alert's when ID names one (the stored
	// explanation is an alert's), "" when ID is a prediction id. Alert is
	// the alert as listed now: nil for an alert no longer listed (omen
	// lists a resolved alert only while it re-sends its resolution).
	Fingerprint string
	Alert       *api.Alert
	// FiredOn are the listed alerts (not pending) that fired on the
	// prediction ID names, when it is a prediction id: its stored
	// explanation is theirs. None listed, it may be an alert's no longer
	// listed or an explain-now's (the document does not say).
	FiredOn     []api.Alert
	Explanation explanationView
	Graph       *graph
	GraphErr    string
	// Now is the time (ms) of the graph's evidence: the latest prediction
	// of the fleet (the evidence is each entity's latest anomaly score and
	// probability), else the clock. The graph is live, not stored with the
	// explanation.
	Now int64
	// Model is the active model (nil when unknown): the graph's live
	// evidence is its. ScoredBy is the version that scored the
	// prediction (nil when unknown: scoredBy), whose anomaly threshold is
	// shown beside its anomaly score.
	Model    *api.ModelInfo
	ScoredBy *api.ModelInfo
	// AlertmanagerURL is Options.Alertmanager's alert list filtered to the
	// alert's labels, "" for none: the alert is not firing (a pending
	// alert was not sent, a resolved one is not in Alertmanager's list),
	// or no Alertmanager is configured.
	AlertmanagerURL template.URL
}

func (u *UI) alert(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	x, err := u.b.Explanation(ctx, id)
	if errors.Is(err, api.ErrNotFound) {
		// A pending alert's fingerprint (listed on the overview as
		// pending): no explanation yet, and it fires under another one.
		if a, ok := api.PendingAlert(ctx, u.b, id); ok {
			u.render(w, http.StatusNotFound, "error", http.StatusText(http.StatusNotFound), errorData{
				Code: http.StatusNotFound,
				Err:  fmt.Sprintf("%s is a pending alert on %s: it has no explanation yet.", id, a.Entity),
				Hint: "omen explains an alert when it fires, under another fingerprint (a firing alert's labels add severity); the entity's page shows its predictions.",
				Link: api.EntityUIPath(a.Entity), LinkText: "the entity's page",
			})
			return
		}
		// The backend's error already names the id; say what is missing.
		// A pending alert that fired since is listed under another
		// fingerprint: its old one must not read as never fired.
		u.render(w, http.StatusNotFound, "error", http.StatusText(http.StatusNotFound), errorData{
			Code: http.StatusNotFound,
			Err:  fmt.Sprintf("no alert or prediction %q with a stored explanation (omen stores one when an alert fires)", id),
			Hint: "A pending alert's fingerprint changes when it fires (a firing alert's labels add severity): if this was a pending alert's, " +
				"look for its entity's alerts, on the overview or the entity's page.",
			Link: "/ui/", LinkText: "the overview's alerts",
		})
		return
	}
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, fmt.Errorf("explanation %q: %w", id, err))
		return
	}
	api.Decorate(&x, id)
	d := alertData{ID: id, Explanation: newExplanationView(x), Model: u.model(ctx)}
	d.ScoredBy = u.scoredBy(ctx, x.ModelVersion, d.Model)
	// Decorate names the alert when id is its fingerprint, whether the
	// alert is still listed or not: the page behind Alertmanager's
	// generatorURL stays the alert's after it leaves the list.
	d.Fingerprint = x.AlertFingerprint
	alerts, err := u.b.Alerts(ctx, api.AlertQuery{})
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, fmt.Errorf("alerts: %w", err))
		return
	}
	for i := range alerts {
		if alerts[i].HasFingerprint(id) {
			d.Alert = &alerts[i]
		}
		if d.Fingerprint == "" && alerts[i].PredictionID == id && alerts[i].State != api.AlertPending {
			d.FiredOn = append(d.FiredOn, alerts[i])
		}
	}
	if d.Alert != nil && d.Alert.State == api.AlertFiring && u.opts.Alertmanager != nil {
		if base := u.opts.Alertmanager(); base != "" {
			am, err := alertmanagerAlertsURL(base, d.Alert.Labels)
			if err != nil {
				u.logger.Warn("no link to Alertmanager on the alert's page", "fingerprint", d.Alert.Fingerprint, "err", err)
			}
			// Its scheme is http(s), its parts escaped.
			d.AlertmanagerURL = template.URL(am)
		}
	}
	d.Now = time.Now().UnixMilli()
	n, err := u.b.Dependencies(ctx, x.Entity)
	if err != nil {
		// No graph: only the fleet's newest time, not every entity's
		// latest prediction (the graph's node risks).
		if t, ok, nerr := u.newest(ctx); nerr == nil && ok {
			d.Now = t
		}
	}
	switch {
	case err == nil:
		newest, each, lerr := u.fleet(ctx)
		switch {
		case lerr != nil: // the alerts' risks only
			each = func(func(*api.Prediction)) error { return nil }
		case newest > 0:
			d.Now = newest
		}
		risks := nodeRisks(n, each, alerts, d.Now, goneAfterMs(d.Model))
		var th float64
		if d.Model != nil {
			th = d.Model.AnomalyThreshold
		}
		g := buildGraph(n, th, risks)
		d.Graph = &g
	case errors.Is(err, api.ErrNotFound):
		d.GraphErr = "no dependency graph for this entity"
	default:
		d.GraphErr = err.Error()
	}
	title := "alert " + id
	if d.Fingerprint == "" {
		title = "prediction " + id
	}
	u.render(w, http.StatusOK, "alert", title, d)
}

// nodeRisks is the failure risk of each node of n (an entity, or a
// service: api.ServiceOf of its entities' labels) from the current
// entities' latest predictions (each; gone ones left out) and the firing
// alerts: the highest P(failure) over its threshold among its entities
// (of equal ratios, the first entity's by name), and whether one of them
// is at or over its threshold or has a firing alert. A failed read of the
// predictions leaves their risks out.
func nodeRisks(n api.Neighbourhood, each func(fn func(p *api.Prediction)) error, alerts []api.Alert, newest, cutoff int64) map[string]nodeRisk {
	out := make(map[string]nodeRisk, len(n.Nodes))
	by := make(map[string]string, len(n.Nodes)) // the entity whose ratio a node's is
	want := make(map[string]bool, len(n.Nodes))
	for _, v := range n.Nodes {
		want[v.Name] = true
	}
	mark := func(k string, f func(*nodeRisk)) {
		if !want[k] {
			return
		}
		r := out[k]
		f(&r)
		out[k] = r
	}
	firing := map[string]bool{}
	for _, a := range alerts {
		if a.State == "firing" {
			firing[a.Entity] = true
		}
	}
	_ = each(func(p *api.Prediction) {
		svc, isNode := serviceIn(p.Labels, want)
		if firing[p.Entity] && isNode {
			mark(svc, func(r *nodeRisk) { r.Firing = true })
		}
		if isGone(*p, newest, cutoff) || !(p.Threshold > 0) {
			return
		}
		ratio := p.Probability / p.Threshold
		risk := func(k string) {
			mark(k, func(r *nodeRisk) {
				if !r.Has || ratio > r.Ratio || ratio == r.Ratio && p.Entity < by[k] {
					r.Has, r.Ratio, r.Prob, r.Threshold = true, ratio, p.Probability, p.Threshold
					by[k] = p.Entity
				}
				r.Failing = r.Failing || p.Probability >= p.Threshold
			})
		}
		risk(p.Entity)
		if isNode {
			risk(svc)
		}
	})
	for e := range firing {
		mark(e, func(r *nodeRisk) { r.Firing = true })
	}
	return out
}

// explanationView is an explanation with its plots laid out.
type explanationView struct {
	X         api.Explanation
	Waterfall waterfall
	Metrics   []metricRow
	// Causes are the stored metric causes that raise the risk (φ > 0):
	// explanations stored before explain.Causes kept only those listed
	// groups of negative φ too. Lowering is how many were left out.
	Causes   []api.MetricCause
	Lowering int
}

func newExplanationView(x api.Explanation) explanationView {
	v := explanationView{X: x, Waterfall: buildWaterfall(x.Attribution), Metrics: buildMetrics(x)}
	for _, c := range x.Causes.Metrics {
		if c.Phi > 0 {
			v.Causes = append(v.Causes, c)
		} else {
			v.Lowering++
		}
	}
	return v
}

// metricRow is one feature of the window: a sparkline, its latest value and
// its group's attribution.
type metricRow struct {
	Name   string
	Points string // SVG polyline points
	Last   float64
	HasVal bool
	Phi    float64
	HasPhi bool
	Share  float64
}

func buildMetrics(x api.Explanation) []metricRow {
	phi := map[string]int{}
	for i, g := range x.Attribution.Groups {
		phi[g.Name] = i
	}
	rows := make([]metricRow, len(x.Features))
	for j, f := range x.Features {
		row := metricRow{Name: f}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, r := range x.Window {
			if j < len(r) && !math.IsNaN(r[j]) {
				lo, hi = math.Min(lo, r[j]), math.Max(hi, r[j])
				row.Last, row.HasVal = r[j], true
			}
		}
		var pts []string
		n := len(x.Window)
		for i, r := range x.Window {
			if j >= len(r) || math.IsNaN(r[j]) {
				continue
			}
			xp := 2.0
			if n > 1 {
				xp = 2 + 116*float64(i)/float64(n-1)
			}
			yp := 12.0
			if hi > lo {
				yp = 22 - 20*(r[j]-lo)/(hi-lo)
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xp, yp))
		}
		row.Points = strings.Join(pts, " ")
		if i, ok := phi[f]; ok {
			row.Phi, row.Share, row.HasPhi = x.Attribution.Groups[i].Phi, x.Attribution.Groups[i].Share, true
		}
		rows[j] = row
	}
	return rows
}
