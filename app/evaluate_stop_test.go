package app

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// stopRig drives the reviewer's repro on the inputs rig: pods c and a
// publish a sample every 5 s, each its own message (Telegraf over NATS,
// a line a message) 10 ms apart, the evaluator ticking every second.
type stopRig struct {
	*inputsRig
	ts  int64     // data time of the newest tick
	aAt time.Time // wall time of pod a's newest sample
}

func newStopRig(t *testing.T) *stopRig {
	r := &stopRig{inputsRig: newInputsRig(t, settleTime, maxInputDelay)}
	r.source = natsSource
	r.ts = int64(1_800_000_000_000) / r.step * r.step
	return r
}

func one(int64) float64 { return 1 }

// tick advances the wall clock by a second, and on the 5 s grid sends the
// sample of c and, when a is not nil, a's at a(ts).
func (r *stopRig) tick(a func(ts int64) int64) {
	r.now = r.now.Add(time.Second - 10*time.Millisecond)
	if r.now.UnixMilli()/1000%5 != 0 {
		r.wait(10 * time.Millisecond)
		return
	}
	r.ts += 5_000
	r.send("c", []int64{r.ts}, one)
	r.now = r.now.Add(10 * time.Millisecond)
	if a != nil {
		r.send("a", []int64{a(r.ts)}, one)
		r.aAt = r.now
	} else {
		r.wait(0)
	}
}

// passed is the newest step the newest sample has passed.
func (r *stopRig) passed() int64 { return (r.ts - r.step) / r.step * r.step }

// reach is the newest step a series whose newest sample is at t, 5 s
// apart, has reached.
func (r *stopRig) reach(t int64) int64 { return (t + 5_000 - 5_000/8) / r.step * r.step }

func same(ts int64) int64 { return ts }

// TestStoppedSeriesIntervalHold: of two pods publishing every 5 s on
// NATS without stale markers (Telegraf), pod a stops after 8 ticks (a pod
// out of CrashLoopBackOff: its waiting-reason series is no longer sent).
// The steps it had not reached wait 15 s of arriving data (3 of its
// intervals; 20 s of wall time, seen when c's next sample arrives), no step is forced and no warning logged. Before, they
// waited settle (2 minutes): the reviewer saw every step lag by up to
// 115 s, with omen_evaluator_input_timeout_steps_total and the other
// gauges at 0.
func TestStoppedSeriesIntervalHold(t *testing.T) {
	r := newStopRig(t)
	for range 8 * 5 {
		r.tick(same)
	}
	aLast, stopped := r.ts, r.aAt
	var released time.Duration
	for r.now.Sub(stopped) < 3*time.Minute {
		r.tick(nil)
		done := r.e.done.Load()
		if released == 0 && done > r.reach(aLast) {
			released = r.now.Sub(stopped)
		}
		if released != 0 && done != r.passed() {
			t.Fatalf("%v after a's last sample: last step %v, want %v (all the newest sample passed)", r.now.Sub(stopped),
				time.UnixMilli(done).UTC(), time.UnixMilli(r.passed()).UTC())
		}
	}
	t.Logf("the steps pod a had not reached waited %v after its last sample", released)
	// 15 s of arriving data, seen at the first arrival after (pod c's,
	// 5 s apart).
	if released == 0 || released > 20*time.Second {
		t.Errorf("the steps pod a had not reached were evaluated %v after its last sample (0: not in 3 minutes), want within 20s", released)
	}
	if f := testutil.ToFloat64(r.e.forced); f != 0 {
		t.Errorf("omen_evaluator_input_timeout_steps_total %v, want 0", f)
	}
	if late := testutil.ToFloat64(r.in.late); late != 0 {
		t.Errorf("omen_ingest_late_samples_total %v, want 0", late)
	}
	if strings.Contains(r.logs.String(), "steps wait for the samples") {
		t.Errorf("a hold of 20s logged, want none before heldLogAfter:\n%s", r.logs.String())
	}
}

