package app

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/telemetry"
)

// TestActivityClock: the activity clock runs with the wall clock while
// data arrives and counts at most activityGap of a pause.
func TestActivityClock(t *testing.T) {
	const s = int64(1000)
	var c activityClock
	gap := activityGap.Milliseconds()
	steps := []struct {
		wall    int64
		arrival bool
		want    int64
	}{
		{wall: 100 * s, arrival: true, want: 100 * s},
		{wall: 105 * s, arrival: true, want: 105 * s},
		{wall: 110 * s, want: 110 * s},
		{wall: 105*s + 6*60*s, want: 105*s + gap}, // a 6-minute pause
		{wall: 105*s + 6*60*s, arrival: true, want: 105*s + gap},
		{wall: 106*s + 6*60*s, arrival: true, want: 106*s + gap},
		{wall: 100 * s, arrival: true, want: 106*s + gap}, // the clock went back
	}
	for i, st := range steps {
		var got int64
		if st.arrival {
			got = c.at(st.wall)
		} else {
			got = c.now(st.wall)
		}
		if got != st.want {
			t.Errorf("step %d (wall %d, arrival %v): %d, want %d", i, st.wall, st.arrival, got, st.want)
		}
	}
}

// TestActivityClockPeriod: of a gap, the activity clock counts as much
// as 5/4 of the usual gap between bursts of arrivals (the third quartile
// of the last 16), at least activityGap and at most maxActivityGap, so
// that it runs with the wall clock when arrivals are minutes apart while
// an outage still counts little; arrivals less than burstGap apart are
// one burst, and the usual gap ignores a few outages.
func TestActivityClockPeriod(t *testing.T) {
	const s = int64(1000)
	// from returns n bursts of k arrivals 100 ms apart, every apart,
	// the first at start.
	from := func(start int64, n, k int, every int64) []int64 {
		var ws []int64
		for i := range n {
			for j := range k {
				ws = append(ws, start+int64(i)*every+int64(j)*100)
			}
		}
		return ws
	}
	bursts := func(n, k int, every int64) []int64 { return from(1000*s, n, k, every) }
	tests := []struct {
		name     string
		arrivals []int64 // wall times (ms)
		counted  int64   // of a pause of 10 minutes after the last arrival
	}{
		{name: "every 5s", arrivals: bursts(20, 1, 5*s), counted: activityGap.Milliseconds()},
		{name: "every 10s", arrivals: bursts(20, 1, 10*s), counted: activityGap.Milliseconds()},
		{name: "every 40s", arrivals: bursts(20, 1, 40*s), counted: 50 * s},
		{name: "every 60s", arrivals: bursts(20, 1, 60*s), counted: maxActivityGap.Milliseconds()},
		{name: "every 5m", arrivals: bursts(20, 1, 300*s), counted: maxActivityGap.Milliseconds()},
		{name: "bursts of 3 every 40s", arrivals: bursts(20, 3, 40*s), counted: (40*s - 200) * 5 / 4},
		{name: "3 gaps, too few to tell", arrivals: bursts(4, 1, 40*s), counted: activityGap.Milliseconds()},
		{name: "4 gaps", arrivals: bursts(5, 1, 40*s), counted: 50 * s},
		{name: "40s with outages", arrivals: func() []int64 {
			ws := bursts(20, 1, 40*s)
			for i := range ws[5:] {
				ws[5+i] += 10 * 60 * s // 10 minutes without arrivals after the 5th
			}
			for i := range ws[12:] {
				ws[12+i] += 20 * 60 * s
			}
			return ws
		}(), counted: 50 * s},
		{name: "40s, then every 5s for 16 bursts", arrivals: append(bursts(20, 1, 40*s), from(1765*s, 16, 1, 5*s)...), counted: activityGap.Milliseconds()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c activityClock
			var last, at int64
			gaps := 0 // between bursts, so far
			for i, w := range tt.arrivals {
				got := c.at(w)
				// Once the usual gap is known, a gap no longer than
				// the most counted counts whole.
				if gaps >= minPeriodGaps && w-last <= tt.counted && got != at+w-last {
					t.Fatalf("arrival %d, %d ms after the last: activity time %d, want %d (the whole gap)", i, w-last, got, at+w-last)
				}
				if i > 0 && w-last >= burstGap.Milliseconds() {
					gaps++
				}
				last, at = w, got
			}
			if got := c.now(last+10*60*s) - at; got != tt.counted {
				t.Errorf("a pause of 10 minutes counts %d ms, want %d", got, tt.counted)
			}
		})
	}
}

