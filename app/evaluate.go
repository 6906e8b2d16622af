package app

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/intmath"
	"github.com/omen-sre/omen/internal/mapshrink"
	"github.com/omen-sre/omen/store"
)

type evaluatorOptions struct {
	Extractor *features.Extractor
	Store     *store.Store
	Ingest    *ingester
	Scorer    *scorer
	Alerts    *alerter
	Step      time.Duration
	// Lookback is the in-memory window the features read (0: not
	// bounded): the evaluator catches up at most lookback/Step steps.
	Lookback   time.Duration
	WallClock  bool
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// evaluator evaluates features at every step boundary the data has passed,
// stores the vectors, scores them and hands the predictions to the alerts.
type evaluator struct {
	evaluatorOptions
	next int64 // next step to evaluate, ms; 0 before the first data
	// dataTgt is the newest step the newest sample had passed at the last
	// target, before hold held it back (where a restart resumes from).
	dataTgt int64
	// lowTgt is the newest step whose inputs had all arrived at the last
	// target (steps after it up to target are evaluated because they
	// waited maxDelay).
	lowTgt int64
	// settle and maxDelay bound how long a step waits for its inputs
	// (see hold); settle 0: steps do not wait (not WallClock).
	settle, maxDelay time.Duration
	// failing logs the runs of failed step operations; only the
	// evaluator's goroutine uses it.
	failing failureLog
	// passed are the high targets (the newest step the newest sample has
	// passed) with the wall time each was first seen, oldest first.
	passed []passedStep
	// progressAt is the wall time (ms) of the last Head.Progress scan,
	// progress its result.
	progressAt int64
	progress   inputProgress
	// heldLogAt is the wall time (ms) of the last log of steps held for
	// their inputs (see noteHeld).
	heldLogAt int64
	// excluded are the series (by label hash) whose lag made a step wait
	// maxDelay: they hold no step back until their samples reach the step
	// waited on (see hold); each with the wall time (ms) it was last seen
	// lagging, and sweptAt the wall time of the last sweep of those long
	// unseen. excludedPeak is the most series excluded held since it was
	// made: hold rebuilds it once it shrank to a quarter of that
	// (mapshrink), so that a churn of lagging series (a rollout of pods
	// whose exporter timestamps in the past) does not keep its buckets.
	excluded     map[uint64]int64
	excludedPeak mapshrink.Peak
	sweptAt      int64

	steps     prometheus.Counter
	skipped   prometheus.Counter
	failures  prometheus.Counter
	lastStep  prometheus.Gauge
	forced    prometheus.Counter
	waiting   prometheus.Gauge
	excludedG prometheus.Gauge
	behindG   prometheus.Gauge
	stepDur   prometheus.Histogram
	// stalePolled counts, by poll source, the steps evaluated before the
	// source's poll of them succeeded (see notePolled); stale holds each
	// source's current stretch of them, polled the sources' polled times
	// (reused).
	stalePolled *prometheus.CounterVec
	stale       map[string]*staleStretch
	polled      []sourceTime
	// lag is the current stretch of steps due but not yet evaluated (see
	// noteBehind), lagWarnAt the wall time (ms) of the last warning of it.
	lag       lagStretch
	lagWarnAt int64
	known     map[string]int64 // entity → data time its sighting was last stored
	forgotAt  int64            // data time of the last sweep of known
	// knownPeak is the most entities known held since it was made: forget
	// rebuilds it once it shrank to a quarter of that (mapshrink).
	knownPeak mapshrink.Peak
	// The last evaluated step: its wall time and data time (ms), and the
	// next idle step (see expire).
	lastWall, lastT, idleNext int64
	clock                     func() time.Time // time.Now; a fake in tests
	// instant caches features.Config.InstantFeatures for instantNames.
	instant      []bool
	instantNames []string
	// done is the last step evaluated (ms), for Progress.
	done atomic.Int64
	// stored is the last step whose vectors were stored (or that had
	// none), ms: late events of later steps wait for their vectors (see
	// ingester.recordLate).
	stored atomic.Int64
	// resumedAt is the step cursor resume resumed after (ms; 0: none),
	// for the ingester's count of late samples.
	resumedAt atomic.Int64
	// replayed is the watermark after the ingest log's replay (the
	// evaluator is created after it; 0: nothing replayed), which bounds
	// where a restart resumes (resume).
	replayed int64
	// completed is the last step evaluated in full (scored, alerts
	// processed), cursor the step cursor as stored (0: none), see
	// saveCursor.
	completed, cursor int64
	// layoutMu is held while a step's vectors are evaluated, stored and
	// scored, and while a configuration reload changes the feature layout
	// (changeLayout): a step's vectors are stored under the schema they
	// were evaluated with, and the scorer's windows never mix rows of two
	// layouts.
	layoutMu sync.Mutex
	// testHook, when set (tests), is called at named points: "evaluated"
	// (the step's vectors evaluated, layoutMu held) and "layout contended"
	// (changeLayout waits for a step).
	testHook atomic.Pointer[func(point string)]
}

// entityRefresh is how often a known entity's LastSeen is rewritten.
const entityRefresh = 10 * time.Minute

// forgetEvery is how often (data time) the evaluator sweeps known: an
// entity whose sighting was stored more than 2×entityRefresh ago has been
// unseen for more than entityRefresh and is forgotten (a returning entity
// is stored again; the store keeps its first sighting).
const forgetEvery = time.Minute

// minIdle is the least wall time without an evaluated step after which
// expire runs idle steps (idleAfter).
const minIdle = 5 * time.Minute

// settleTime is how long (activity time, see activityClock) after its
// last sample a series still holds steps back, and maxInputDelay the
// longest wall time a step waits for its inputs once the newest sample
// has passed it (see hold).
const (
	settleTime    = 2 * time.Minute
	maxInputDelay = 2 * time.Minute
)

// excludedKeep is how long (wall time) a series excluded from the wait
// (see hold) is remembered once it is no longer seen lagging (it
// stopped, or its lag went unseen behind a slower series).
const excludedKeep = time.Hour

// progressEvery is the least wall time between two scans of the head for
// the inputs' progress (Head.Progress) while a step waits.
const progressEvery = 100 * time.Millisecond

// passedStep is a high target and the wall time (ms) it was first seen.
type passedStep struct{ t, wall int64 }

// behindWarnSteps is how many steps may be due but not yet evaluated, and
// for how many step intervals of wall time the evaluator may have had
// steps due without a break, before it warns that it falls behind
// (noteBehind); behindWarnEvery is the least wall time between two such
// warnings.
const (
	behindWarnSteps = 5
	behindWarnEvery = 10 * time.Minute
)

// lagStretch is a stretch of wall time during which the evaluator always
// had steps due that it had not evaluated yet (see noteBehind).
type lagStretch struct {
	since  int64         // wall time (ms) it began; 0: none (caught up)
	most   int64         // most steps behind seen
	steps  int64         // steps evaluated during it
	took   time.Duration // their wall time
	warned bool          // a warning named it
}

// inputProgress is a Head.Progress result.
type inputProgress struct {
	t    int64 // ms
	lset labels.Labels
	ok   bool
}

// maxCatchUp bounds how many steps one tick evaluates; a source that jumps
// far ahead makes the evaluator skip to the newest steps instead.
const maxCatchUp = 64

func newEvaluator(o evaluatorOptions) *evaluator {
	f := promauto.With(o.Registerer)
	e := &evaluator{
		evaluatorOptions: o,
		known:            map[string]int64{},
		excluded:         map[uint64]int64{},
		stale:            map[string]*staleStretch{},
		clock:            time.Now,
		steps: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "evaluator_steps_total", Help: "Steps evaluated.",
		}),
		skipped: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "evaluator_skipped_steps_total",
			Help: fmt.Sprintf("Steps not evaluated because the in-memory window no longer holds their data: the data jumped ahead more steps than one catch-up evaluates (lookback/step, at most %d; the newest are evaluated), or the window moved on past them, by more than lookback minus the longest feature's range plus a step, before they were evaluated. At a restart, the steps from the last one evaluated before the stop (the store's step cursor) to the newest data replayed from the ingest log count too (at most lookback + 1h of them); after a downtime longer than that (nothing replayed), the downtime's steps are not counted.", maxCatchUp),
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "evaluator_step_failures_total", Help: "Steps whose evaluation, storage or scoring failed.",
		}),
		lastStep: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "omen", Name: "evaluator_last_step_timestamp_seconds", Help: "Data time of the last evaluated step.",
		}),
		forced: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "evaluator_input_timeout_steps_total",
			Help: fmt.Sprintf("Steps evaluated once they had waited %v (wall time) after the newest sample passed them while series still sending (see omen_evaluator_waiting_steps) had not reached them (a slow remote-write shard, a series with timestamps behind the others): those series' samples for the step, if any, arrive late. Those series then hold no step back until their samples reach the step waited on (one warning per exclusion).", maxInputDelay),
		}),
		waiting: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "omen", Name: "evaluator_waiting_steps",
			Help: fmt.Sprintf("Steps the newest sample has passed that wait for the samples of series still sending: a remote-write backlog drained over several shards, a series behind the others, or a series that stopped without a stale marker (a NATS series: Telegraf sends none), which counts as sending until %d of its intervals (the larger of its samples' and its arrivals'; at least %v, at most %v) of arriving data have passed since its last sample; a remote-write series counts for %v. A step waits at most %v of wall time (then omen_evaluator_input_timeout_steps_total); once one has waited %v, omen logs the slowest series (at most every %v).", liveIntervals, liveFloor, settleTime, settleTime, maxInputDelay, heldLogAfter, heldLogEvery),
		}),
		behindG: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "omen", Name: "evaluator_behind_steps",
			Help: "Steps due that the evaluator has not evaluated yet: at the start of each round of evaluations, the steps from the next one to evaluate to the newest ready one (the newest sample has passed it and its inputs are in or waited their longest delay; the steps still waiting for inputs count in omen_evaluator_waiting_steps instead); after each step, those of the round not yet evaluated plus every step the newest sample has passed since the round began. 0 to 2 when the evaluator keeps up; it grows when a step takes longer than the step interval (see omen_evaluator_step_duration_seconds). Steps beyond what the in-memory window holds are skipped (omen_evaluator_skipped_steps_total).",
		}),
		stepDur: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: "omen", Name: "evaluator_step_duration_seconds",
			Help:    "Wall time of one evaluated step: its features evaluated (omen_feature_evaluation_seconds), its vectors stored, scored (omen_scoring_duration_seconds) and its alerts processed. Above the step interval, the evaluator falls behind (omen_evaluator_behind_steps).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
		stalePolled: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "omen", Name: "evaluator_stale_polled_steps_total",
			Help: "Steps evaluated, once the Prometheus poller of source (prometheus/<name>, or prometheus/<url> with its secrets hidden) has polled, before its poll of the step succeeded (a poll whose queries return no series, as a failure label's while nothing fails, counts as current): the features and failure labels it polls read its last values within PromQL's lookback delta (5m), or none beyond it. A step several pollers lag on counts in each one's series. Other sources (remote-write, NATS, another poller) move the evaluator past steps a poller has not delivered (its Prometheus unreachable, a query slower than a step): polled values hold no step back. The values the poller fetches again for those steps afterwards (catch-up) count in omen_ingest_late_samples_total; the steps are not evaluated again.",
		}, []string{"source"}),
		excludedG: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "omen", Name: "evaluator_excluded_series",
			Help: fmt.Sprintf("Series excluded from the wait for inputs: a step waited %v for them (see omen_evaluator_input_timeout_steps_total) and their samples have not caught up with the step waited on since; they hold no step back, and their late samples count in omen_ingest_late_samples_total. A series not seen lagging for %v (stopped) is forgotten. For the life of the process: after a restart every series holds steps back again.", maxInputDelay, excludedKeep),
		}),
	}
	if o.WallClock {
		e.settle, e.maxDelay = settleTime, maxInputDelay
	}
	if o.Ingest != nil {
		o.Ingest.evaluated = &e.done
		o.Ingest.resumed = &e.resumedAt
		o.Ingest.layout = &e.layoutMu
		o.Ingest.storedStep = &e.stored
		e.replayed = o.Ingest.watermark.Load()
	}
	// Through e.clock, which tests replace.
	e.failing = failureLog{logger: e.Logger, now: func() time.Time { return e.clock() }}
	return e
}

