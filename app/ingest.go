package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/stream"
	"github.com/omen-sre/omen/telemetry"
)

// ingester is the stream.Appender of the daemon: a batch is committed to
// the store's ingest log first (so it survives a restart and may be
// acknowledged), then applied to the in-memory PromQL head and the event
// counters. Duplicates (redeliveries) are skipped by the store and never
// applied twice.
type ingester struct {
	store *store.Store
	// log is where batches are committed and replayed from: the store,
	// or a stand-in in tests.
	log       ingestLog
	head      *features.Head
	extractor *features.Extractor
	logger    *slog.Logger

	// watermark is the newest sample or event time applied, in ms.
	watermark atomic.Int64
	// applied counts samples applied to the head (or polled features).
	applied atomic.Int64
	// polledAt is, by poll source (a poller's batches' Source, the
	// source Polled is told), the newest time it polled (ms): of its
	// samples applied, or of a poll reported by Polled, which may have
	// returned no series (a failure label's query while nothing fails).
	// A source is in it once it has delivered; the pollers cannot change
	// without a restart (restartOnly), so the set is fixed once each has.
	// The evaluator counts the steps it evaluates after a source's time,
	// on that source's polled features carried forward (see
	// evaluator.notePolled): one marker for all pollers hid a poller
	// that is down behind another's fresh polls. polledMu guards it.
	polledMu sync.Mutex
	polledAt map[string]int64
	// advanced is signalled (without blocking) when the watermark moves,
	// so the evaluator need not wait for its next tick.
	advanced chan struct{}
	// activity is the clock the head's series are stamped with when
	// they receive a sample (see liveness).
	activity activityClock
	clock    func() time.Time // time.Now; a fake in tests

	// commits is a semaphore of the commits in flight (at most
	// maxCommits): a slot is taken before a commit starts and given back
	// when it ends, so while the store is stalled the commits that Appends
	// left running in the background, and the batches they hold, stay
	// bounded however often sources retry.
	commits chan struct{}

	// evaluated is the evaluator's last evaluated step (ms; nil or 0:
	// none), set by newEvaluator: a sample at or before it comes after
	// its steps were evaluated without it (late).
	evaluated *atomic.Int64
	// resumed is the step cursor the evaluator resumed after at start
	// (ms; nil or 0: none), set by newEvaluator: polled samples at or
	// before it are the poller's backfill fetching again the window of
	// steps the previous process evaluated, not late.
	resumed *atomic.Int64
	// layout is the evaluator's layoutMu (nil: no evaluator), set by
	// newEvaluator: held while a step's vectors are evaluated and stored,
	// so a late event's label that found no vector is tried again once
	// the step in progress has stored its vectors (see recordLate).
	layout *sync.Mutex
	// storedStep is the last step whose vectors the evaluator stored (ms),
	// set by newEvaluator.
	storedStep *atomic.Int64

	batches    *prometheus.CounterVec
	late       prometheus.Counter
	lateEvents prometheus.Counter
	// lateFailures counts the failure labels of late events by whether
	// they were set on the stored vector of their step.
	lateFailures *prometheus.CounterVec
	applyDrops   prometheus.Counter
	abandoned    prometheus.Counter
	refused      prometheus.Counter
}

// maxCommits bounds the ingest-log commits in flight. The store packs
// concurrent commits into one transaction, so a few run side by side;
// beyond that an Append waits for a slot (as long as its context allows).
const maxCommits = 16

// ingestLog is the part of *store.Store the ingester uses.
type ingestLog interface {
	AppendNew(bs []telemetry.Batch) (storedIdx []int, err error)
	ReplayBatches(since int64, fn func(telemetry.Batch) error) error
	Seen(source string, seqs []uint64) ([]telemetry.SeenState, error)
}

