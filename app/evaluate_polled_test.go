package app

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/telemetry"
)

// TestStalePolledStepsCounted: a daemon fed by a Prometheus poller and by
// remote-write goes on evaluating steps while Prometheus is unreachable
// (the remote-write samples move the watermark; polled series hold no
// step back), on the polled values of before the outage carried forward.
// Those steps are counted in omen_evaluator_stale_polled_steps_total,
// with one warning, and an info when polled values are current again;
// nothing counted them before.
func TestStalePolledStepsCounted(t *testing.T) {
	f := newPolledFixture(t)
	const source = "prometheus/http://prom:9090"
	// apply applies, at each step i of steps, a remote-write sample and,
	// with polled, the poller's value, as the sources' Appends do.
	apply := func(polled bool, steps ...int) {
		if polled {
			f.apply(map[string]pollOf{source: pollSamples}, steps...)
			return
		}
		f.apply(nil, steps...)
	}
	stale := func() float64 { return testutil.ToFloat64(f.e.stalePolled) }

	apply(true, 0, 1, 2) // evaluates step 1
	apply(true, 3)       // step 2
	if n := stale(); n != 0 {
		t.Fatalf("%v stale steps while the poller keeps up", n)
	}
	// Prometheus unreachable: remote-write alone moves the evaluator over
	// steps 3 to 6, whose polled values are step 3's carried forward.
	apply(false, 4, 5, 6, 7)
	if n := stale(); n != 3 { // steps 4, 5 and 6: step 3's value had arrived
		t.Errorf("%v stale polled steps during the outage, want 3", n)
	}
	// Prometheus back: the poll of 8 (its catch-up of 4 to 7 comes late,
	// counted in omen_ingest_late_samples_total).
	apply(true, 8)
	before := testutil.ToFloat64(f.e.steps)
	apply(true, 9)
	if testutil.ToFloat64(f.e.steps) == before {
		t.Fatal("no step evaluated after the outage")
	}
	if n := stale(); n != 3 {
		t.Errorf("%v stale polled steps after the outage, want still 3", n)
	}
	out := f.logs.String()
	if n := strings.Count(out, "step evaluated before the Prometheus poller's values of it arrived"); n != 1 {
		t.Errorf("%d warnings of stale polled steps, want 1: %s", n, out)
	}
	if n := strings.Count(out, "steps evaluated on current Prometheus poller values again"); n != 1 || !strings.Contains(out, "stale_steps=3") {
		t.Errorf("want one info of the 3 stale steps once polled values are current: %s", out)
	}
}

// TestEmptyPollsNotStale: polls that succeed with no series (a failure
// label's query while nothing fails, entities gone) append nothing; the
// poller reports them (stream.PollObserver) and the steps evaluated after
// them are current, not counted in omen_evaluator_stale_polled_steps_total
// nor warned of ("Prometheus unreachable or slow"), which they were, the
// newest polled sample's time standing still. An outage after them still
// counts.
func TestEmptyPollsNotStale(t *testing.T) {
	f := newPolledFixture(t)
	const source = "prometheus/http://prom:9090"
	apply := func(p pollOf, steps ...int) { f.apply(map[string]pollOf{source: p}, steps...) }
	stale := func() float64 { return testutil.ToFloat64(f.e.stalePolled) }

	apply(pollSamples, 0, 1, 2) // evaluates step 1
	apply(pollSamples, 3)       // step 2
	before := testutil.ToFloat64(f.e.steps)
	// Prometheus up and answering, its queries' results empty now.
	apply(pollNoSeries, 4, 5, 6, 7)
	apply(pollNoSeries, 8, 9, 10)
	if testutil.ToFloat64(f.e.steps)-before < 7 {
		t.Fatalf("%v steps evaluated over the empty polls, want at least 7", testutil.ToFloat64(f.e.steps)-before)
	}
	if n := stale(); n != 0 {
		t.Errorf("%v stale polled steps after polls of no series, want 0", n)
	}
	if strings.Contains(f.logs.String(), "step evaluated before the Prometheus poller's values of it arrived") {
		t.Errorf("stale steps warned of after polls of no series: %s", f.logs.String())
	}
	// Unreachable: remote-write alone moves the evaluator over steps 10
	// to 12, the last poll (of no series) at 10.
	apply(pollNone, 11, 12, 13)
	if n := stale(); n != 2 { // steps 11 and 12
		t.Errorf("%v stale polled steps during the outage, want 2", n)
	}
}