func (e *evaluator) run(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			e.saveCursor()
			return nil
		case <-tick.C:
			e.tick(ctx)
		case <-e.Ingest.advanced:
			e.tick(ctx)
		}
	}
}

// tick evaluates every step boundary t with t + step ≤ watermark (one step
// of slack for late samples), capped by the wall clock in production.
func (e *evaluator) tick(ctx context.Context) {
	step := e.Step.Milliseconds()
	if e.WallClock {
		defer e.expire(ctx)
	}
	target, ok := e.target()
	if !ok {
		return
	}
	if e.next == 0 {
		// The data's newest step, not the held target: steps forced
		// before a stop (see hold) left the cursor past the latter.
		e.next = e.resume(e.dataTgt)
	}
	if catchUp := e.catchUp(); target-e.next > catchUp*step {
		why := "their samples are mostly out of the in-memory window"
		if catchUp == maxCatchUp {
			// Bounded by one catch-up, not by the window (a short step).
			why = fmt.Sprintf("one catch-up evaluates at most the newest %d steps", maxCatchUp)
		}
		e.skipTo(target-(catchUp-1)*step, "data jumped ahead: steps skipped, without vectors or predictions ("+why+")")
	}
	// The newest step the newest sample had passed: those it passes while
	// this round evaluates are due too (behind).
	passed := e.dataTgt
	behind := func() int64 {
		n := max(0, (target-e.next)/step+1)
		if hi, ok := e.dataStep(); ok && hi > passed {
			n += (hi - passed) / step
		}
		return n
	}
	e.noteBehind(max(0, (target-e.next)/step+1))
	for e.next <= target {
		if ctx.Err() != nil {
			return
		}
		if e.skipStale() {
			continue
		}
		if e.next > e.lowTgt {
			e.forced.Inc()
		}
		start := e.clock()
		e.evaluate(ctx, e.next)
		took := e.clock().Sub(start)
		e.stepDur.Observe(took.Seconds())
		e.lag.steps++
		e.lag.took += took
		e.next += step
		e.noteBehind(behind())
	}
}