func newIngester(st *store.Store, head *features.Head, ex *features.Extractor, reg prometheus.Registerer, logger *slog.Logger) *ingester {
	f := promauto.With(reg)
	in := &ingester{
		store: st, log: st, head: head, extractor: ex, logger: logger,
		advanced: make(chan struct{}, 1),
		clock:    time.Now,
		commits:  make(chan struct{}, maxCommits),
		batches: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "omen", Name: "ingest_batches_total",
			Help: "Batches handed to the store by result: stored, duplicate (stored before), marker (an empty batch stored: the NATS consumer's record of a message it dead-lettered or expired, which holds no data).",
		}, []string{"result"}),
		late: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "ingest_late_samples_total",
			Help: "Samples of series a feature reads (one of the features' vector selectors selects them, or polled features) received for a time at or before the last evaluated step: the steps from their time on were evaluated without them, and are not evaluated again (those older than the in-memory window are also dropped as too_old). Samples of the other series are not counted, nor are polled samples at or before the last step evaluated before a restart (the step cursor): the Prometheus poller's backfill fetches the window again at start, and the previous process evaluated those steps with its own polls. A poll whose queries answer after other sources' samples moved the evaluator past its time, and a backfill that arrives after steps past the cursor were evaluated without it, count.",
		}),
		lateEvents: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "ingest_late_events_total",
			Help: "Events of a reason a feature or failure label uses (with the entity labels, not a redelivery) received for a time at or before the last evaluated step. Events hold no step back (only series still sending do), so an event that reaches omen after the samples that moved the evaluator past its step is late, a second is enough: the event features of the steps from its time on that were evaluated without it stay so (later steps whose window holds it count it), and the failure labels it sets at its step are set on the step's stored vector instead (omen_ingest_late_failure_labels_total), for training; the daemon's predictions and alerts, which that step is past, do not change. Those older than the in-memory window are also dropped as too_old.",
		}),
		lateFailures: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "omen", Name: "ingest_late_failure_labels_total",
			Help: "Failure labels set by late events (see omen_ingest_late_events_total) at steps already evaluated, by result: stored (set on the entity's stored vector of the event's step, which training reads), no_vector (the entity has no stored vector at that step: it had none, retention deleted it, or its layout has no such label; an event of the step whose vectors are being written waits for them), error (the store failed; logged).",
		}, []string{"result"}),
		applyDrops: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "ingest_head_rejected_samples_total",
			Help: "Samples committed to the ingest log that the in-memory head rejected (cardinality, out of window).",
		}),
		abandoned: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "ingest_append_timeouts_total",
			Help: "Append calls that returned because their context ended (a source's timeout, shutdown) while the commit went on in the background.",
		}),
		refused: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "ingest_append_refused_total",
			Help: "Append calls whose context ended while they waited for one of the in-flight commits to finish (the store is slow); nothing of theirs was committed.",
		}),
	}
	// Every result exported from the start, at 0: the series existed only
	// after the first late label, so rate() and alerts found nothing.
	for _, r := range []string{"stored", "no_vector", "error"} {
		in.lateFailures.WithLabelValues(r)
	}
	return in
}

// Append implements stream.Appender. It returns once the batches are
// committed and applied, or as soon as ctx is done, whichever comes first
// (so that a source's deadline, such as the remote-write receiver's
// AppendTimeout, holds while the store is slow). At most maxCommits
// commits are in flight: Append first waits for a slot, and when ctx ends
// meanwhile it returns an error wrapping ctx.Err() having started
// nothing. A commit cannot be interrupted: when ctx ends after it started,
// Append returns an error wrapping ctx.Err() and the commit goes on in the
// background, keeping its slot; batches it commits are applied then (a
// redelivery is a duplicate). Until then it keeps reading batches, which
// the caller must therefore not reuse (see stream.Appender).
func (in *ingester) Append(ctx context.Context, batches []telemetry.Batch) error {
	_, err := in.AppendStored(ctx, batches)
	return err
}

