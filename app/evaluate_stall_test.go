package app

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestShardStall: Prometheus, 15 s scrape, remote write over two shards:
// pod a's shard stalls for stall (a request timing out at remote_timeout,
// 30 s, then retried) while pod c's keeps sending, then a's backlog
// arrives. Remote write ends a stopped series with a stale marker, so a's
// series holds the steps for settle (2 minutes) and none of its samples
// is late. With the interval rule of NATS series (3 of its 15 s
// intervals) it was released after 45 s: 3, 4 and 6 late samples at 55 s,
// 70 s and 100 s.
func TestShardStall(t *testing.T) {
	for _, stall := range []time.Duration{40 * time.Second, 55 * time.Second, 70 * time.Second, 100 * time.Second} {
		t.Run(stall.String(), func(t *testing.T) {
			r := newInputsRig(t, settleTime, maxInputDelay) // remote write
			start := r.now
			ts := r.now.UnixMilli() / 15_000 * 15_000
			var pending []int64 // a's samples in its stalled shard
			stallFrom := start.Add(10 * time.Minute)
			for r.now.Sub(start) < 20*time.Minute {
				if r.now.UnixMilli()%15_000 < 1000 {
					ts += 15_000
					r.send("c", []int64{ts}, one)
					pending = append(pending, ts)
				}
				if (r.now.Before(stallFrom) || !r.now.Before(stallFrom.Add(stall))) && len(pending) > 0 {
					r.now = r.now.Add(100 * time.Millisecond)
					r.send("a", pending, one)
					pending = nil
				}
				r.wait(time.Second)
			}
			if late := testutil.ToFloat64(r.in.late); late != 0 {
				t.Errorf("omen_ingest_late_samples_total %v, want 0", late)
			}
			if f := testutil.ToFloat64(r.e.forced); f != 0 {
				t.Errorf("omen_evaluator_input_timeout_steps_total %v, want 0", f)
			}
		})
	}
}

// TestJitteredAgents: four Telegraf agents publishing on NATS, interval
// 10 s, flush_interval 10 s, flush_jitter 60 s (a rolling ticker: each
// flush 10 s + U(0, 60 s) after the last), for 6 hours. The usual time
// between a series' arrivals follows the longer gaps: no sample is late
// after a 10-minute warm-up. When an arrival estimate lost 1/4 at each
// shorter gap, three quick flushes brought it from 70 s to 30 s and the
// next long gap released the series early: 8 late samples.
func TestJitteredAgents(t *testing.T) {
	r := newInputsRig(t, settleTime, maxInputDelay)
	r.source = natsSource
	rng := rand.New(rand.NewPCG(1, 2))
	pods := []string{"a", "b", "c", "d"}
	start := r.now
	next := map[string]time.Time{} // each agent's next flush
	sent := map[string]int64{}     // its newest sample time
	base := r.now.UnixMilli() / 10_000 * 10_000
	for _, p := range pods {
		next[p] = start.Add(time.Duration(rng.Float64() * float64(70*time.Second)))
		sent[p] = base
	}
	warm := -1.0 // late samples after the warm-up
	for r.now.Sub(start) < 6*time.Hour {
		for _, p := range pods {
			if r.now.Before(next[p]) {
				continue
			}
			var ts []int64
			for t := sent[p] + 10_000; t <= r.now.UnixMilli(); t += 10_000 {
				ts = append(ts, t)
			}
			if len(ts) > 0 {
				sent[p] = ts[len(ts)-1]
				r.send(p, ts, one)
			}
			next[p] = r.now.Add(10*time.Second + time.Duration(rng.Float64()*float64(60*time.Second)))
		}
		r.wait(time.Second)
		if warm < 0 && r.now.Sub(start) > 10*time.Minute {
			warm = testutil.ToFloat64(r.in.late)
		}
	}
	if late := testutil.ToFloat64(r.in.late) - warm; late != 0 {
		t.Errorf("%v samples late after the warm-up, want 0", late)
	}
}

// TestSlowFlush: pod t samples every 10 s and flushes every 60 s (6
// messages), pod c sends every 5 s (stopRig, NATS). One flush's messages
// reach the head 1.2 s apart (omen's consumer busy, a backlog fetched in
// several pulls); the flushes after are normal. Those pieces are one
// arrival, not six arrivals 1.2 s apart: no sample of t is late after
// the warm-up. Counted as arrivals they shortened t's interval and it was
// released early: 4 late samples.
func TestSlowFlush(t *testing.T) {
	r := newStopRig(t)
	tLast := r.ts
	n := 0       // flushes of t
	warm := -1.0 // late samples after the warm-up
	for range 20 * 60 {
		r.tick(nil)
		if r.ts-tLast >= 60_000 && r.now.UnixMilli()/1000%60 == 2 {
			n++
			for range 6 {
				tLast += 10_000
				if n == 8 {
					r.now = r.now.Add(1200 * time.Millisecond)
				} else {
					r.now = r.now.Add(10 * time.Millisecond)
				}
				r.send("t", []int64{tLast}, one)
			}
			if n == 3 {
				warm = testutil.ToFloat64(r.in.late)
			}
		}
	}
	if n < 10 {
		t.Fatalf("%d flushes, want at least 10", n)
	}
	if late := testutil.ToFloat64(r.in.late) - warm; late != 0 {
		t.Errorf("%v samples late after the warm-up, want 0", late)
	}
	if f := testutil.ToFloat64(r.e.forced); f != 0 {
		t.Errorf("omen_evaluator_input_timeout_steps_total %v, want 0", f)
	}
}