// noteBehind sets the behind steps gauge to n, the steps due but not yet
// evaluated (see tick), and follows the stretch of wall time during which
// some always were: once it has lasted behindWarnSteps step intervals and
// n is behindWarnSteps or more, a warning names the steps' wall time
// against the step interval (at most every behindWarnEvery, so again
// while it lasts); when it ends (nothing due) after a warning, an INFO
// says the evaluator caught up. A backlog evaluated faster than that is
// not warned of, nor is anything without WallClock (a demo's or a
// simulation's data runs ahead of the wall clock by design).
func (e *evaluator) noteBehind(n int64) {
	e.behindG.Set(float64(n))
	if !e.WallClock {
		return
	}
	now := e.clock().UnixMilli()
	l := &e.lag
	if n == 0 {
		if l.warned {
			e.Logger.Info("the evaluator caught up: no step is due that is not evaluated",
				"behind_for", time.Duration(now-l.since)*time.Millisecond, "most_steps_behind", l.most,
				"steps_evaluated", l.steps, "step_duration_avg", l.avg(), "step", e.Step)
		}
		*l = lagStretch{}
		return
	}
	if l.since == 0 {
		l.since = now
	}
	l.most = max(l.most, n)
	step := e.Step.Milliseconds()
	if n < behindWarnSteps || now-l.since < behindWarnSteps*step {
		return
	}
	if e.lagWarnAt != 0 && now-e.lagWarnAt < behindWarnEvery.Milliseconds() && now >= e.lagWarnAt {
		return
	}
	e.lagWarnAt, l.warned = now, true
	e.Logger.Warn("the evaluator falls behind: steps take longer to evaluate than the step interval, and the steps due pile up (predictions are late; steps older than the in-memory window are skipped). See omen_evaluator_step_duration_seconds and its parts omen_feature_evaluation_seconds and omen_scoring_duration_seconds; fewer series or entities, fewer or cheaper features, a longer step or more CPU help",
		"steps_behind", n, "step_duration_avg", l.avg(), "step", e.Step, "next_step", time.UnixMilli(e.next).UTC(),
		"steps_evaluated", l.steps, "behind_for", time.Duration(now-l.since)*time.Millisecond)
}