// AppendStored implements stream.StoredAppender: it is Append, returning
// the indexes of the batches it stored (the others were duplicates), so
// that the NATS consumer counts in omen_ingested_samples_total and
// omen_ingested_events_total only what was stored, not a redelivery the
// store skipped.
func (in *ingester) AppendStored(ctx context.Context, batches []telemetry.Batch) ([]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("commit %d batches to the ingest log: %w", len(batches), err)
	}
	select {
	case in.commits <- struct{}{}:
	case <-ctx.Done():
		in.refused.Inc()
		return nil, fmt.Errorf("commit %d batches to the ingest log: %w (waiting for %d commits in flight; the store is slow)", len(batches), ctx.Err(), cap(in.commits))
	}
	type result struct {
		stored []int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-in.commits }()
		stored, err := in.appendStored(batches)
		done <- result{stored, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		return r.stored, nil
	case <-ctx.Done():
		in.abandoned.Inc()
		return nil, fmt.Errorf("commit %d batches to the ingest log: %w (the commit goes on in the background)", len(batches), ctx.Err())
	}
}

// Seen implements stream.SeenChecker with the store's duplicate set, so
// that the NATS consumer acknowledges a redelivered message stored before
// without decoding it. A Seq at or below the store's retention floor
// whose key retention dropped is telemetry.SeenBelowFloor: the store cannot
// tell whether it was stored, and the NATS consumer decides by the
// message.
func (in *ingester) Seen(source string, seqs []uint64) ([]telemetry.SeenState, error) {
	seen, err := in.log.Seen(source, seqs)
	if err != nil {
		return nil, fmt.Errorf("look up stored batches: %w", err)
	}
	return seen, nil
}

var (
	_ stream.SeenChecker    = (*ingester)(nil)
	_ stream.StoredAppender = (*ingester)(nil)
)

// appendStored commits batches to the ingest log, applies those it
// stored and returns their indexes. A call of empty batches only (the
// markers the NATS consumer stores for the messages it dead-lettered or
// expired, and the batches of well-formed messages of nothing: an empty
// JSON batch) is no arrival of data: it leaves the activity clock alone, so
// that a stream carrying only poison does not keep it running. Empty
// batches stored count as result="marker", not "stored", in any call.
func (in *ingester) appendStored(batches []telemetry.Batch) ([]int, error) {
	stored, err := in.log.AppendNew(batches)
	if !allEmpty(batches) {
		in.head.SetStamp(in.activity.at(in.clock().UnixMilli()))
	}
	// Batches committed before an error are applied too: the store
	// remembers them, so their redelivery is a duplicate and would never
	// reach the head otherwise.
	in.applyAll(batches, stored)
	markers := 0
	for _, i := range stored {
		if emptyBatch(&batches[i]) {
			markers++
		}
	}
	in.batches.WithLabelValues("stored").Add(float64(len(stored) - markers))
	in.batches.WithLabelValues("marker").Add(float64(markers))
	if errors.Is(err, store.ErrTooLarge) {
		// Permanent: a retry or redelivery fails the same way, so the
		// sources reject (HTTP 400) or dead-letter it instead.
		return nil, fmt.Errorf("commit %d batches to the ingest log: %w: %w", len(batches), stream.ErrInvalid, err)
	}
	if err != nil {
		return nil, fmt.Errorf("commit %d batches to the ingest log: %w", len(batches), err)
	}
	if dup := len(batches) - len(stored); dup > 0 {
		in.batches.WithLabelValues("duplicate").Add(float64(dup))
	}
	return stored, nil
}

// emptyBatch reports whether b holds no sample and no event: the marker of
// a NATS message dead-lettered or expired (see stream.SeenChecker), or a
// message of nothing (an empty JSON batch).
func emptyBatch(b *telemetry.Batch) bool { return len(b.Samples) == 0 && len(b.Events) == 0 }

// allEmpty reports whether every batch of bs is empty.
func allEmpty(bs []telemetry.Batch) bool {
	for i := range bs {
		if !emptyBatch(&bs[i]) {
			return false
		}
	}
	return true
}

// parallelApplyMin is the number of samples of one Append above which
// they are appended to the head by several goroutines, each taking the
// series of its part of the head's shards (so each series' samples stay in
// order).
const parallelApplyMin = 8192

