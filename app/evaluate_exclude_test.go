package app

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestLaggingSeriesExcludedUntilCaughtUp: pod b's exporter timestamps
// its samples 5 minutes in the past. The first steps it holds back wait
// maxDelay (forced, one warning); b is then excluded from the wait, and
// the later steps are evaluated as soon as pod a reaches them, without
// another forced step or warning. Once b's samples catch up (reach the
// step waited on) it holds steps back again: when it then sends its
// newest sample again and again (its timestamps stuck: it still arrives)
// the next steps wait for it, up to maxDelay. Before, every step waited
// maxDelay for b, with a warning per step.
func TestLaggingSeriesExcludedUntilCaughtUp(t *testing.T) {
	const maxDelay, scrape, lag = time.Minute, 15_000, 5 * 60_000
	r := newInputsRig(t, time.Hour, maxDelay)
	base := int64(1_800_000_000_000) / r.step * r.step
	one := func(int64) float64 { return 1 }
	ts := base
	r.send("a", []int64{ts}, one)
	r.send("b", []int64{ts - lag}, one)
	next := func(sendB bool) {
		ts += scrape
		r.now = r.now.Add(scrape * time.Millisecond)
		r.send("a", []int64{ts}, one)
		if sendB {
			r.send("b", []int64{ts - lag}, one)
		}
	}
	aTarget := func() int64 { return (ts - r.step) / r.step * r.step }
	warnings := func() int { return strings.Count(r.logs.String(), "after waiting the longest delay") }
	for range 6 { // a step waits maxDelay (4 scrapes) for b
		next(true)
	}
	forced := testutil.ToFloat64(r.e.forced)
	if forced == 0 || warnings() != 1 {
		t.Fatalf("after maxDelay: %v steps forced, %d warnings; want some, 1", forced, warnings())
	}
	if g := testutil.ToFloat64(r.e.excludedG); g != 1 {
		t.Fatalf("after maxDelay: omen_evaluator_excluded_series %v, want 1 (b)", g)
	}
	for range 40 {
		next(true)
		if done := r.e.done.Load(); done != aTarget() {
			t.Fatalf("b excluded, a at %v: last step %v, want %v (no wait for b)", time.UnixMilli(ts).UTC(), time.UnixMilli(done).UTC(), time.UnixMilli(aTarget()).UTC())
		}
	}
	if f := testutil.ToFloat64(r.e.forced); f != forced || warnings() != 1 {
		t.Fatalf("b excluded: %v steps forced, %d warnings; want %v, 1", f, warnings(), forced)
	}
	// b catches up: its missing 5 minutes arrive, then its newest sample
	// arrives again with each of a's (a stuck exporter; a series that
	// stops altogether holds steps back for 3 of its intervals only).
	r.send("b", times(ts-lag+scrape, ts, scrape), one)
	bLast := ts
	held := (ts + scrape - scrape/8) / r.step * r.step // the newest step b reached
	stuck := func() {
		next(false)
		r.send("b", []int64{bLast}, one)
	}
	for range 3 { // less than maxDelay
		stuck()
		if done := r.e.done.Load(); done != held {
			t.Fatalf("b caught up, a at %v: last step %v, want %v (b's)", time.UnixMilli(ts).UTC(), time.UnixMilli(done).UTC(), time.UnixMilli(held).UTC())
		}
	}
	if g := testutil.ToFloat64(r.e.excludedG); g != 0 {
		t.Fatalf("b caught up: omen_evaluator_excluded_series %v, want 0", g)
	}
	if held >= aTarget() {
		t.Fatalf("b's newest step %v, want one before a's %v", time.UnixMilli(held).UTC(), time.UnixMilli(aTarget()).UTC())
	}
	for range 4 { // maxDelay: forced, b excluded again
		stuck()
	}
	if f := testutil.ToFloat64(r.e.forced); f <= forced || warnings() != 2 {
		t.Errorf("b held steps for maxDelay again: %v steps forced (were %v), %d warnings; want more, 2", f, forced, warnings())
	}
	if done := r.e.done.Load(); done != aTarget() {
		t.Errorf("b excluded again: last step %v, want %v", time.UnixMilli(done).UTC(), time.UnixMilli(aTarget()).UTC())
	}
	if g := testutil.ToFloat64(r.e.excludedG); g != 1 {
		t.Errorf("b excluded again: omen_evaluator_excluded_series %v, want 1", g)
	}
}