// avg is the mean wall time of the stretch's steps (0: none).
func (l *lagStretch) avg() time.Duration {
	if l.steps == 0 {
		return 0
	}
	return l.took / time.Duration(l.steps)
}

// target is the newest step to evaluate: the last step boundary t with
// t + step ≤ watermark (capped by the wall clock in production), held
// back while its inputs are still arriving (see hold); ok is false before
// the first data.
func (e *evaluator) target() (t int64, ok bool) {
	t, ok = e.dataStep()
	if !ok {
		return 0, false
	}
	e.dataTgt, e.lowTgt = t, t
	if e.settle > 0 {
		t = e.hold(t)
	}
	return t, true
}

// dataStep is the last step boundary t with t + step ≤ watermark (capped
// by the wall clock in production): the newest step the newest sample has
// passed; ok is false before the first data.
func (e *evaluator) dataStep() (t int64, ok bool) {
	step := e.Step.Milliseconds()
	wm := e.Ingest.watermark.Load()
	if wm == 0 {
		return 0, false
	}
	if e.WallClock {
		if now := time.Now().UnixMilli(); wm > now {
			wm = now
		}
	}
	return (wm - step) / step * step, true
}

// hold returns the newest step to evaluate given hi, the newest the
// newest sample has passed: a step is evaluated once the samples of every
// series still sending have reached it (Head.Progress over the series
// one of the features' vector selectors selects, by all its label
// matchers, that received a sample within settle of activity time and
// whose next sample is not overdue, see ingester.liveness), and at the latest once it has waited
// maxDelay of wall time since hi first passed it. The samples of a
// remote-write backlog arrive over many shards at once, so that one
// shard's newer samples move the watermark past steps whose samples
// another shard has yet to send: evaluated then, such a step reads values
// PromQL's lookback carries forward, and is never evaluated again. A
// series that stops (a deleted pod: a stale marker ends it at once; a
// remote-write series without one after settle; a NATS series after
// liveIntervals of its intervals of arriving data, at least liveFloor and
// at most settle) holds nothing back, nor do sources without series in the
// head (the Prometheus poller, events).
//
// When a step has waited maxDelay, the series whose samples had not
// reached it are excluded from the wait (one warning names the slowest):
// a series that keeps lagging (an exporter that timestamps its samples
// minutes in the past) would otherwise hold every later step for
// maxDelay. An excluded series holds steps back again once its samples
// reach the step waited on (e.next). It sets e.lowTgt to the newest step
// whose inputs are in (the steps after it up to the returned one are
// forced), and the waiting steps gauge.
func (e *evaluator) hold(hi int64) int64 {
	step := e.Step.Milliseconds()
	now := e.clock().UnixMilli()
	if n := len(e.passed); n == 0 || e.passed[n-1].t < hi {
		e.passed = append(e.passed, passedStep{t: hi, wall: now})
	}
	// forced: the newest high target first seen maxDelay ago or more.
	forced, keep := int64(math.MinInt64), 0
	for i, p := range e.passed {
		if now-p.wall < e.maxDelay.Milliseconds() {
			break
		}
		forced, keep = p.t, i
	}
	e.passed = e.passed[keep:]
	if e.next != 0 && e.next > hi { // nothing to evaluate
		e.waiting.Set(0)
		return hi
	}
	waited := hi
	if e.next != 0 {
		waited = e.next
	}
	low := func() int64 {
		if !e.progress.ok {
			return hi
		}
		return min(hi, intmath.FloorDiv(e.progress.t, step)*step)
	}
	// A step about to be forced is decided on a fresh scan.
	if e.progressAt == 0 || now-e.progressAt >= progressEvery.Milliseconds() || now < e.progressAt || (forced > low() && forced >= e.next) {
		e.scanProgress(now, waited, math.MinInt64)
	}
	t := low()
	e.lowTgt = t
	if forced > t && forced >= e.next { // steps to evaluate without all their inputs
		slowest, from := e.progress, max(e.next, t+step)
		n := e.scanProgress(now, waited, forced)
		args := []any{"steps", (forced-from)/step + 1, "from", time.UnixMilli(from).UTC(), "to", time.UnixMilli(forced).UTC(), "max_delay", e.maxDelay,
			"slowest_series", slowest.lset.String(), "slowest_series_through", time.UnixMilli(slowest.t).UTC(), "series_excluded", n, "series_excluded_total", len(e.excluded)}
		e.Logger.Warn("steps evaluated before the samples of every series still sending reached them, after waiting the longest delay; the series behind them no longer hold steps back until their samples reach the step waited on, and their late samples count in omen_ingest_late_samples_total", args...)
		t = forced
	}
	if now-e.sweptAt >= time.Minute.Milliseconds() || now < e.sweptAt {
		e.sweptAt = now
		for h, seen := range e.excluded {
			if now-seen > excludedKeep.Milliseconds() {
				delete(e.excluded, h)
			}
		}
	}
	// After the sweep, or after series caught up (scanProgress): a Go map
	// keeps the buckets of deleted entries.
	e.excluded = mapshrink.Compact(e.excluded, &e.excludedPeak)
	e.waiting.Set(float64((hi - max(t, e.next-step)) / step))
	e.excludedG.Set(float64(len(e.excluded)))
	e.noteHeld(now, hi, max(t, e.next-step))
	return t
}