// applyAll applies batches[i] for i in idx. Large calls append their
// samples to the head on up to GOMAXPROCS goroutines first
// (Head.AppendConcurrent); events and polled values are then applied in
// order, and the watermark moves last, once for the whole call: the
// evaluator evaluates the steps it passes at once, and a step passed by
// the call's first batch would be evaluated without the others (the
// poller's backfill appends every query's results of a time range in one
// call, a batch each).
func (in *ingester) applyAll(batches []telemetry.Batch, idx []int) {
	maxT := int64(0)
	var late []features.LateFailure
	defer func() {
		in.recordLate(late)
		in.advance(maxT)
	}()
	n := 0
	for _, i := range idx {
		if !in.polled(&batches[i]) {
			n += len(batches[i].Samples)
		}
	}
	parts := runtime.GOMAXPROCS(0)
	if n < parallelApplyMin || parts < 2 {
		for _, i := range idx {
			t, lf := in.applyLate(&batches[i], true)
			maxT, late = max(maxT, t), append(late, lf...)
		}
		return
	}
	// Remote-write batches apart (see marked): in practice a call holds
	// one source's batches.
	var samples, marked [][]telemetry.Sample
	for _, i := range idx {
		if b := &batches[i]; in.marked(b) {
			marked = append(marked, b.Samples)
		} else if !in.polled(b) {
			samples = append(samples, b.Samples)
		}
	}
	stored, _ := in.head.AppendConcurrent(samples, parts)
	if len(marked) > 0 {
		k, _ := in.head.AppendConcurrentMarked(marked, parts)
		stored += k
	}
	if d := n - stored; d > 0 {
		in.applyDrops.Add(float64(d))
	}
	for _, i := range idx {
		t, lf := in.applyLate(&batches[i], false)
		maxT, late = max(maxT, t), append(late, lf...)
	}
}

// Polled moves source's polled time to t, a poll's time, reported by a
// poller after the poll's Append (stream.PollObserver): a poll whose
// queries returned no series appends nothing, yet its step's polled
// values are current.
func (in *ingester) Polled(source string, t time.Time) {
	in.notePolled(source, t.UnixMilli())
}

var _ stream.PollObserver = (*ingester)(nil)

// notePolled moves source's polled time (polledAt) to t if t is newer.
func (in *ingester) notePolled(source string, t int64) {
	in.polledMu.Lock()
	defer in.polledMu.Unlock()
	if pt, ok := in.polledAt[source]; ok && pt >= t {
		return
	}
	if in.polledAt == nil {
		in.polledAt = map[string]int64{}
	}
	in.polledAt[source] = t
}

// sourceTime is a poll source and the newest time it polled (ms).
type sourceTime struct {
	source string
	t      int64
}

// polledTimes returns, in dst[:0], each poll source that has delivered
// with its newest polled time (polledAt), sorted by source.
func (in *ingester) polledTimes(dst []sourceTime) []sourceTime {
	dst = dst[:0]
	in.polledMu.Lock()
	for s, t := range in.polledAt {
		dst = append(dst, sourceTime{s, t})
	}
	in.polledMu.Unlock()
	slices.SortFunc(dst, func(a, b sourceTime) int { return strings.Compare(a.source, b.source) })
	return dst
}

func (in *ingester) polled(b *telemetry.Batch) bool {
	return strings.HasPrefix(b.Source, pollerSourcePrefix)
}

// marked reports whether b comes from a source that ends its series with
// stale markers: Prometheus remote write. Its series hold steps back for
// settle after their last sample (features.Head.AppendMarked), not for
// liveIntervals of their interval as the series of NATS (Telegraf and
// other push agents send no stale markers) do: a remote-write shard that
// stalls (a request retried after remote_timeout, 30 s by default) while
// the others keep sending delays its series by a minute or more, and at
// liveIntervals of a 15 s scrape they were released after 45 s, their
// samples then arriving late.
func (in *ingester) marked(b *telemetry.Batch) bool {
	return b.Source == remoteWriteSource
}

func (in *ingester) appendToHead(b *telemetry.Batch) {
	samples := b.Samples
	if len(samples) == 0 {
		return
	}
	var n int
	if in.marked(b) {
		n, _ = in.head.AppendMarked(samples)
	} else {
		n, _ = in.head.Append(samples)
	}
	if d := len(samples) - n; d > 0 {
		in.applyDrops.Add(float64(d))
	}
}