// TestReplayKeepsSeriesLive: after a restart 6 minutes long, the series
// that were sending before the stop (replayed from the ingest log at
// their receipt times) still count as sending, so that a backlog of one
// of them arriving first does not leave the others behind.
func TestReplayKeepsSeriesLive(t *testing.T) {
	in, st := newTestIngester(t)
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	in.clock = func() time.Time { return t0 }
	sample := func(pod string, ts int64) telemetry.Sample {
		return telemetry.Sample{Labels: labels.FromStrings("__name__", "m", "namespace", "ns", "pod", pod), T: ts, V: 1}
	}
	data := t0.UnixMilli()
	if err := in.Append(context.Background(), []telemetry.Batch{{Source: "remote-write", Received: t0.UnixMilli(), Samples: []telemetry.Sample{
		sample("a", data-15_000), sample("b", data-15_000), sample("a", data), sample("b", data),
	}}}); err != nil {
		t.Fatal(err)
	}
	// The restart: a new head, the ingest log replayed.
	head, err := features.NewHead(features.HeadOptions{ImmutableLabels: true})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := features.NewExtractor(features.ExtractorOptions{Config: features.DefaultConfig(), Head: head})
	if err != nil {
		t.Fatal(err)
	}
	re := newIngester(st, head, ex, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err := re.replay(context.Background(), time.Hour); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(6 * time.Minute)
	re.clock = func() time.Time { return now }
	if err := re.Append(context.Background(), []telemetry.Batch{{Source: "remote-write", Received: now.UnixMilli(), Samples: []telemetry.Sample{
		sample("a", data+15_000), sample("a", data+30_000),
	}}}); err != nil {
		t.Fatal(err)
	}
	got, lset, ok := head.Progress(re.liveness(now.UnixMilli(), settleTime), [][]*labels.Matcher{nil}) // every series
	if want := data + 15_000 - 15_000/8; !ok || got != want || lset.Get("pod") != "b" {
		t.Errorf("Progress = %d of %s (%v), want %d of pod b", got, lset, ok, want)
	}
}

// agentArrivals returns the wall times (ms, ascending) of agents flushing
// every period at the given phases (ms into the period) for cycles
// periods from start.
func agentArrivals(start, period int64, phases []int64, cycles int) []int64 {
	var ws []int64
	for c := range int64(cycles) {
		for _, p := range phases {
			ws = append(ws, start+c*period+p)
		}
	}
	slices.Sort(ws)
	return ws
}

// TestActivityClockClusteredAgents: push agents that flush at the same
// period a few seconds apart leave one long gap a period among short
// ones. The activity clock counts every gap of theirs whole, up to
// maxActivityGap (it runs with the wall clock) and, of a pause, up to 5/4 of that long gap (at most
// maxActivityGap). The third quartile of the gaps alone never reached the
// long gap with 4 agents or more: the clock counted 15 s of it and ran at
// 0.41 of the wall clock's speed (4 agents 3 s apart every 60 s), so that
// a stopped series held steps until they were forced. Once long gaps no
// longer recur (the arrivals became frequent), a pause counts activityGap
// again.
func TestActivityClockClusteredAgents(t *testing.T) {
	const s = int64(1000)
	start := int64(1_800_000_000_000)
	spaced := func(n int, apart int64) []int64 {
		ph := make([]int64, n)
		for i := range ph {
			ph[i] = int64(i) * apart
		}
		return ph
	}
	rng := rand.New(rand.NewPCG(13, 1))
	random := func(n int) []int64 {
		ph := make([]int64, n)
		for i := range ph {
			ph[i] = rng.Int64N(60 * s)
		}
		return ph
	}
	tests := []struct {
		name     string
		arrivals []int64
		whole    int   // arrivals from which on every gap counts whole
		counted  int64 // of a pause of 10 minutes after the last arrival (0: at most maxActivityGap)
	}{
		{name: "4 agents 3s apart every 60s", arrivals: agentArrivals(start, 60*s, spaced(4, 3*s), 30), whole: 4 * 5, counted: maxActivityGap.Milliseconds()},
		{name: "8 agents 3s apart every 60s", arrivals: agentArrivals(start, 60*s, spaced(8, 3*s), 30), whole: 8 * 5, counted: 39 * s * 5 / 4},
		{name: "20 agents 1s apart every 60s", arrivals: agentArrivals(start, 60*s, spaced(20, s), 30), whole: 20 * 5, counted: 41 * s * 5 / 4},
		{name: "4 agents 3s apart every 5m", arrivals: agentArrivals(start, 300*s, spaced(4, 3*s), 30), whole: 4 * 5, counted: maxActivityGap.Milliseconds()},
		{name: "5 agents at random phases every 60s", arrivals: agentArrivals(start, 60*s, random(5), 30), whole: 5 * 5},
		{name: "12 agents at random phases every 60s", arrivals: agentArrivals(start, 60*s, random(12), 30), whole: 12 * 5},
		{name: "4 agents 3s apart every 60s, then every 5s for 80s", arrivals: append(agentArrivals(start, 60*s, spaced(4, 3*s), 30),
			agentArrivals(start+30*60*s, 5*s, []int64{0}, 17)...), whole: 4 * 5, counted: activityGap.Milliseconds()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c activityClock
			var last, at int64
			for i, w := range tt.arrivals {
				got := c.at(w)
				if want := min(w-last, maxActivityGap.Milliseconds()); i >= tt.whole && got-at != want {
					t.Fatalf("arrival %d, %d ms after the last: %d ms counted, want %d (the whole gap, at most maxActivityGap)", i, w-last, got-at, want)
				}
				last, at = w, got
			}
			got := c.now(last+10*60*s) - at
			if tt.counted == 0 && (got < activityGap.Milliseconds() || got > maxActivityGap.Milliseconds()) ||
				tt.counted != 0 && got != tt.counted {
				t.Errorf("a pause of 10 minutes counts %d ms, want %d (0: from %v to %v)", got, tt.counted, activityGap, maxActivityGap)
			}
		})
	}
}