// heldLogAfter is the wall time a step waits for its inputs before omen
// logs which series holds it (noteHeld), and heldLogEvery the least wall
// time between two such logs.
const (
	heldLogAfter = 30 * time.Second
	heldLogEvery = time.Minute
)

// noteHeld logs, at most every heldLogEvery, that the steps after ready
// up to hi (the newest the newest sample passed) wait for their inputs,
// once the first of them has waited heldLogAfter (wall time, now in ms):
// the slowest series is named, so that a hold (a series that stopped
// without a stale marker, one behind the others) shows in the log before
// it is forced after maxDelay, not only in omen_evaluator_waiting_steps.
func (e *evaluator) noteHeld(now, hi, ready int64) {
	if hi <= ready || !e.progress.ok || now-e.heldLogAt < heldLogEvery.Milliseconds() && now >= e.heldLogAt {
		return
	}
	i := slices.IndexFunc(e.passed, func(p passedStep) bool { return p.t > ready })
	if i < 0 || now-e.passed[i].wall < heldLogAfter.Milliseconds() {
		return
	}
	e.heldLogAt = now
	step := e.Step.Milliseconds()
	// The rule of ingester.liveness, from its constants.
	msg := fmt.Sprintf("steps wait for the samples of a series still sending (a NATS series counts as sending until %d of its intervals of arriving data, at least %v and at most %v, passed since its last sample, a remote-write series until %v; a step waits at most max_delay, then it is evaluated without them)",
		liveIntervals, liveFloor, e.settle, e.settle)
	e.Logger.Info(msg,
		"steps", (hi-ready)/step, "from", time.UnixMilli(ready+step).UTC(), "waited", time.Duration(now-e.passed[i].wall)*time.Millisecond, "max_delay", e.maxDelay,
		"slowest_series", e.progress.lset.String(), "slowest_series_through", time.UnixMilli(e.progress.t).UTC())
}

// scanProgress sets e.progress to the inputs' progress (Head.Progress)
// without the excluded series, now being the wall time (ms). An excluded
// series whose samples reached waited (the step waited on) holds steps
// back again; a series whose samples have not reached behind is
// excluded (math.MinInt64: none). It returns how many it excluded.
func (e *evaluator) scanProgress(now, waited, behind int64) int {
	n := 0
	var back []labels.Labels
	except := func(lset labels.Labels, through int64) bool {
		if len(e.excluded) == 0 && through >= behind {
			return false
		}
		h := lset.Hash()
		if _, ok := e.excluded[h]; ok {
			if through >= waited {
				delete(e.excluded, h)
				back = append(back, lset)
				return false
			}
			e.excluded[h] = now
			return true
		}
		if through < behind {
			e.excluded[h] = now
			e.excludedPeak.Note(len(e.excluded))
			n++
			return true
		}
		return false
	}
	t, lset, ok := e.Ingest.head.ProgressExcept(e.Ingest.liveness(now, e.settle), e.Extractor.Selectors(), except)
	e.progress, e.progressAt = inputProgress{t: t, lset: lset, ok: ok}, now
	for _, l := range back {
		e.Logger.Info("a series excluded from the wait for inputs caught up: it holds steps back again", "series", l.String(), "step", time.UnixMilli(waited).UTC())
	}
	return n
}

// skipStale counts as skipped, and moves e.next past, the steps from
// e.next whose history the in-memory window no longer holds but for at
// most one step of it (features.Extractor.Oldest less a step: steps less
// than lookback − history + two steps behind the newest sample), and
// reports whether e.next moved. Such steps arise when the window moves on
// while the evaluator catches up (a backlog that drains faster than the
// steps are evaluated) or when the data jumps a whole window ahead;
// evaluated, they read part of their ranges or nothing at all. The step
// of slack keeps live ticks that see two new steps at once (a 30 s
// remote-write batch, a slow step) from skipping one at the smallest
// lookback the configuration accepts (history + step); a step missing one
// step of a 10m range is evaluated on 97.5 % of it. The newest step
// (target) is never skipped: a source whose clock runs ahead of omen's
// (WallClock caps the watermark, not the window) would otherwise have
// every step skipped.
func (e *evaluator) skipStale() bool {
	oldest, ok := e.Extractor.Oldest()
	if !ok {
		return false
	}
	step := e.Step.Milliseconds()
	// The first step boundary t with t + 2·step > oldest: t's range may
	// start up to a step before the window.
	first := (intmath.FloorDiv(oldest, step) - 1) * step
	if e.next >= first {
		return false
	}
	cur, _ := e.target() // ok: e.next is set
	next := min(first, cur)
	if next-e.next < step {
		return false
	}
	e.skipTo(next, "the in-memory window moved past steps not yet evaluated: steps skipped, without vectors or predictions (their samples are out of the window)")
	return true
}