// apply applies b, but for the watermark (see advance); with head false
// its samples are already in the head. It returns the newest sample or
// event time of b.
func (in *ingester) apply(b *telemetry.Batch, head bool) int64 {
	t, late := in.applyLate(b, head)
	in.recordLate(late)
	return t
}

// applyLate is apply, but for the failure labels of b's late events too
// (see recordLate), which it returns.
func (in *ingester) applyLate(b *telemetry.Batch, head bool) (int64, []features.LateFailure) {
	maxT := int64(0)
	if in.polled(b) {
		in.extractor.AddPolled(b.Samples)
	} else if head {
		in.appendToHead(b)
	}
	in.applied.Add(int64(len(b.Samples)))
	done, resumed, late := int64(0), int64(0), 0
	if in.evaluated != nil {
		done = in.evaluated.Load()
	}
	if in.resumed != nil {
		// Loaded after done, which resume stores after it.
		resumed = in.resumed.Load()
	}
	polled := in.polled(b)
	for i := range b.Samples {
		t := b.Samples[i].T
		if t > maxT {
			maxT = t
		}
		if t > done {
			continue
		}
		if polled && t > resumed || !polled && in.extractor.Selects(b.Samples[i].Labels) {
			late++
		}
	}
	if late > 0 {
		in.late.Add(float64(late))
	}
	if polled && len(b.Samples) > 0 {
		in.notePolled(b.Source, maxT)
	}
	var failures []features.LateFailure
	if len(b.Events) > 0 {
		var lateEvents int
		lateEvents, failures = in.extractor.AddEventsLate(b.Events, done)
		if lateEvents > 0 {
			in.lateEvents.Add(float64(lateEvents))
		}
		for i := range b.Events {
			if t := b.Events[i].T; t > maxT {
				maxT = t
			}
		}
	}
	return maxT, failures
}

// recordLate sets the failure labels of late events on the stored
// vectors of their steps, so that training, which reads the labels from
// the stored history, sees those failures (an evaluation labels only the
// events of its own step, and the step was evaluated before they came).
// The daemon's live state is left alone: the step's predictions and
// alerts are past, and a late label is for training.
func (in *ingester) recordLate(late []features.LateFailure) {
	if len(late) == 0 {
		return
	}
	if in.store == nil {
		in.lateFailures.WithLabelValues("no_vector").Add(float64(len(late)))
		return
	}
	marks := make([]store.FailureMark, len(late))
	for i, l := range late {
		marks[i] = store.FailureMark{Entity: l.Entity, T: l.T, Label: l.Label}
	}
	// The marks of a step whose vectors may not be written yet (after the
	// last step stored: its features evaluated, its vectors not yet
	// written) are tried again, if they found no vector, once the step
	// holds layoutMu no more; the others are not (an entity without a
	// vector at that step, or retention deleted it), so that they never
	// wait for a step.
	var pending []store.FailureMark
	if in.layout != nil && in.storedStep != nil {
		through := in.storedStep.Load()
		n := 0
		for _, m := range marks {
			if m.T > through {
				pending = append(pending, m)
			} else {
				marks[n] = m
				n++
			}
		}
		marks = marks[:n]
	}
	set, err := in.store.SetFailures(marks)
	if err == nil && len(pending) > 0 {
		var p int
		p, err = in.store.SetFailures(pending)
		if err == nil && p < len(pending) {
			in.layout.Lock()
			p, err = in.store.SetFailures(pending) // those already set are set again: idempotent
			in.layout.Unlock()
		}
		set += p
	}
	if err != nil {
		in.lateFailures.WithLabelValues("error").Add(float64(len(late)))
		in.logger.Error("set the failure labels of late events on their stored vectors", "n", len(late), "err", err)
		return
	}
	in.lateFailures.WithLabelValues("stored").Add(float64(set))
	if n := len(late) - set; n > 0 {
		in.lateFailures.WithLabelValues("no_vector").Add(float64(n))
	}
}

