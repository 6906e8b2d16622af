package app

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// inputsRig is an ingester and an evaluator that holds steps back for
// their inputs as in production (WallClock), on a fake wall clock, over
// one feature: the value of metric m per pod (newInputsRig), or another
// expression (newInputsRigOf).
type inputsRig struct {
	t               *testing.T
	in              *ingester
	e               *evaluator
	st              *store.Store
	now             time.Time
	step            int64
	settle, maxWait time.Duration
	logs            *bytes.Buffer // the evaluator's log
	expr            string        // the feature's
	// source names the batches send appends: remoteWriteSource (the
	// default; series end with stale markers) or natsSource.
	source string
}

// natsSource names the rig's batches of a NATS publisher (Telegraf: no
// stale markers).
const natsSource = "nats/OMEN/omen"

func newInputsRig(t *testing.T, settle, maxDelay time.Duration) *inputsRig {
	t.Helper()
	return newInputsRigOf(t, "max by (${entity}) (m)", settle, maxDelay)
}

func newInputsRigOf(t *testing.T, expr string, settle, maxDelay time.Duration) *inputsRig {
	t.Helper()
	st, err := store.Open(store.Options{InMemory: true, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	r := &inputsRig{t: t, st: st, now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), settle: settle, maxWait: maxDelay, expr: expr, source: remoteWriteSource}
	r.start()
	return r
}

// start creates the head, ingester and evaluator over the rig's store,
// replaying its ingest log (a restart, when it holds batches).
func (r *inputsRig) start() {
	t := r.t
	t.Helper()
	cfg := config.Default()
	cfg.Features = []features.Feature{{Name: "m", Expr: r.expr}}
	reg := prometheus.NewRegistry()
	head, err := features.NewHead(features.HeadOptions{Lookback: time.Duration(cfg.Lookback), ImmutableLabels: true, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := features.NewExtractor(features.ExtractorOptions{Config: cfg.Config, Head: head, Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := newScorer(scorerOptions{Store: r.st, Config: cfg, Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r.in = newIngester(r.st, head, ex, reg, slog.New(slog.DiscardHandler))
	r.in.clock = func() time.Time { return r.now }
	if err := r.in.replay(context.Background(), time.Duration(cfg.Lookback)); err != nil {
		t.Fatal(err)
	}
	step := time.Duration(cfg.Step)
	r.step = step.Milliseconds()
	r.logs = &bytes.Buffer{}
	r.e = newEvaluator(evaluatorOptions{Extractor: ex, Store: r.st, Ingest: r.in, Scorer: sc, Step: step,
		Lookback: time.Duration(cfg.Lookback), Registerer: reg, Logger: slog.New(slog.NewTextHandler(r.logs, nil))})
	r.e.clock = func() time.Time { return r.now }
	// As WallClock sets them (the rig's data clock runs apart from the
	// wall clock, which WallClock would cap it at).
	r.e.settle, r.e.maxDelay = r.settle, r.maxWait
}

// send appends one remote-write request of the samples of m of pods
// (separated by commas) at the given data times (value: v(t)), and lets
// the evaluator tick.
func (r *inputsRig) send(pods string, ts []int64, v func(int64) float64) {
	r.t.Helper()
	b := telemetry.Batch{Source: r.source, Received: r.now.UnixMilli()}
	for pod := range strings.SplitSeq(pods, ",") {
		ls := labels.FromStrings("__name__", "m", "namespace", "ns", "pod", pod)
		for _, t := range ts {
			b.Samples = append(b.Samples, telemetry.Sample{Labels: ls, T: t, V: v(t)})
		}
	}
	if err := r.in.Append(context.Background(), []telemetry.Batch{b}); err != nil {
		r.t.Fatal(err)
	}
	r.e.tick(context.Background())
}

// wait advances the wall clock by d and lets the evaluator tick.
func (r *inputsRig) wait(d time.Duration) {
	r.now = r.now.Add(d)
	r.e.tick(context.Background())
}

// vectors returns the stored value of feature m of pod per step.
func (r *inputsRig) vectors(pod string) map[int64]float64 {
	r.t.Helper()
	out := map[int64]float64{}
	if err := r.st.Vectors("ns/"+pod, math.MinInt64, math.MaxInt64, func(v store.Vector) error {
		out[v.T] = v.Values[0]
		return nil
	}); err != nil {
		r.t.Fatal(err)
	}
	return out
}

// times returns the data times from, from+every, … up to to.
func times(from, to, every int64) []int64 {
	var ts []int64
	for t := from; t <= to; t += every {
		ts = append(ts, t)
	}
	return ts
}

// TestBacklogShardsOutOfOrder: after omen was unreachable for 6 minutes,
// Prometheus drains its backlog over several shards at once, so pod a's
// samples up to T+6m arrive before pod b's older ones. The steps between
// wait for pod b's samples and are evaluated with them, none is evaluated
// before its inputs arrived (no late sample), and none waited the longest
// delay; so too when the samples arrived every 60 s before the outage
// (the activity clock counts whole 60 s gaps then, but not the outage).
// Before, the steps were evaluated as soon as pod a's samples passed
// them, on pod b's value at T carried forward by PromQL's lookback (a
// reviewer saw 49 identical vectors after a 6-minute restart), and pod
// b's samples counted late.
func TestBacklogShardsOutOfOrder(t *testing.T) {
	tests := []struct {
		name  string
		every time.Duration // between the history's requests (0: one request)
	}{
		{name: "history in one request"},
		{name: "history every 60s", every: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testBacklogShardsOutOfOrder(t, tt.every)
		})
	}
}

func testBacklogShardsOutOfOrder(t *testing.T, every time.Duration) {
	r := newInputsRig(t, settleTime, maxInputDelay)
	const scrape = 15_000
	base := int64(1_800_000_000_000) / r.step * r.step
	hist := times(base-10*60_000, base, scrape)
	a := func(int64) float64 { return 1 }
	b := func(t int64) float64 { return float64(t-base) / 1000 } // differs at every step
	if every == 0 {
		r.send("a,b", hist, b)
	}
	for i := 0; every > 0 && i < len(hist); i += 4 {
		r.now = r.now.Add(every)
		r.send("a,b", hist[i:min(i+4, len(hist))], b)
	}
	if done := r.e.done.Load(); done != base-r.step {
		t.Fatalf("last step of the history %v, want %v", time.UnixMilli(done).UTC(), time.UnixMilli(base-r.step).UTC())
	}
	before := len(r.vectors("b"))
	// omen is unreachable for 6 minutes: nothing arrives.
	r.wait(6 * time.Minute)
	backlog := times(base+scrape, base+6*60_000, scrape)
	for i := 0; i < len(backlog); i += 4 { // shard 1: pod a, up to T+6m
		r.now = r.now.Add(progressEvery)
		r.send("a", backlog[i:min(i+4, len(backlog))], a)
	}
	r.now = r.now.Add(time.Second)
	if got := len(r.vectors("b")); got > before+1 {
		t.Errorf("%d steps evaluated before pod b's samples arrived, want at most 1 (T)", got-before)
	}
	for i := 0; i < len(backlog); i += 4 { // shard 2: pod b, older
		r.now = r.now.Add(progressEvery)
		r.send("b", backlog[i:min(i+4, len(backlog))], b)
	}
	vs := r.vectors("b")
	n := 0
	for step := base; step <= base+6*60_000-r.step; step += r.step {
		got, ok := vs[step]
		if !ok {
			t.Errorf("step %v: no vector of pod b", time.UnixMilli(step).UTC())
			continue
		}
		n++
		if want := b(step); got != want {
			t.Errorf("step %v: pod b's value %v, want %v (its sample at the step)", time.UnixMilli(step).UTC(), got, want)
		}
	}
	if n < 24 {
		t.Errorf("%d steps of the backlog evaluated, want 24", n)
	}
	if late := testutil.ToFloat64(r.in.late); late != 0 {
		t.Errorf("omen_ingest_late_samples_total %v, want 0", late)
	}
	if f := testutil.ToFloat64(r.e.forced); f != 0 {
		t.Errorf("omen_evaluator_input_timeout_steps_total %v, want 0", f)
	}
}

// TestStoppedSeriesReleasesSteps: a series that stops (a deleted pod, a
// pod out of CrashLoopBackOff whose waiting-reason series is no longer
// sent) holds the steps after its last sample back for 3 of its
// intervals of arriving data (at least 15 s, at most settle) while the
// others go on, whatever the period at which samples arrive, and not at
// all when a stale marker ends it. Before, it held them for settle
// (2 minutes) at any interval: a 5 s series that stopped on NATS held
// every step of the daemon for 2 minutes. Before that, samples arriving
// every 60 s ran the activity clock at a quarter of the wall clock's
// speed: the stopped series held steps for 8 minutes. The interval rule
// is for sources without stale markers (NATS); a remote-write series
// holds them for settle (a stalled shard's, see TestShardStall), unless a
// stale marker ends it.
func TestStoppedSeriesReleasesSteps(t *testing.T) {
	const settle = 2 * time.Minute
	tests := []struct {
		name   string
		source string
		every  int64 // ms between arrivals, and between samples
		stale  bool
		held   time.Duration // how long the steps after the stop wait
	}{
		{name: "stops, every 5s", source: natsSource, every: 5_000, held: 15 * time.Second},
		{name: "stops", source: natsSource, every: 15_000, held: 45 * time.Second},
		{name: "stale marker", source: natsSource, every: 15_000, stale: true, held: 0},
		{name: "stops, arrivals every 60s", source: natsSource, every: 60_000, held: settle},
		{name: "stops, arrivals every 30s", source: natsSource, every: 30_000, held: 90 * time.Second},
		{name: "remote write stops", source: remoteWriteSource, every: 15_000, held: settle},
		{name: "remote write stops, every 5s", source: remoteWriteSource, every: 5_000, held: settle},
		{name: "remote write stale marker", source: remoteWriteSource, every: 15_000, stale: true, held: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newInputsRig(t, settle, time.Hour)
			r.source = tt.source
			base := int64(1_800_000_000_000) / r.step * r.step
			one := func(int64) float64 { return 1 }
			for ts := base - 20*tt.every; ts <= base; ts += tt.every {
				r.now = r.now.Add(time.Duration(tt.every) * time.Millisecond)
				r.send("a,b", []int64{ts}, one)
			}
			if tt.stale {
				r.send("b", []int64{base + 1}, func(int64) float64 { return math.Float64frombits(value.StaleNaN) })
			}
			stopped := r.now
			// The step before pod b's next sample was due (it waits
			// for nothing).
			reached := (base + tt.every - tt.every/8) / r.step * r.step
			if tt.stale {
				reached = base
			}
			// Pod a goes on, a sample every period of wall time, the
			// evaluator ticking every second.
			for ts := base + tt.every; r.now.Sub(stopped) < settle+2*time.Minute; ts += tt.every {
				for range tt.every/1000 - 1 {
					r.wait(time.Second)
				}
				r.now = r.now.Add(time.Second)
				r.send("a", []int64{ts}, one)
				passed := (ts - r.step) / r.step * r.step // the newest step the watermark passed
				wantDone := min(reached, passed)
				if r.now.Sub(stopped) >= tt.held {
					wantDone = passed
				}
				if done := r.e.done.Load(); done != wantDone {
					t.Fatalf("%v after the stop (pod a at %v): last step %v, want %v", r.now.Sub(stopped),
						time.UnixMilli(ts).UTC(), time.UnixMilli(done).UTC(), time.UnixMilli(wantDone).UTC())
				}
			}
			if f := testutil.ToFloat64(r.e.forced); f != 0 {
				t.Errorf("omen_evaluator_input_timeout_steps_total %v, want 0", f)
			}
		})
	}
}

// TestMaxDelayBoundsWait: a series that goes on sending samples far
// behind the others (a stuck shard, timestamps that lag) holds a step
// back for at most maxDelay of wall time after the newest sample passed
// it; such steps count in omen_evaluator_input_timeout_steps_total. The
// series is then excluded from the wait: the later steps are evaluated
// as soon as the other series reach them, with one warning in all. Before
// the exclusion, every later step waited maxDelay too (each counted as
// forced, with a warning per tick): one lagging exporter delayed every
// entity by maxDelay for good.
func TestMaxDelayBoundsWait(t *testing.T) {
	const maxDelay, scrape = time.Minute, 15_000
	r := newInputsRig(t, time.Hour, maxDelay)
	base := int64(1_800_000_000_000) / r.step * r.step
	hist := times(base-5*60_000, base, scrape)
	one := func(int64) float64 { return 1 }
	// Pod b's two samples give its interval (a series of one sample
	// holds nothing back).
	r.send("a,b", hist[:2], one)
	r.send("a", hist[2:], one) // pod b is 5 minutes behind
	// A step waits from the wall time the watermark first passed it.
	passed := map[int64]time.Time{}
	for s := base - 5*60_000; s <= base-r.step; s += r.step {
		passed[s] = r.now
	}
	start := r.e.done.Load()
	forced := 0.0
	for ts := base + scrape; ts <= base+4*60_000; ts += scrape {
		r.now = r.now.Add(scrape*time.Millisecond - progressEvery)
		r.send("a", []int64{ts}, one)
		passed[ts-r.step] = r.now
		r.now = r.now.Add(progressEvery)
		r.send("b", []int64{ts - 5*60_000}, one) // still sending, still behind
		// Until a step waited maxDelay: the newest step pod b has
		// reached, or that has waited maxDelay. Then b holds nothing
		// back: the newest step pod a passed.
		want := max(start, ts-5*60_000)
		for s, at := range passed {
			if r.now.Sub(at) >= maxDelay && s > want {
				want = s
			}
		}
		if forced > 0 {
			want = (ts - r.step) / r.step * r.step
		}
		if done := r.e.done.Load(); done != want {
			t.Fatalf("wall %v: last step %v, want %v", r.now.Format(time.TimeOnly), time.UnixMilli(done).UTC(), time.UnixMilli(want).UTC())
		}
		if f := testutil.ToFloat64(r.e.forced); forced > 0 && f != forced {
			t.Fatalf("wall %v: %v steps forced, want %v: pod b, excluded, forced more", r.now.Format(time.TimeOnly), f, forced)
		} else {
			forced = f
		}
	}
	if forced == 0 {
		t.Error("omen_evaluator_input_timeout_steps_total 0, want the steps evaluated after maxDelay")
	}
	if n := strings.Count(r.logs.String(), "after waiting the longest delay"); n != 1 {
		t.Errorf("%d warnings of steps evaluated after maxDelay, want 1:\n%s", n, r.logs.String())
	}
	if late := testutil.ToFloat64(r.in.late); late == 0 {
		t.Error("pod b's samples, excluded from the wait, not counted late")
	}
}

// TestRestartAfterForcedSteps: pod b sends 5 minutes behind pod a, so
// steps are evaluated once they waited maxDelay, before pod b reached
// them. omen restarts: it resumes after the step cursor, waiting for the
// steps after it as before the stop, and evaluates no step twice. Before,
// resume took the held target (pod b's progress) for the newest replayed
// step, ignored the cursor as "newer than the replayed data" and
// evaluated (stored, alerted on) 12 steps again.
func TestRestartAfterForcedSteps(t *testing.T) {
	r := newInputsRig(t, settleTime, maxInputDelay)
	const scrape = 15_000
	base := int64(1_800_000_000_000) / r.step * r.step
	one := func(int64) float64 { return 1 }
	send := func(from, to int64) {
		for ts := from; ts <= to; ts += scrape {
			r.now = r.now.Add(scrape * time.Millisecond)
			r.send("a", []int64{ts}, one)
			r.send("b", []int64{ts - 5*60_000}, one)
		}
	}
	send(base-20*60_000, base)
	if testutil.ToFloat64(r.e.forced) == 0 {
		t.Fatal("no step evaluated after maxDelay before the stop")
	}
	r.e.saveCursor()
	cur, ok, err := r.st.StepCursor()
	if err != nil || !ok {
		t.Fatalf("StepCursor() = %v, %v, %v", cur, ok, err)
	}
	r.now = r.now.Add(30 * time.Second)
	r.start()
	r.e.tick(context.Background())
	if r.e.next != cur+r.step {
		t.Errorf("after the restart: next step %v, want %v (after the cursor)", time.UnixMilli(r.e.next).UTC(), time.UnixMilli(cur+r.step).UTC())
	}
	send(base+scrape, base+4*60_000)
	done := r.e.done.Load()
	if done <= cur {
		t.Fatalf("last step %v, want one after the cursor %v", time.UnixMilli(done).UTC(), time.UnixMilli(cur).UTC())
	}
	if got, want := testutil.ToFloat64(r.e.steps), float64((done-cur)/r.step); got != want {
		t.Errorf("%v steps evaluated after the restart, want %v (those from the cursor %v to %v, once)", got, want, time.UnixMilli(cur).UTC(), time.UnixMilli(done).UTC())
	}
	if strings.Contains(r.logs.String(), "cursor is newer") {
		t.Errorf("the step cursor was ignored:\n%s", r.logs.String())
	}
}

// TestUnselectedSeriesDoNotHold: series that no feature selects (another
// job's series of a metric the features read, with a label matcher
// excluding them, or another metric) hold no step back, even when they
// keep sending minutes behind. Before, Head.Progress counted every
// series of the metric names the features read: the other job's
// series held every step for maxDelay.
func TestUnselectedSeriesDoNotHold(t *testing.T) {
	r := newInputsRigOf(t, `max by (${entity}) (m{job="x"})`, settleTime, maxInputDelay)
	const scrape = 15_000
	base := int64(1_800_000_000_000) / r.step * r.step
	send := func(name, job, pod string, ts int64) {
		b := telemetry.Batch{Source: "remote-write", Received: r.now.UnixMilli(), Samples: []telemetry.Sample{{
			Labels: labels.FromStrings("__name__", name, "job", job, "namespace", "ns", "pod", pod), T: ts, V: 1}}}
		if err := r.in.Append(context.Background(), []telemetry.Batch{b}); err != nil {
			t.Fatal(err)
		}
		r.e.tick(context.Background())
	}
	for ts := base - 10*60_000; ts <= base; ts += scrape {
		r.now = r.now.Add(scrape * time.Millisecond)
		send("m", "x", "a", ts)
		send("m", "y", "b", ts-5*60_000)
		send("n", "x", "a", ts-5*60_000)
		if done, want := r.e.done.Load(), ts-r.step; done != want {
			t.Fatalf("pod a at %v: last step %v, want %v", time.UnixMilli(ts).UTC(), time.UnixMilli(done).UTC(), time.UnixMilli(want).UTC())
		}
	}
	if f := testutil.ToFloat64(r.e.forced); f != 0 {
		t.Errorf("omen_evaluator_input_timeout_steps_total %v, want 0", f)
	}
	if got := len(r.vectors("a")); got != 40 {
		t.Errorf("%d vectors of pod a, want 40", got)
	}
}