// skipTo counts the steps from e.next up to next (exclusive) as skipped,
// with the warning msg, and moves e.next to next.
func (e *evaluator) skipTo(next int64, msg string) {
	step := e.Step.Milliseconds()
	n := (next - e.next) / step
	e.skipped.Add(float64(n))
	e.Logger.Warn(msg, "skipped", n, "from", time.UnixMilli(e.next).UTC(), "to", time.UnixMilli(next-step).UTC())
	e.next = next
}

func (e *evaluator) evaluate(ctx context.Context, t int64) {
	preds, unscored, stored, ok := e.extract(ctx, t)
	if !ok {
		return
	}
	e.alert(ctx, t, preds, unscored)
	e.completed = t
	if !stored {
		e.saveCursor() // no vectors to write it with
	}
}

// saveCursor stores e.completed as the step cursor, unless it is stored
// already. A step with vectors writes the cursor of the step before it in
// its vectors' transaction (see store), so a crash between the vectors
// and the step's predictions has the step evaluated again after the
// restart; the evaluator's stop writes its last step's.
func (e *evaluator) saveCursor() {
	if e.completed == 0 || e.completed == e.cursor {
		return
	}
	if err := e.Store.PutStepCursor(e.completed); err != nil {
		e.failing.failed(opStoreCursor, err, "t", time.UnixMilli(e.completed).UTC())
		return
	}
	e.failing.worked(opStoreCursor)
	e.cursor = e.completed
}

// resumeSlack is how much older than the replayed data the step cursor
// may be, beyond the lookback, for the steps in between to count as
// missed: the ingest log's replay reads the batches received within the
// lookback and an hour (ingester.replay).
const resumeSlack = time.Hour

// resume is the first step to evaluate, the data's newest step being
// target (the newest the watermark passed, not the step hold lets
// through: steps that waited maxDelay before a stop were evaluated, and
// the cursor is past the held target then; the evaluator waits for the
// steps after the cursor as for any): the step after the step cursor a previous run stored (the last
// step it evaluated), so that the steps it had data for but had not
// reached are evaluated, or, if the in-memory window no longer holds
// them, counted skipped (tick, skipStale). Without a cursor it is target
// (a new store: the newest step only), and so it is when nothing was
// replayed (a downtime longer than the replay window, or an ingest log
// without batches): the steps from the cursor on had no data, and are
// not counted. A cursor newer than the replayed data (a data or clock
// reset) is ignored, with a warning. The steps counted missed are at most
// those of lookback + resumeSlack before the replayed data's newest step.
func (e *evaluator) resume(target int64) int64 {
	cur, ok, err := e.Store.StepCursor()
	if err != nil {
		e.Logger.Error("read the step cursor: resuming at the newest step", "err", err)
		return target
	}
	if !ok {
		return target
	}
	step := e.Step.Milliseconds()
	if e.replayed == 0 {
		e.Logger.Info("no data replayed: resuming at the newest step of the new data, the steps since the step cursor are not counted skipped",
			"cursor", time.UnixMilli(cur).UTC(), "newest", time.UnixMilli(target).UTC())
		return target
	}
	newest := min(target, (e.replayed-step)/step*step)
	if cur > newest {
		e.Logger.Warn("the step cursor is newer than the replayed data (the data or the clock was reset): ignored, resuming at the newest step",
			"cursor", time.UnixMilli(cur).UTC(), "newest", time.UnixMilli(newest).UTC())
		return target
	}
	e.cursor, e.completed = cur, cur
	// Samples for its steps are late, but for the poller's backfill of
	// them (stored first: the ingester loads done first).
	e.resumedAt.Store(cur)
	e.stored.Store(cur) // the previous process stored its steps' vectors
	e.done.Store(cur)
	// The last step evaluated, until this process evaluates one: the
	// gauge read 0 (time() - it ≈ 56 years) while the first steps waited.
	e.lastStep.Set(float64(cur) / 1000)
	// On the step grid: a cursor written at another step (the step
	// changed with the restart: a reload refuses that) is rounded down to
	// this one, else every later step would stay off the grid.
	next := intmath.FloorDiv(cur, step)*step + step
	if oldest := newest - (e.Lookback+resumeSlack).Milliseconds()/step*step; next < oldest {
		e.Logger.Warn("the step cursor is older than the replayed data: the steps before it are not counted skipped",
			"cursor", time.UnixMilli(cur).UTC(), "not_counted", (oldest-next)/step, "from", time.UnixMilli(oldest).UTC())
		next = oldest
	}
	return next
}

// extract evaluates, stores and scores the step's vectors under layoutMu,
// all under one feature layout; ok is false when the evaluation failed.
// unscored are the vectors of the entities the model did not score (see
// scorer.score).
func (e *evaluator) extract(ctx context.Context, t int64) (preds []prediction, unscored []features.Vector, stored, ok bool) {
	e.layoutMu.Lock()
	defer e.layoutMu.Unlock()
	if e.Ingest != nil {
		// Loaded before the evaluation: a poll applied after it may be missed.
		e.polled = e.Ingest.polledTimes(e.polled)
	}
	vs, err := e.Extractor.Evaluate(ctx, time.UnixMilli(t))
	if err != nil && ctx.Err() != nil {
		return nil, nil, false, false // stopping: the step is not a failure
	}
	if err != nil {
		e.failures.Inc()
		e.failing.failed(opEvaluate, err, "t", time.UnixMilli(t).UTC())
		return nil, nil, false, false
	}
	e.failing.worked(opEvaluate)
	e.hook("evaluated")
	e.steps.Inc()
	e.notePolled(t, e.polled)
	e.lastStep.Set(float64(t) / 1000)
	e.done.Store(t)
	e.lastWall, e.lastT, e.idleNext = e.clock().UnixMilli(), t, 0
	vs, failing := dropAbsent(vs, e.instantFeatures())
	if all := append(vs, failing...); len(all) > 0 {
		stored = e.store(t, all)
	}
	e.stored.Store(t)
	preds, unscored, err = e.Scorer.score(ctx, t, vs)
	if err != nil {
		e.failures.Inc()
		e.failing.failed(opScore, err, "t", time.UnixMilli(t).UTC())
	} else {
		e.failing.worked(opScore)
	}
	markFailing(preds, vs)
	// An absent entity whose failure label fires (a target down: `up` is
	// 0 and its metrics gone) is stored, so that history holds the
	// failure, and keeps its alert state, but is not scored.
	return preds, append(unscored, failing...), stored, true
}

