package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
)

// restart is a new daemon's rig over r's store: its head holds r's
// batches (the ingest log's replay), its evaluator is made after them.
// r.e stops first (the last step's cursor is written, as run does).
// logs receives the new evaluator's warnings and information.
func (r *windowRig) restart(t *testing.T, lookback time.Duration, logs *testenv.SyncBuffer) *windowRig {
	t.Helper()
	r.e.saveCursor()
	r2 := newWindowRigOn(t, lookback, r.st, r.batches)
	r2.seq, r2.offset = r.seq, r.offset
	if logs != nil {
		r2.e.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return r2
}

// evaluatedSteps are the steps (after base) from..to without a stored
// vector.
func (r *windowRig) missing(t *testing.T, from, to int64) []int64 {
	t.Helper()
	have := r.vectorSteps(t)
	var out []int64
	for i := from; i <= to; i++ {
		if !have[i] {
			out = append(out, i)
		}
	}
	return out
}

// cursorStep is the stored step cursor, in steps after base.
func (r *windowRig) cursorStep(t *testing.T) int64 {
	t.Helper()
	c, ok, err := r.st.StepCursor()
	if err != nil || !ok {
		t.Fatalf("no step cursor: %v", err)
	}
	return (c - r.base) / r.step
}

// TestRestartResumesAtCursor: a restarted daemon evaluates the steps
// after the last one its predecessor evaluated (the step cursor), which
// the data replayed from the ingest log holds, with their vectors, and
// not the last one again. Before, it resumed at the newest step of the
// replayed data: the steps an evaluator behind the data had not reached
// when it stopped were neither evaluated nor counted.
func TestRestartResumesAtCursor(t *testing.T) {
	ctx := context.Background()
	r := newWindowRig(t, 0)
	r.scrape(t, 0, 40)
	r.e.tick(ctx) // a new store: the newest step only
	if got := testutil.ToFloat64(r.e.steps); got != 1 {
		t.Fatalf("first tick of a new store: %v steps evaluated, want 1", got)
	}
	r.scrape(t, 41, 45)
	r.e.tick(ctx)
	last := (r.e.next-r.base)/r.step - 1
	// The step cursor lags a step behind the vectors (a crash has the
	// last step evaluated again); the stop writes the last step.
	if c := r.cursorStep(t); c != last-1 {
		t.Errorf("step cursor before the stop: step %d, want %d (the step before the last)", c, last-1)
	}
	// Data the evaluator had not reached when the daemon stopped.
	r.scrape(t, 46, 52)
	logs := &testenv.SyncBuffer{}
	r2 := r.restart(t, 0, logs)
	if c := r2.cursorStep(t); c != last {
		t.Fatalf("step cursor after the stop: step %d, want %d", c, last)
	}
	r2.e.tick(ctx)
	newest := (r2.e.next-r2.base)/r2.step - 1
	if newest <= last+1 {
		t.Fatalf("newest step %d: the test needs steps after the cursor (%d)", newest, last)
	}
	if m := r2.missing(t, last+1, newest); len(m) > 0 {
		t.Errorf("steps %v after the cursor (step %d) have no vector", m, last)
	}
	if got, want := testutil.ToFloat64(r2.e.steps), float64(newest-last); got != want {
		t.Errorf("%v steps evaluated after the restart, want %v (steps %d..%d: not the cursor's again)", got, want, last+1, newest)
	}
	if s := testutil.ToFloat64(r2.e.skipped); s != 0 {
		t.Errorf("%v steps counted skipped, want 0", s)
	}
	// Another restart, without new data: nothing to evaluate (the last
	// step is not evaluated again), and samples for the predecessor's
	// steps are late.
	r3 := r2.restart(t, 0, nil)
	r3.e.tick(ctx)
	if got := testutil.ToFloat64(r3.e.steps); got != 0 {
		t.Errorf("restart without new data: %v steps evaluated, want 0", got)
	}
	// The last step evaluated is the cursor's, not 0, until the next is
	// evaluated (a reviewer saw the gauge read 0 for 2 minutes after a
	// restart whose first step waited for a lagging series).
	if got, want := testutil.ToFloat64(r3.e.lastStep), float64(r3.base+newest*r3.step)/1000; got != want {
		t.Errorf("omen_evaluator_last_step_timestamp_seconds after the restart = %v, want the cursor's %v", got, want)
	}
	r3.offset = 0
	r3.scrape(t, newest, newest)
	if got := testutil.ToFloat64(r3.in.late); got != 1 {
		t.Errorf("a sample at the cursor's step after the restart: %v counted late, want 1", got)
	}
}

// TestRestartCountsStaleSteps: steps after the cursor that the replayed
// window no longer holds in full are counted in
// omen_evaluator_skipped_steps_total, with the warning; those it holds
// are evaluated. Every step after the cursor is accounted for.
func TestRestartCountsStaleSteps(t *testing.T) {
	ctx := context.Background()
	r := newWindowRig(t, 0)
	r.scrape(t, 0, 40)
	r.e.tick(ctx)
	last := (r.e.next-r.base)/r.step - 1
	r.scrape(t, 41, 140) // more than the window (60 steps)
	logs := &testenv.SyncBuffer{}
	r2 := r.restart(t, 0, logs)
	r2.e.tick(ctx)
	newest := (r2.e.next-r2.base)/r2.step - 1
	skipped := int64(testutil.ToFloat64(r2.e.skipped))
	if skipped == 0 || !strings.Contains(logs.String(), "steps skipped") {
		t.Errorf("%d steps counted skipped (logs %q), want the steps the window does not hold", skipped, logs.String())
	}
	m := r2.missing(t, last+1, newest)
	if int64(len(m)) != skipped {
		t.Errorf("%d steps after the cursor without a vector, %d counted skipped", len(m), skipped)
	}
	if len(m) > 0 && m[len(m)-1] != last+int64(len(m)) {
		t.Errorf("steps without a vector %v: not the oldest after the cursor", m)
	}
}

// TestRestartCursorEdges: without a cursor, with a cursor newer than the
// replayed data, and with nothing replayed, the restart evaluates the
// newest step only; a cursor far older than the replayed data counts at
// most the replay's span (lookback + resumeSlack) skipped.
func TestRestartCursorEdges(t *testing.T) {
	ctx := context.Background()
	const lookback = 15 * time.Minute
	maxCounted := float64((lookback + resumeSlack) / (15 * time.Second))
	tests := []struct {
		name string
		// cursor is the stored step cursor (steps after base; none: no
		// cursor), replay whether the data is replayed before the
		// evaluator starts (otherwise it arrives after).
		cursor        *int64
		replay        bool
		steps         float64 // evaluated at the first tick; -1: more than 1
		skippedAtMost float64
		log           string
	}{
		{name: "no cursor", replay: true, steps: 1},
		{name: "cursor newer than the data", cursor: ptr(int64(1000)), replay: true, steps: 1, log: "newer than the replayed data"},
		{name: "nothing replayed", cursor: ptr(int64(-5760)), steps: 1, log: "no data replayed"},
		{name: "cursor a week old", cursor: ptr(int64(40 - 7*5760)), replay: true, steps: -1, skippedAtMost: maxCounted, log: "older than the replayed data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newWindowRig(t, lookback)
			if tt.cursor != nil {
				if err := r.st.PutStepCursor(r.base + *tt.cursor*r.step); err != nil {
					t.Fatal(err)
				}
			}
			// The data: steps 0..40 of the predecessor, replayed.
			r.scrape(t, 0, 40)
			replay := r.batches
			if !tt.replay {
				replay = nil
			}
			logs := &testenv.SyncBuffer{}
			r2 := newWindowRigOn(t, lookback, r.st, replay)
			r2.seq = r.seq
			r2.e.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			if !tt.replay {
				r2.scrape(t, 0, 40)
			}
			r2.e.tick(ctx)
			steps, skipped := testutil.ToFloat64(r2.e.steps), testutil.ToFloat64(r2.e.skipped)
			if tt.steps == 1 && (steps != 1 || skipped != 0) {
				t.Errorf("%v steps evaluated, %v skipped; want the newest only", steps, skipped)
			}
			if tt.steps == -1 && steps <= 1 {
				t.Errorf("%v steps evaluated, want the steps the window holds", steps)
			}
			if skipped > tt.skippedAtMost {
				t.Errorf("%v steps counted skipped, want at most %v", skipped, tt.skippedAtMost)
			}
			if !strings.Contains(logs.String(), tt.log) {
				t.Errorf("logs %q, want %q", logs.String(), tt.log)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestRestartStopWritesCursor: the daemon's stop stores its last
// evaluated step as the step cursor, and a daemon restarted without new
// data evaluates nothing: before, it evaluated its predecessor's last
// step again (the alerts count it once: TestRestartStepNotCountedTwice).
func TestRestartStopWritesCursor(t *testing.T) {
	dir := t.TempDir()
	natsPort := testenv.StablePort(t)
	mut := func(o *Options) { o.NATSListenAddress = fmt.Sprintf("127.0.0.1:%d", natsPort) }
	a := startApp(t, dir, mut)
	const entity = "shop/cart-0"
	start := time.Now().Add(-3 * time.Minute).Truncate(5 * time.Second)
	var rounds [][]byte
	for r := range 11 {
		rounds = append(rounds, podLines(r, start.Add(time.Duration(r)*5*time.Second), 2))
	}
	publish(t, a.NATSURL(), "omen.metrics.influx", rounds...)
	lastStep := start.Add(9 * 5 * time.Second).UnixMilli() // the watermark's step minus one
	waitFor(t, "the last step's vectors", 30*time.Second, func() bool {
		_, last := countVectors(t, a.Store(), entity)
		return last.T >= lastStep
	})
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := startApp(t, dir, mut)
	if c, ok, err := b.Store().StepCursor(); err != nil || !ok || c != lastStep {
		t.Fatalf("step cursor after the stop: %v, %v, %v; want %v", time.UnixMilli(c).UTC(), ok, err, time.UnixMilli(lastStep).UTC())
	}
	time.Sleep(time.Second) // ten ticks
	if n := testutil.ToFloat64(b.eval.steps); n != 0 {
		t.Errorf("the restarted daemon evaluated %v steps without new data, want 0", n)
	}
}

// TestRestartCursorOtherStep: a cursor written at another step (the step
// changed with the restart) is rounded down to the new step's grid;
// resumed at cursor + step, every later vector, prediction and cursor
// stayed off the grid. (Reviewer's reproduction.)
func TestRestartCursorOtherStep(t *testing.T) {
	r := newWindowRig(t, 15*time.Minute)
	r.scrape(t, 0, 40)
	// A daemon at a 10s step evaluated up to base + 20×15s + 10s.
	cur := r.base + 20*r.step + 10_000
	if err := r.st.PutStepCursor(cur); err != nil {
		t.Fatal(err)
	}
	r2 := newWindowRigOn(t, 15*time.Minute, r.st, r.batches)
	r2.e.tick(context.Background())
	steps := r2.vectorSteps(t)
	if len(steps) == 0 {
		t.Fatal("no vectors after the restart")
	}
	ens, err := r2.st.Entities()
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range ens {
		if err := r2.st.Vectors(en.ID, 0, 1<<62, func(v store.Vector) error {
			if v.T%r2.step != 0 {
				t.Errorf("vector at %v is %d ms off the %d ms grid", time.UnixMilli(v.T).UTC(), v.T%r2.step, r2.step)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if c, ok, err := r2.st.StepCursor(); err != nil || !ok || c%r2.step != 0 {
		t.Errorf("cursor %d (%v, %v) is off the %d ms grid", c, ok, err, r2.step)
	}
	// The step after the rounded cursor (base + 21 steps) is evaluated.
	if !steps[21] {
		t.Errorf("steps with vectors %v: want step 21, the first after the cursor rounded down to step 20", steps)
	}
}