// advance moves the watermark to maxT (ms) if that is newer, and signals
// the evaluator.
func (in *ingester) advance(maxT int64) {
	for {
		cur := in.watermark.Load()
		if maxT <= cur {
			return
		}
		if in.watermark.CompareAndSwap(cur, maxT) {
			select {
			case in.advanced <- struct{}{}:
			default:
			}
			return
		}
	}
}

// liveness tells which series count as still sending (Head.Progress),
// wall being the wall clock (ms): on activity time (the head's stamps), a
// series that received a sample less than settle ago whose next sample
// is not overdue by more than liveIntervals−1 of its intervals (see
// features.Liveness), counted as data arrives: of the time since its last
// sample, the part no data arrived in (a pause still going on, the
// latest outage's counted part) does not count. A series that stops amid
// the others (a pod out of CrashLoopBackOff whose
// kube_pod_container_status_waiting_reason series Telegraf no longer
// sends, without a stale marker) then holds steps back for
// liveIntervals of its interval, at least liveFloor and at most settle,
// of arriving data: 15 s for a 5 s series, where it held them for settle
// (2 minutes) and a reviewer saw every step lag by up to 117 s.
func (in *ingester) liveness(wall int64, settle time.Duration) features.Liveness {
	now, last, paused, outage := in.activity.state(wall)
	return features.Liveness{Since: now - settle.Milliseconds() + 1, Last: last, Paused: paused, Outage: outage,
		PerInterval: liveIntervals, Floor: liveFloor.Milliseconds(), Max: settle.Milliseconds()}
}

// liveIntervals is how many of its intervals of arriving data after its
// last sample a series counts as still sending (its next sample is due
// after one, jitter and a push agent's late flush get the others), at
// least liveFloor: a series of 5 s and one of 10 s, whose samples can
// arrive 15 s apart with Telegraf's flush_jitter, still count after one
// late flush.
const (
	liveIntervals = 3
	liveFloor     = 15 * time.Second
)

// activityClock is a clock (ms) that runs with the wall clock while data
// arrives and stops a little after the usual gap between arrivals: the
// series a source was sending before an interruption (omen stopped or
// unreachable, the whole remote-write queue retrying) still count as
// sending when it resumes, however long it lasted, while a series that
// stops amid the others ages on it as on the wall clock, whatever the
// sources' period. Of each gap between two arrivals it counts at most
// the larger of activityGap and 5/4 of the usual gap between bursts of
// arrivals, and no more than maxActivityGap. The usual gap is the third
// quartile of the last periodGaps gaps of at least burstGap (so that an
// outage, one long gap among them, is not usual), or, if larger, that of
// the last periodGaps long gaps (of at least activityGap) while they
// recur, the last of them having ended at most maxActivityGap before the
// last arrival: push agents that flush at the same period a few seconds
// apart (4 Telegraf agents every 60 s, 3 s apart) leave one long gap a
// period among short ones, which the first quartile never reached, and
// the clock counted 15 s of it (it ran at 0.41 of the wall clock's speed,
// and a stopped series held steps until they were forced). Remote-write
// sends every few seconds: the clock counts 15 s of a gap. A push source
// that flushes every 60 s (e.g. Telegraf over NATS) has it count whole
// gaps, where counting 15 s of each ran the clock at a quarter of the
// wall clock's speed and kept a stopped series counted for 8 minutes
// instead of 2 (every step waited maxInputDelay).
type activityClock struct {
	mu         sync.Mutex
	wall, time int64 // the last arrival's wall time and activity time
	// paused is the activity time of the last arrival before the latest
	// outage (a gap the clock did not count whole), and outage the part of
	// it the clock counted.
	paused, outage int64
	// gaps are the last gaps (ms) between bursts, and long the last of
	// them of at least activityGap, rings: n (nLong) of them, the next
	// written at i (iLong). longAt is the wall time (ms) the newest long
	// gap ended.
	gaps, long   [periodGaps]int64
	n, i         int
	nLong, iLong int
	longAt       int64
	// maxGap is 5/4 of the usual gap, at most maxActivityGap (0 before
	// minPeriodGaps gaps).
	maxGap int64
}