// staleStretch is a poll source's current stretch of stale steps (see
// notePolled): from is its first step (0: none), n how many it holds; c
// is the source's omen_evaluator_stale_polled_steps_total.
type staleStretch struct {
	c       prometheus.Counter
	from, n int64
}

// notePolled counts step t, evaluated when each poll source of polled
// (those that have delivered; see ingester.polledAt: a poll of no series
// counts) had polled up to its time, in the
// omen_evaluator_stale_polled_steps_total of each source whose time is
// before t: no poll of t by it had succeeded, and the values it polls
// are older ones (PromQL's lookback delta) or none. A source's first
// such step after current ones is warned of, and the end of its stretch
// logged at info. The pollers are fixed for the life of the process (a
// reload cannot change them), so a source once seen stays in polled.
func (e *evaluator) notePolled(t int64, polled []sourceTime) {
	for _, p := range polled {
		s := e.stale[p.source]
		if s == nil {
			s = &staleStretch{c: e.stalePolled.WithLabelValues(p.source)}
			e.stale[p.source] = s
		}
		if p.t >= t {
			if s.from != 0 {
				e.Logger.Info("steps evaluated on current Prometheus poller values again",
					"source", p.source, "stale_steps", s.n, "from", time.UnixMilli(s.from).UTC(), "to", time.UnixMilli(t-e.Step.Milliseconds()).UTC())
				s.from, s.n = 0, 0
			}
			continue
		}
		s.c.Inc()
		s.n++
		if s.from == 0 {
			s.from = t
			e.Logger.Warn("step evaluated before the Prometheus poller's values of it arrived (its Prometheus unreachable or slow; other sources moved the evaluator on): the values it polls are its older ones carried forward, within the lookback delta, or absent (unless another poller delivers them); counted in omen_evaluator_stale_polled_steps_total until its polled values are current again",
				"source", p.source, "step", time.UnixMilli(t).UTC(), "polled_through", time.UnixMilli(p.t).UTC())
		}
	}
}

// hook calls the test hook, if any.
func (e *evaluator) hook(point string) {
	if h := e.testHook.Load(); h != nil {
		(*h)(point)
	}
}

// changeLayout runs fn, a configuration reload's change of the feature
// layout (the store's schema, the extractor's configuration, the scorer's
// features), between steps: a step in progress completes first under the
// old layout, and the next one is evaluated under the new.
func (e *evaluator) changeLayout(fn func() error) error {
	if !e.layoutMu.TryLock() {
		e.hook("layout contended")
		e.layoutMu.Lock()
	}
	defer e.layoutMu.Unlock()
	return fn()
}

// catchUp is how many steps one tick evaluates at most: maxCatchUp, and
// no more than the in-memory window holds (Lookback/Step): an older step
// would be evaluated on samples the window no longer has. Of these, the
// steps whose features read history the window no longer holds are
// skipped too, step by step as the window moves (skipStale).
func (e *evaluator) catchUp() int64 {
	n := int64(maxCatchUp)
	if e.Lookback > 0 && e.Step > 0 {
		n = min(n, max(1, int64(e.Lookback/e.Step)))
	}
	return n
}

// idle runs a step without vectors (see expire): the scorer drops the
// windows and exported predictions of the entities gone silent, and the
// alerts count a missing step for the entities without a prediction.
func (e *evaluator) idle(ctx context.Context, t int64) {
	_, _, _ = e.Scorer.score(ctx, t, nil) // nothing to score or store
	e.alert(ctx, t, nil, nil)
}

// alert hands the step's predictions to the alerts and forgets the
// entities gone. It runs at every step, also one without vectors: the
// alerts of entities without a prediction count a missing step and
// resolve after alert.Options.MissingSteps of them; the unscored
// entities (a window still filling, a scoring failure) keep their alert
// state. With no model loaded no entity is unscored: its alerts resolve.
func (e *evaluator) alert(ctx context.Context, t int64, preds []prediction, unscored []features.Vector) {
	if e.Alerts != nil {
		e.Alerts.process(ctx, t, preds, unscored)
	}
	e.forget(t)
}

// forget sweeps known every forgetEvery of data time.
func (e *evaluator) forget(t int64) {
	if t >= e.forgotAt && t-e.forgotAt < forgetEvery.Milliseconds() {
		return
	}
	e.forgotAt = t
	old := t - 2*entityRefresh.Milliseconds()
	e.knownPeak.Note(len(e.known))
	for id, last := range e.known {
		if last < old {
			delete(e.known, id)
		}
	}
	// A Go map keeps the buckets of deleted entries: after a churn known
	// is rebuilt for the entities left.
	e.known = mapshrink.Compact(e.known, &e.knownPeak)
}