// TestLaggingSeriesStillHolds: pod a keeps publishing every 5 s, but its
// samples fall behind (its timestamps advance 1 s a tick): it still
// arrives, so the steps it has not reached wait for it up to maxDelay
// (then forced, with a warning naming it), as before. Once a step has
// waited 30 s, an info log names pod a (before, only
// omen_evaluator_waiting_steps showed the wait until it was forced).
func TestLaggingSeriesStillHolds(t *testing.T) {
	r := newStopRig(t)
	for range 8 * 5 {
		r.tick(same)
	}
	aT, lagging := r.ts, r.now
	slow := func(int64) int64 {
		aT += 1_000
		return aT
	}
	for r.now.Sub(lagging) < maxInputDelay-5*time.Second {
		r.tick(slow)
		if done := r.e.done.Load(); done > r.reach(aT) {
			t.Fatalf("%v after pod a began to lag: last step %v, past a's newest sample %v", r.now.Sub(lagging),
				time.UnixMilli(done).UTC(), time.UnixMilli(aT).UTC())
		}
	}
	// Before it is forced, the log names pod a (after 30 s of waiting, at
	// most once a minute).
	held := strings.Count(r.logs.String(), "steps wait for the samples of a series still sending")
	if held < 1 || held > 2 || !strings.Contains(r.logs.String(), `pod=\"a\"`) {
		t.Errorf("%d logs of steps waiting for inputs before maxDelay, want 1 or 2 naming pod a:\n%s", held, r.logs.String())
	}
	for r.now.Sub(lagging) < maxInputDelay+time.Minute {
		r.tick(slow)
	}
	if f := testutil.ToFloat64(r.e.forced); f == 0 {
		t.Error("omen_evaluator_input_timeout_steps_total 0, want steps forced after maxDelay")
	}
	if !strings.Contains(r.logs.String(), `slowest_series="{__name__=\"m\", namespace=\"ns\", pod=\"a\"}"`) {
		t.Errorf("no warning naming pod a:\n%s", r.logs.String())
	}
}

// TestOutageKeepsSeriesLive: nothing arrives for 6 minutes (omen
// unreachable), then pod c's backlog arrives first and pod a's 5 s later.
// The outage ages neither series: the steps after a's last sample wait
// for its backlog, none is evaluated before its samples arrived.
func TestOutageKeepsSeriesLive(t *testing.T) {
	r := newStopRig(t)
	for range 20 * 5 {
		r.tick(same)
	}
	aLast := r.ts
	r.wait(6 * time.Minute)
	backlog := times(r.ts+5_000, r.ts+6*60_000, 5_000)
	r.ts = backlog[len(backlog)-1]
	for i := 0; i < len(backlog); i += 18 {
		r.now = r.now.Add(time.Second)
		r.send("c", backlog[i:min(i+18, len(backlog))], one)
	}
	r.wait(time.Second)
	if done := r.e.done.Load(); done > r.reach(aLast) {
		t.Errorf("before pod a's backlog: last step %v, past a's last sample %v", time.UnixMilli(done).UTC(), time.UnixMilli(aLast).UTC())
	}
	for i := 0; i < len(backlog); i += 18 {
		r.now = r.now.Add(time.Second)
		r.send("a", backlog[i:min(i+18, len(backlog))], one)
	}
	if done := r.e.done.Load(); done != r.passed() {
		t.Errorf("after the backlogs: last step %v, want %v", time.UnixMilli(done).UTC(), time.UnixMilli(r.passed()).UTC())
	}
	if late := testutil.ToFloat64(r.in.late); late != 0 {
		t.Errorf("omen_ingest_late_samples_total %v, want 0", late)
	}
	if f := testutil.ToFloat64(r.e.forced); f != 0 {
		t.Errorf("omen_evaluator_input_timeout_steps_total %v, want 0", f)
	}
}

// TestFlushedSeriesHolds: pod t's agent samples every 10 s and flushes
// every 60 s, each sample its own message milliseconds apart (Telegraf's
// NATS output), while pod c publishes every 5 s. Pod t counts as sending
// between its flushes by the time between its arrivals (60 s), not only
// by its samples' interval (10 s, whose 3 intervals would have let the
// steps be evaluated before each flush, its samples late).
func TestFlushedSeriesHolds(t *testing.T) {
	r := newStopRig(t)
	tLast := r.ts
	flushed := false
	lateFirst := 0.0 // the first flush's samples of steps evaluated before pod t existed
	flush := func() {
		defer func() {
			if !flushed {
				lateFirst = testutil.ToFloat64(r.in.late)
			}
			flushed = true
		}()
		for range 6 {
			tLast += 10_000
			r.now = r.now.Add(10 * time.Millisecond)
			r.send("t", []int64{tLast}, one)
		}
	}
	for range 15 * 60 {
		r.tick(nil)
		if r.ts-tLast >= 60_000 && r.now.UnixMilli()/1000%60 == 2 {
			flush()
		}
		// t's next sample is due 10 s after its newest: it holds the
		// steps after that.
		if done := r.e.done.Load(); flushed && done > (tLast+10_000-10_000/8)/r.step*r.step {
			t.Fatalf("pod t at %v: last step %v, past its reach", time.UnixMilli(tLast).UTC(), time.UnixMilli(done).UTC())
		}
	}
	if late := testutil.ToFloat64(r.in.late); late != lateFirst {
		t.Errorf("omen_ingest_late_samples_total %v after the first flush's %v, want no more (pod t's samples arrived after their steps were evaluated)", late, lateFirst)
	}
	if f := testutil.ToFloat64(r.e.forced); f != 0 {
		t.Errorf("omen_evaluator_input_timeout_steps_total %v, want 0", f)
	}
}