// activityGap is the least of a gap between two arrivals the activity
// clock counts, and maxActivityGap the most: half of settleTime, so that
// after an outage a series still has at least half of it to send again.
const (
	activityGap    = 15 * time.Second
	maxActivityGap = settleTime / 2
)

// burstGap is the least gap between two arrivals that separates bursts
// (the requests of several remote-write shards, several agents flushing
// at once are one burst); periodGaps is how many gaps between bursts (and
// long gaps) the activity clock keeps, and minPeriodGaps how many it
// needs before it counts more than activityGap of a gap.
const (
	burstGap      = time.Second
	periodGaps    = 16
	minPeriodGaps = 4
)

// at records an arrival at wall (ms) and returns its activity time.
func (c *activityClock) at(wall int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.advance(wall)
	if c.wall != 0 && t-c.time < wall-c.wall {
		c.paused, c.outage = c.time, t-c.time
	}
	c.time = t
	if c.wall != 0 && wall-c.wall >= burstGap.Milliseconds() {
		c.record(wall-c.wall, wall)
	}
	c.wall = max(c.wall, wall)
	return c.time
}

// record adds a gap between bursts that ended at wall and updates maxGap.
func (c *activityClock) record(gap, wall int64) {
	c.gaps[c.i] = gap
	c.i = (c.i + 1) % periodGaps
	c.n = min(c.n+1, periodGaps)
	if gap >= activityGap.Milliseconds() {
		c.long[c.iLong] = gap
		c.iLong = (c.iLong + 1) % periodGaps
		c.nLong = min(c.nLong+1, periodGaps)
		c.longAt = wall
	}
	usual := int64(0)
	if c.n >= minPeriodGaps {
		usual = thirdQuartile(c.gaps[:c.n])
	}
	if c.nLong >= minPeriodGaps && wall-c.longAt <= maxActivityGap.Milliseconds() {
		usual = max(usual, thirdQuartile(c.long[:c.nLong]))
	}
	c.maxGap = min(usual+usual/4, maxActivityGap.Milliseconds())
}

// thirdQuartile returns the third quartile of gaps (at most periodGaps),
// which it leaves as they are.
func thirdQuartile(gaps []int64) int64 {
	var sorted [periodGaps]int64
	s := sorted[:len(gaps)]
	copy(s, gaps)
	slices.Sort(s)
	return s[(3*len(s)-1)/4]
}

// now is the activity time at wall (ms), without an arrival.
func (c *activityClock) now(wall int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.advance(wall)
}

// state returns the activity time at wall (ms) without an arrival, that
// of the last arrival, and the last arrival before the latest outage and
// the part of the outage counted (see features.Liveness).
func (c *activityClock) state(wall int64) (now, last, paused, outage int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.advance(wall), c.time, c.paused, c.outage
}

func (c *activityClock) advance(wall int64) int64 {
	if c.wall == 0 {
		return wall
	}
	return c.time + min(max(wall-c.wall, 0), max(activityGap.Milliseconds(), c.maxGap))
}

// replay applies the ingest log's batches received within the last
// window to the head, so a restarted daemon evaluates features over the
// same data it had acknowledged before. It stops early, with ctx.Err(),
// when ctx ends.
func (in *ingester) replay(ctx context.Context, window time.Duration) error {
	since := in.clock().Add(-window - time.Hour).UnixMilli()
	n := 0
	err := in.log.ReplayBatches(since, func(b telemetry.Batch) error {
		if n%replayCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		// Series are stamped as they were when the batch arrived, so
		// that those still sending before the stop count as such after
		// it (liveness).
		in.head.SetStamp(in.activity.at(b.Received))
		in.advance(in.apply(&b, true))
		n++
		return nil
	})
	if cerr := ctx.Err(); cerr != nil && err != nil {
		in.logger.Info("ingest log replay stopped", "batches", n, "err", cerr)
		return cerr
	}
	if n > 0 {
		in.logger.Info("replayed ingest log", "batches", n, "watermark", time.UnixMilli(in.watermark.Load()).UTC())
	}
	return err
}

// replayCheckEvery is how many batches replay applies between checks of
// its context.
const replayCheckEvery = 64