// TestStalePolledStepsPerSource: with two Prometheus pollers, one that
// stops delivering while the other (and remote-write) keeps the evaluator
// going has its steps counted in omen_evaluator_stale_polled_steps_total
// under its source, warned of once naming it, and an info names it when
// it is current again; while both are current nothing counts. One newest
// poll time shared by the pollers hid the one down behind the other's
// fresh polls: nothing was counted.
func TestStalePolledStepsPerSource(t *testing.T) {
	f := newPolledFixture(t)
	const (
		east = "prometheus/http://east:9090"
		west = "prometheus/http://west:9090"
	)
	// east's polls return a sample, west's no series.
	both := map[string]pollOf{east: pollSamples, west: pollNoSeries}
	eastOnly := map[string]pollOf{east: pollSamples}
	stale := func(source string) float64 {
		return testutil.ToFloat64(f.e.stalePolled.WithLabelValues(source))
	}
	const warning = "step evaluated before the Prometheus poller's values of it arrived"
	const info = "steps evaluated on current Prometheus poller values again"

	f.apply(both, 0, 1, 2) // evaluates step 1
	f.apply(both, 3, 4)    // steps 2 and 3
	if n := testutil.CollectAndCount(f.e.stalePolled); n != 2 {
		t.Errorf("%d series of omen_evaluator_stale_polled_steps_total once both pollers delivered, want 2 (one per poller)", n)
	}
	if a, b := stale(east), stale(west); a != 0 || b != 0 {
		t.Fatalf("stale steps while both pollers keep up: east %v, west %v", a, b)
	}
	if strings.Contains(f.logs.String(), warning) {
		t.Fatalf("stale steps warned of while both pollers keep up: %s", f.logs.String())
	}
	// west's Prometheus unreachable: east and remote-write move the
	// evaluator over steps 4 to 7, west's last poll at 4.
	f.apply(eastOnly, 5, 6, 7, 8)
	if n := stale(west); n != 3 { // steps 5, 6 and 7
		t.Errorf("%v stale polled steps of west during its outage, want 3", n)
	}
	if n := stale(east); n != 0 {
		t.Errorf("%v stale polled steps of east, which kept up, want 0", n)
	}
	// west back.
	f.apply(both, 9)
	f.apply(both, 10)
	if n := stale(west); n != 3 {
		t.Errorf("%v stale polled steps of west after its outage, want still 3", n)
	}
	out := f.logs.String()
	if n := strings.Count(out, warning); n != 1 || !strings.Contains(out, "source="+west) {
		t.Errorf("%d warnings of stale polled steps, want 1 naming %s: %s", n, west, out)
	}
	if n := strings.Count(out, info); n != 1 || !strings.Contains(out, "stale_steps=3") {
		t.Errorf("want one info of west's 3 stale steps once its polled values are current: %s", out)
	}
	if strings.Contains(out, "source="+east) {
		t.Errorf("east, which kept up, logged of: %s", out)
	}
}

// polledFixture is an evaluator fed step by step by remote-write and by
// Prometheus pollers, as the sources' Appends feed it.
type polledFixture struct {
	e        *evaluator
	in       *ingester
	logs     *testenv.SyncBuffer // the evaluator's log, info and up
	base, ms int64               // step 0's time and the step, in ms
	feature  string              // the feature the polls deliver
}

func newPolledFixture(t *testing.T) *polledFixture {
	t.Helper()
	cfg := config.Default()
	reg := prometheus.NewRegistry()
	st, ex, in, sc := newEvaluatorDeps(t, cfg, reg)
	step := time.Duration(cfg.Step)
	logs := &testenv.SyncBuffer{}
	e := newEvaluator(evaluatorOptions{Extractor: ex, Store: st, Ingest: in, Scorer: sc, Step: step, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	ms := step.Milliseconds()
	return &polledFixture{e: e, in: in, logs: logs, base: int64(1_700_000_000_000) / ms * ms, ms: ms, feature: ex.FeatureNames()[0]}
}

// pollOf is what a poller delivers for a step.
type pollOf int

const (
	pollNone     pollOf = iota // nothing: Prometheus unreachable
	pollSamples                // the poll returns a series
	pollNoSeries               // the poll succeeds with no series
)

// apply applies, at each step i of steps, a remote-write sample and each
// source's poll of i (polls, absent: pollNone), as a poller does: it
// appends the samples of a poll, if any, then reports its time
// (stream.PollObserver); then evaluates.
func (f *polledFixture) apply(polls map[string]pollOf, steps ...int) {
	var bs []telemetry.Batch
	for _, i := range steps {
		ts := f.base + int64(i)*f.ms
		bs = append(bs, telemetry.Batch{Source: "remote_write", Samples: []telemetry.Sample{{
			Labels: labels.FromStrings("__name__", "container_memory_working_set_bytes", "namespace", "shop", "pod", "cart-1"), T: ts, V: 1,
		}}})
		for _, source := range slices.Sorted(maps.Keys(polls)) {
			if polls[source] == pollSamples {
				bs = append(bs, telemetry.Batch{Source: source, Samples: []telemetry.Sample{{
					Labels: labels.FromStrings("__name__", f.feature, "namespace", "shop", "pod", "cart-1"), T: ts, V: 2,
				}}})
			}
		}
	}
	idx := make([]int, len(bs))
	for i := range idx {
		idx[i] = i
	}
	f.in.applyAll(bs, idx)
	for _, source := range slices.Sorted(maps.Keys(polls)) {
		if polls[source] != pollNone {
			for _, i := range steps {
				f.in.Polled(source, time.UnixMilli(f.base+int64(i)*f.ms))
			}
		}
	}
	f.e.tick(context.Background())
}