// idleAfter is the wall time without an evaluated step after which expire
// runs idle steps: max(minIdle, 10 steps).
func (e *evaluator) idleAfter() int64 {
	return max(minIdle, 10*e.Step).Milliseconds()
}

// expire keeps the step clock going on the wall clock when no step has
// been evaluated for idleAfter (WallClock only: every source stopped, or
// the watermark is stuck). A data clock then runs with the wall clock
// from the last evaluated step, and each of its steps is an idle step
// without vectors: the scorer drops the windows and exported
// predictions of the silent entities and their alerts resolve after their
// missing steps, as if the data went on without them (the idle steps of
// idleAfter run at once). Steps of data that arrives later are evaluated
// as usual (e.next does not move).
func (e *evaluator) expire(ctx context.Context) {
	now := e.clock().UnixMilli()
	step := e.Step.Milliseconds()
	if e.lastWall == 0 { // no step yet: the data clock starts at the wall clock
		e.lastWall, e.lastT = now, now/step*step
	}
	idle := now - e.lastWall
	if idle < e.idleAfter() {
		return
	}
	target := (e.lastT + idle) / step * step
	if e.idleNext == 0 {
		e.idleNext = e.lastT + step
	}
	if target-e.idleNext > maxCatchUp*step {
		e.idleNext = target - (maxCatchUp-1)*step
	}
	for ; e.idleNext <= target; e.idleNext += step {
		if ctx.Err() != nil {
			return
		}
		e.idle(ctx, e.idleNext)
	}
}

// store writes the step's vectors, and the sightings of new entities (and
// of known ones every entityRefresh). The store skips (and counts in
// omen_store_invalid_records_total) a vector or sighting whose entity it
// cannot key (store.ValidEntity), storing the others; such an entity is
// marked known so it is not retried every step. The vectors carry the
// step cursor of the step before (saveCursor); stored reports whether
// it was written.
func (e *evaluator) store(t int64, vs []features.Vector) (stored bool) {
	recs := make([]store.Vector, len(vs))
	var seen []store.EntityInfo
	for i, v := range vs {
		recs[i] = store.Vector{Entity: v.Entity, T: v.T, Values: v.Values, Failure: v.Failure}
		// New entities, and known ones every entityRefresh, in one
		// transaction: LastSeen stays current without a write per step.
		if last, ok := e.known[v.Entity]; !ok || v.T-last >= entityRefresh.Milliseconds() {
			seen = append(seen, store.EntityInfo{ID: v.Entity, Labels: v.Labels, FirstSeen: v.T, LastSeen: v.T})
		}
	}
	if len(seen) > 0 {
		if err := e.Store.PutEntities(seen); err != nil {
			e.failing.failed(opStoreEntities, err, "n", len(seen))
		} else {
			e.failing.worked(opStoreEntities)
			for _, en := range seen {
				e.known[en.ID] = en.LastSeen
			}
		}
	}
	var err error
	if e.completed != 0 {
		err = e.Store.PutVectorsStepCursor(recs, e.completed)
	} else {
		err = e.Store.PutVectors(recs)
	}
	if err != nil {
		e.failures.Inc()
		e.failing.failed(opStoreVectors, err, "t", time.UnixMilli(t).UTC())
		return false
	}
	e.failing.worked(opStoreVectors)
	e.cursor = e.completed
	return true
}

// instantFeatures returns features.Config.InstantFeatures of the
// extractor's configuration, cached until the feature names change.
func (e *evaluator) instantFeatures() []bool {
	cfg := e.Extractor.Config()
	names := features.Names(cfg)
	if !slices.Equal(names, e.instantNames) {
		e.instant, e.instantNames = cfg.InstantFeatures(), names
	}
	return e.instant
}

// dropAbsent removes the vectors of entities that are no longer (or not
// yet) there: none of the instant PromQL features (instant[i]) has a value
// (with no instant feature, none of the PromQL features). A deleted pod
// keeps getting vectors for a while from its late events and from range
// functions over its last samples, but there is nothing to score, and
// scoring them raised false alarms on every pod a rollout removed. Their
// events stay in the event store. Of the removed vectors, those with a
// failure label set are returned as failing: a label such as 1 - up fires
// exactly when the target's metrics are gone, and dropping those vectors
// kept every such failure out of the stored history (training found
// none). vs's backing array is reused for present.
func dropAbsent(vs []features.Vector, instant []bool) (present, failing []features.Vector) {
	mask := features.PresenceMask(instant)
	present = vs[:0]
	for _, v := range vs {
		has := false
		for i, counts := range mask {
			if counts && i < len(v.Values) && v.Values[i] == v.Values[i] { // a value, not NaN
				has = true
				break
			}
		}
		switch {
		case has:
			present = append(present, v)
		case slices.Contains(v.Failure, true):
			failing = append(failing, v)
		}
	}
	return present, failing
}

// What the evaluator retries at every step, the keys of its failing runs
// (and their log records' messages).
const (
	opEvaluate      = "evaluate features"
	opScore         = "score the step"
	opStoreVectors  = "store feature vectors"
	opStoreEntities = "store entities"
	opStoreCursor   = "store the step cursor"
)
