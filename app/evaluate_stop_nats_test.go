package app

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestNATSStoppedSeriesReleasesSteps is the reviewer's repro in process:
// omen with the embedded NATS server and the wall clock (as omen run),
// pods c/d and a/b publishing Influx line protocol on
// omen.metrics.influx every second, a/b only for the first 8 ticks
// (Telegraf sends no stale marker). The steps after a/b's last sample are
// evaluated about 15 s later (3 of its intervals, at least 15 s, of c/d's
// arriving data), not after the 2 minutes a stopped series held every
// step of the daemon before (the reviewer's omen_evaluator_last_step
// lagged by up to 115 s, with omen_evaluator_input_timeout_steps_total at
// 0). The bound asserted, 60 s, leaves a loaded machine 40 s of slack and
// still fails without the fix.
func TestNATSStoppedSeriesReleasesSteps(t *testing.T) {
	a := startApp(t, t.TempDir(), func(o *Options) { o.WallClock = true })
	step := int64(5_000) // testConfig's
	line := func(ns, pod string, ts time.Time) []byte {
		return fmt.Appendf(nil, "container_memory_working_set_bytes,namespace=%s,pod=%s value=1 %d\n", ns, pod, ts.UnixNano())
	}
	var aLast time.Time
	for i := range 8 {
		now := time.Now()
		publish(t, a.NATSURL(), "omen.metrics.influx", append(line("c", "d", now), line("a", "b", now)...))
		aLast = now
		if i < 7 {
			time.Sleep(time.Second)
		}
	}
	// The newest step a/b reached: its next sample was due a second
	// after its last (7/8 of it counts).
	reached := (aLast.UnixMilli() + 1000 - 1000/8) / step * step
	var released time.Duration
	deadline := aLast.Add(90 * time.Second)
	next := aLast.Add(time.Second)
	for time.Now().Before(deadline) {
		if now := time.Now(); !now.Before(next) {
			publish(t, a.NATSURL(), "omen.metrics.influx", line("c", "d", now))
			next = next.Add(time.Second)
		}
		if done := a.eval.done.Load(); done > reached {
			released = time.Since(aLast)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the steps after a/b's last sample were evaluated %v after it", released.Round(100*time.Millisecond))
	if released == 0 || released > time.Minute {
		t.Errorf("the steps after a/b's last sample evaluated %v after it (0: not in 90s), want within 1m (15s of arriving data)", released)
	}
	if f := testutil.ToFloat64(a.eval.forced); f != 0 {
		t.Errorf("omen_evaluator_input_timeout_steps_total %v, want 0", f)
	}
}