// TestClusteredAgentsStoppedSeries: four push agents (pods a to d) each
// flush one sample every 60 s (or 10 s, Telegraf's default), a few
// seconds apart; pod d then stops without a stale marker (as Telegraf
// does). Its series holds the steps after its last sample for 3 of its
// intervals of arriving data (at most settle: about settle at 60 s, 30 s
// at 10 s, where it held them settle too), no step is forced and no
// sample of the others is late. Before,
// agents 3 s or 6 s apart slowed the activity clock to 0.41 of the wall
// clock: pod d held 3 steps until they had waited maxDelay (forced, with
// a warning).
func TestClusteredAgentsStoppedSeries(t *testing.T) {
	tests := []struct {
		period, spacing time.Duration
		held            time.Duration // the longest the steps may wait after d's last sample
	}{
		{period: time.Minute, spacing: 0, held: settleTime + 5*time.Second},
		{period: time.Minute, spacing: 3 * time.Second, held: settleTime + 5*time.Second},
		{period: time.Minute, spacing: 6 * time.Second, held: settleTime + 5*time.Second},
		{period: 10 * time.Second, spacing: 0, held: 40 * time.Second},
		{period: 10 * time.Second, spacing: 3 * time.Second, held: 40 * time.Second},
	}
	for _, tt := range tests {
		spacing, period := tt.spacing, tt.period.Milliseconds()
		t.Run(fmt.Sprintf("every %v, %v apart", tt.period, spacing), func(t *testing.T) {
			r := newInputsRig(t, settleTime, maxInputDelay)
			r.source = natsSource // push agents: no stale markers
			ts := int64(1_800_000_000_000) / period * period
			one := func(int64) float64 { return 1 }
			var lastD time.Time // wall time of pod d's last sample
			var lastDT int64    // its data time
			// A step pod d has not reached (its next sample was due
			// 60 s after its last), and when it was evaluated.
			unreached := int64(0)
			var released time.Duration
			check := func() {
				if unreached != 0 && released == 0 && r.e.done.Load() >= unreached {
					released = r.now.Sub(lastD)
				}
			}
			cycle := func(stopped bool) {
				start := r.now
				for i, pod := range []string{"a", "b", "c", "d"} {
					if stopped && pod == "d" {
						continue
					}
					r.now = start.Add(time.Duration(i) * spacing)
					r.send(pod, []int64{ts + (time.Duration(i) * spacing).Milliseconds()}, one)
					check()
					if pod == "d" {
						lastD, lastDT = r.now, ts+(time.Duration(i)*spacing).Milliseconds()
					}
				}
				for r.now.Sub(start) < tt.period {
					r.wait(time.Second)
					check()
				}
				ts += period
			}
			for range 30 {
				cycle(false)
			}
			unreached = (lastDT+period-period/8)/r.step*r.step + r.step
			for range 8 * 60_000 / period {
				cycle(true)
			}
			t.Logf("pod d released the steps %v after its last sample", released)
			if released == 0 || released > tt.held {
				t.Errorf("the steps pod d had not reached were evaluated from %v after its last sample (0: never), want within %v", released, tt.held)
			}
			if late := testutil.ToFloat64(r.in.late); late != 0 {
				t.Errorf("omen_ingest_late_samples_total %v, want 0", late)
			}
			if f := testutil.ToFloat64(r.e.forced); f != 0 {
				t.Errorf("omen_evaluator_input_timeout_steps_total %v, want 0", f)
			}
			if n := strings.Count(r.logs.String(), "after waiting the longest delay"); n != 0 {
				t.Errorf("%d warnings of steps evaluated after waiting the longest delay, want 0", n)
			}
		})
	}
}
