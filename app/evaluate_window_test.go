package app

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// windowRig is an evaluator over the default configuration (step 15s,
// lookback 15m) with one pod scraped every step, fed through the
// ingester as a source would.
type windowRig struct {
	st   *store.Store
	in   *ingester
	head *features.Head
	e    *evaluator
	step int64
	base int64
	seq  uint64
	// offset is the samples' time after their step boundary.
	offset int64
	// batches are the batches scrape delivered, for restart.
	batches []telemetry.Batch
	reg     *prometheus.Registry
}

func newWindowRig(t *testing.T, lookback time.Duration) *windowRig {
	t.Helper()
	st, err := store.Open(store.Options{InMemory: true, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return newWindowRigOn(t, lookback, st, nil)
}

// newWindowRigOn is newWindowRig over st, its head first given replay
// (as the ingest log's replay at a start), before the evaluator is made.
func newWindowRigOn(t *testing.T, lookback time.Duration, st *store.Store, replay []telemetry.Batch) *windowRig {
	t.Helper()
	cfg := config.Default()
	if lookback > 0 {
		cfg.Lookback = model.Duration(lookback)
	}
	reg := prometheus.NewRegistry()
	head, err := features.NewHead(features.HeadOptions{Lookback: time.Duration(cfg.Lookback), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := features.NewExtractor(features.ExtractorOptions{Config: cfg.Config, Head: head, Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSchema(ex.FeatureNames(), ex.LabelNames()); err != nil {
		t.Fatal(err)
	}
	in := newIngester(st, head, ex, reg, slog.New(slog.DiscardHandler))
	for i := range replay {
		in.advance(in.apply(&replay[i], true))
	}
	sc, err := newScorer(scorerOptions{Store: st, Config: cfg, Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	step := time.Duration(cfg.Step)
	e := newEvaluator(evaluatorOptions{Extractor: ex, Store: st, Ingest: in, Scorer: sc, Step: step,
		Lookback: time.Duration(cfg.Lookback), Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	ms := step.Milliseconds()
	return &windowRig{st: st, in: in, head: head, e: e, step: ms, base: int64(1_700_000_000_000) / ms * ms,
		batches: slices.Clone(replay), reg: reg}
}

// scrape delivers the pod's samples of steps from..to (inclusive, in
// steps after base) in one batch.
func (r *windowRig) scrape(t *testing.T, from, to int64) {
	t.Helper()
	lset := labels.FromStrings("__name__", "kube_pod_status_ready", "namespace", "ns", "pod", "p", "condition", "true")
	var ss []telemetry.Sample
	for i := from; i <= to; i++ {
		ss = append(ss, telemetry.Sample{Labels: lset, T: r.base + i*r.step + r.offset, V: 1})
	}
	r.seq++
	b := telemetry.Batch{Source: "test", Seq: r.seq, Received: r.base, Samples: ss}
	r.batches = append(r.batches, b)
	if err := r.in.append([]telemetry.Batch{b}); err != nil {
		t.Fatal(err)
	}
}

// vectorSteps returns the steps (after base) with a stored vector.
func (r *windowRig) vectorSteps(t *testing.T) map[int64]bool {
	t.Helper()
	ens, err := r.st.Entities()
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]bool{}
	for _, en := range ens {
		if err := r.st.Vectors(en.ID, 0, 1<<62, func(v store.Vector) error {
			got[(v.T-r.base)/r.step] = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// TestCatchUpWindowAccounted: every step from the first evaluated one to
// the last either has a stored vector or is counted in
// omen_evaluator_skipped_steps_total. Before, a backlog that moved the
// in-memory window on while the evaluator caught up (a remote-write
// backlog drained after a restart, the evaluator slower than the
// drain), or that jumped a whole window ahead at once, left steps that
// were evaluated on samples the window had already dropped (too_old,
// or garbage-collected): steps without vectors, counted nowhere but in
// omen_evaluator_steps_total. The oldest step evaluated must still hold
// all the history its features read (here increase(...[10m])).
func TestCatchUpWindowAccounted(t *testing.T) {
	tests := []struct {
		name string
		// backlog is delivered before the second tick; during, while
		// it evaluates its first step.
		backlog, during [2]int64
	}{
		// A whole window (lookback/step = 60 steps) at once: the
		// oldest steps of the catch-up read samples the head dropped.
		{name: "jump of a window", backlog: [2]int64{41, 100}},
		// 56 steps at once (under the catch-up bound), and 40 more
		// while the evaluator works through them: the window moves on
		// past the steps not yet evaluated.
		{name: "window moves during catch-up", backlog: [2]int64{41, 96}, during: [2]int64{97, 136}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newWindowRig(t, 0)
			r.scrape(t, 0, 40)
			r.e.tick(context.Background())
			first := (r.e.next-r.base)/r.step - 1 // the step evaluated first
			// lag: how far behind the head's newest sample each step
			// was evaluated.
			lag := map[int64]int64{}
			once := false
			hook := func(point string) {
				if point != "evaluated" {
					return
				}
				s := (r.e.next - r.base) / r.step
				lag[s] = r.head.MaxTime() - r.e.next
				if tt.during != [2]int64{} && !once && s > first {
					once = true
					r.scrape(t, tt.during[0], tt.during[1])
				}
			}
			r.e.testHook.Store(&hook)
			r.scrape(t, tt.backlog[0], tt.backlog[1])
			r.e.tick(context.Background())
			r.e.tick(context.Background())
			last := (r.e.next - r.base) / r.step
			last--
			have := r.vectorSteps(t)
			var missing []int64
			for s := first + 1; s <= last; s++ {
				if !have[s] {
					missing = append(missing, s)
				}
			}
			evaluated, skipped := testutil.ToFloat64(r.e.steps)-1, testutil.ToFloat64(r.e.skipped)
			total := float64(last - first)
			t.Logf("steps %d..%d: %v evaluated, %v skipped, %d without vectors", first+1, last, evaluated, skipped, len(missing))
			if evaluated+skipped != total {
				t.Errorf("%v evaluated + %v skipped, want %v steps", evaluated, skipped, total)
			}
			if float64(len(missing)) != skipped {
				t.Errorf("steps without vectors %v, but %v counted skipped", missing, skipped)
			}
			// No step evaluated on part of its history: the head keeps
			// lookback (15m) behind its newest sample, the features
			// read 10m, and a step is evaluated one step behind.
			for s, l := range lag {
				if l > (5*time.Minute).Milliseconds()+r.step {
					t.Errorf("step %d evaluated %v behind the newest sample", s, time.Duration(l)*time.Millisecond)
				}
			}
		})
	}
}

// TestLiveWindowNotSkipped: an evaluator that keeps up with the data
// skips nothing, also when the lookback is the least the configuration
// allows (the longest range, 10m, plus a step): a step is evaluated up
// to two steps behind the newest sample, one step more than the window
// holds its whole range for (Extractor.Oldest, and a step of slack).
func TestLiveWindowNotSkipped(t *testing.T) {
	tests := []struct {
		lookback time.Duration // 0: the default, 15m
		// perTick scrapes arrive between ticks, each offset after its
		// step boundary.
		perTick int64
		offset  time.Duration
	}{
		{perTick: 1},
		{perTick: 2},
		{lookback: 10*time.Minute + 15*time.Second, perTick: 1},
		// 14s after the boundary: the step evaluated is almost two
		// steps behind the newest sample.
		{lookback: 10*time.Minute + 15*time.Second, perTick: 1, offset: 14 * time.Second},
		// Two a tick: the older step is two steps behind the newest
		// sample and not the newest step (which is never skipped).
		{lookback: 10*time.Minute + 30*time.Second, perTick: 2},
		// The same at the smallest lookback the configuration accepts
		// (history + step): half the steps were skipped, live (30 s
		// remote-write batches, a slow step).
		{lookback: 10*time.Minute + 15*time.Second, perTick: 2},
		{lookback: 10*time.Minute + 15*time.Second, perTick: 2, offset: 14 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.lookback, "/", tt.perTick, "/", tt.offset), func(t *testing.T) {
			r := newWindowRig(t, tt.lookback)
			r.offset = tt.offset.Milliseconds()
			for s := int64(0); s < 120; s += tt.perTick {
				r.scrape(t, s, s+tt.perTick-1)
				r.e.tick(context.Background())
			}
			want := 120 - tt.perTick + 1 // from the first tick's step
			if skipped, steps := testutil.ToFloat64(r.e.skipped), testutil.ToFloat64(r.e.steps); skipped != 0 || steps != float64(want) {
				t.Errorf("%v steps evaluated, %v skipped; want %v and 0", steps, skipped, want)
			}
		})
	}
}

// TestRemoteWriteBacklogWindowAccounted is the black-box finding, through
// the remote-write receiver: a backlog drained after a restart (56 steps
// in one request) moves the in-memory window on while the evaluator
// catches up (40 more steps, and a lagging series' samples of steps it
// has not evaluated yet, arrive while it evaluates its first step). The
// lagging samples are dropped as too_old; every step the window no
// longer holds is counted skipped, and every evaluated step has its
// vector. Before, steps went without vectors, counted in no metric.
func TestRemoteWriteBacklogWindowAccounted(t *testing.T) {
	cfg, err := config.Load("test.yml", []byte(`
entity_labels: [namespace, pod]
step: 15s
lookback: 15m
features:
  - name: ready
    expr: max by (${entity}) (kube_pod_status_ready)
  - name: ready_10m
    expr: max by (${entity}) (max_over_time(kube_pod_status_ready[10m]))
`))
	if err != nil {
		t.Fatal(err)
	}
	a := startApp(t, t.TempDir(), func(o *Options) { o.Config = cfg })
	const step = int64(15_000)
	// An hour ago: within the receiver's max_sample_age.
	base := (time.Now().UnixMilli() - time.Hour.Milliseconds()) / step * step
	body := func(pod string, from, to int64) []byte {
		ts := prompb.TimeSeries{Labels: []prompb.Label{
			{Name: "__name__", Value: "kube_pod_status_ready"},
			{Name: "namespace", Value: "ns"},
			{Name: "pod", Value: pod},
		}}
		for s := from; s <= to; s++ {
			ts.Samples = append(ts.Samples, prompb.Sample{Value: 1, Timestamp: base + s*step})
		}
		raw, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ts}}).Marshal()
		if err != nil {
			t.Error(err)
		}
		return snappy.Encode(nil, raw)
	}
	// post may run on the evaluator's goroutine: no t.Fatal.
	post := func(b []byte) {
		resp, err := http.Post("http://"+a.Addr()+"/api/v1/write", "application/x-protobuf", bytes.NewReader(b))
		if err != nil {
			t.Error(err)
			return
		}
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Errorf("remote write: status %d", resp.StatusCode)
		}
	}
	waitStep := func(s int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, done := a.Progress(); done >= base+s*step {
				return
			}
			if time.Now().After(deadline) {
				_, done := a.Progress()
				t.Fatalf("step %d not evaluated in 30s (last %d)", s, (done-base)/step)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	post(body("p", 0, 40))
	waitStep(39)
	var once sync.Once
	hook := func(point string) {
		if point == "evaluated" && a.eval.next > base+39*step {
			once.Do(func() {
				post(body("p", 97, 136))
				post(body("q", 41, 70)) // a lagging shard's series
			})
		}
	}
	a.eval.testHook.Store(&hook)
	post(body("p", 41, 96))
	waitStep(135)
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := a.opts.Gatherer
	evaluated, skipped := counterValue(g, "omen_evaluator_steps_total")-1, counterValue(g, "omen_evaluator_skipped_steps_total")
	rejected := counterValue(g, "omen_ingest_head_rejected_samples_total")
	st, err := store.Open(store.Options{Path: a.badgerDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	have := map[int64]bool{}
	if err := st.Vectors("ns/p", base+40*step, base+135*step, func(v store.Vector) error {
		have[(v.T-base)/step] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	missing := 96 - len(have)
	t.Logf("steps 40..135: %v evaluated, %v skipped, %d without vectors; %v samples rejected by the head", evaluated, skipped, missing, rejected)
	if evaluated+skipped != 96 || float64(missing) != skipped {
		t.Errorf("of 96 steps: %v evaluated, %v counted skipped, %d without vectors; want the steps without vectors counted skipped", evaluated, skipped, missing)
	}
	if rejected == 0 {
		t.Error("the lagging series' samples were not dropped as too_old")
	}
}

// TestLateSamplesCounted: samples for a time at or before the last
// evaluated step (a remote-write shard lagging behind the others) are
// counted in omen_ingest_late_samples_total: the steps from their time on
// were evaluated without them. Before, nothing said so when they fell
// within the window (no too_old drop).
func TestLateSamplesCounted(t *testing.T) {
	r := newWindowRig(t, 0)
	r.scrape(t, 0, 40)
	r.e.tick(context.Background()) // evaluates step 39
	if got := testutil.ToFloat64(r.in.late); got != 0 {
		t.Fatalf("late %v before any step was evaluated, want 0", got)
	}
	lagging := labels.FromStrings("__name__", "kube_pod_status_ready", "namespace", "ns", "pod", "q", "condition", "true")
	var ss []telemetry.Sample
	for s := int64(30); s <= 41; s++ { // steps 30..39 are late, 40 and 41 not
		ss = append(ss, telemetry.Sample{Labels: lagging, T: r.base + s*r.step, V: 1})
	}
	if err := r.in.append([]telemetry.Batch{{Source: "test", Seq: 99, Received: r.base, Samples: ss}}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(r.in.late); got != 10 {
		t.Errorf("late %v, want 10 (steps 30..39 of the lagging series)", got)
	}
	// Samples of series no feature selects (another metric, the same
	// metric with a label a selector excludes) are not late: no step
	// was evaluated without them. Before, every sample at or before the
	// last step counted, whatever its series (a backlog of other jobs'
	// series counted thousands while no feature's sample was late).
	others := []labels.Labels{
		labels.FromStrings("__name__", "not_a_feature", "namespace", "ns", "pod", "q"),
		labels.FromStrings("__name__", "kube_pod_status_ready", "namespace", "ns", "pod", "q", "condition", "false"),
	}
	ss = ss[:0]
	for _, ls := range others {
		for s := int64(30); s <= 39; s++ {
			ss = append(ss, telemetry.Sample{Labels: ls, T: r.base + s*r.step, V: 1})
		}
	}
	if err := r.in.append([]telemetry.Batch{{Source: "test", Seq: 100, Received: r.base, Samples: ss}}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(r.in.late); got != 10 {
		t.Errorf("late %v after samples of series no feature selects, want 10", got)
	}
}

// TestAbsentFailingStored: an entity without any feature value whose
// failure label fires (here a pod known only by its FailedMount events;
// in the black-box finding, a target whose label 1 - up fired while its
// metrics were gone) is stored with the failure, so the history holds
// it (training found none). (Not scoring it: TestDropAbsent.)
func TestAbsentFailingStored(t *testing.T) {
	r := newWindowRig(t, 0)
	ev := telemetry.Event{T: r.base + 3*r.step, Source: telemetry.SourceKubernetes, Reason: "FailedMount", Type: "Warning", Count: 1,
		Labels: labels.FromStrings("namespace", "ns", "pod", "q")}
	r.seq++
	if err := r.in.append([]telemetry.Batch{{Source: "test", Seq: r.seq, Received: r.base, Events: []telemetry.Event{ev}}}); err != nil {
		t.Fatal(err)
	}
	for s := int64(0); s < 8; s++ {
		r.scrape(t, s, s)
		r.e.tick(context.Background())
	}
	mount := slices.Index(r.e.Extractor.LabelNames(), "mount_failure")
	var failing int
	if err := r.st.Vectors("ns/q", 0, 1<<62, func(v store.Vector) error {
		if mount >= 0 && mount < len(v.Failure) && v.Failure[mount] {
			failing++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if mount < 0 || failing == 0 {
		t.Fatalf("ns/q: %d stored vectors with mount_failure (label index %d), want its failing steps stored", failing, mount)
	}
}

// append is appendStored without the stored indexes, for these tests.
func (in *ingester) append(batches []telemetry.Batch) error {
	_, err := in.appendStored(batches)
	return err
}
