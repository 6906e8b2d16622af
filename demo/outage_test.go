package demo

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/internal/testenv"
)

// TestRunExternalNATSOutage: omen demo with --nats.url rides out an
// outage of its external server (Debian nats-server 2.9, stopped for
// longer than a tick's acknowledgement timeout and started again on the
// same port and store): it keeps reconnecting, logs the outage as omen
// run does (one "NATS reconnected" with how long it was down), and then
// publishes and ingests the fleet again, until stopped. It stopped at
// the first tick whose acknowledgements did not come within 10 s ("sim
// publish tick …: no acknowledgement within 10s"), and its publisher's
// connection gave up after 60 attempts. Once reconnected, the fleet resumes at the tick
// the outage held up, and the outage skips no step: before the publisher
// moved its schedule (sim.Run, a tick due over 2 intervals ago), the
// ticks due during the outage were published in a burst that moved the data past the
// in-memory window of the steps not yet evaluated.
func TestRunExternalNATSOutage(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	port, sd := testenv.StablePort(t), t.TempDir()
	srv := testenv.NATSServerOn(t, port, sd)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, logs := &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Options{Seed: 1, History: time.Hour, Speed: 100, ModelFile: e2eModel, Out: out,
			App: app.Options{ListenAddress: "127.0.0.1:0", NATSURL: url, StoragePath: filepath.Join(t.TempDir(), "store"),
				Logger: slog.New(slog.NewTextHandler(logs, nil))}})
	}()
	running := func(what string, d time.Duration, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(d); ; {
			select {
			case err := <-errc:
				t.Fatalf("demo stopped (%v) while waiting for %s; output:\n%s\nlog:\n%s", err, what, out.String(), logs.String())
			case <-time.After(200 * time.Millisecond):
			}
			if done != nil && done() {
				return
			}
			if time.Now().After(deadline) {
				if done == nil {
					return
				}
				t.Fatalf("no %s after %v; output:\n%s\nlog:\n%s", what, d, out.String(), logs.String())
			}
		}
	}
	// The stream's last sequence and the one the daemon's consumer has
	// acknowledged up to (0, 0 while the server is down).
	seqs := func() (last, acked uint64) {
		nc, err := nats.Connect(url, nats.Timeout(time.Second))
		if err != nil {
			return 0, 0
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return 0, 0
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, "OMEN", "omen")
		if err != nil {
			return 0, 0
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0, 0
		}
		s, err := js.Stream(ctx, "OMEN")
		if err != nil {
			return 0, 0
		}
		return s.CachedInfo().State.LastSeq, info.AckFloor.Stream
	}
	running("the live phase", 3*time.Minute, func() bool { return strings.Contains(out.String(), "live: the fleet runs") })
	before, _ := seqs()
	srv.Stop(t)
	down := time.Now()
	running("the outage's end", 12*time.Second, nil)
	testenv.NATSServerOn(t, port, sd)
	outage := time.Since(down)
	running("the fleet published and ingested after the restart", 2*time.Minute, func() bool {
		last, acked := seqs()
		return last > before+100 && acked > before+100
	})
	if line := logLine(logs.String(), "NATS reconnected"); !strings.Contains(line, "down_for=") {
		t.Errorf("reconnect logged as %q, want omen run's INFO with down_for:\n%s", line, logs.String())
	}
	// The fleet's time resumes at the tick the outage held up: the ticks
	// due meanwhile (12 s at 100x: 80 steps) were, before the schedule
	// moved (sim.Run), published in a burst,
	// which moved the data past the in-memory window of the steps not
	// yet evaluated, skipped (56 of them in 5 WARNs within seconds of the
	// reconnect). Only the skips of the 30 s after the reconnect count,
	// and only a quarter of the outage's steps fails: a step or a few
	// skipped later, when the loaded machine stalled the evaluator for
	// the window's slack (21 steps, 3 s at 100x), are not the outage's.
	if skipped, reconnected := skippedAfter(t, logs.String(), "NATS reconnected", 30*time.Second); reconnected {
		if limit := int(outage.Seconds() * 100 / 15 / 4); skipped >= limit {
			t.Errorf("within 30 s of the reconnect the evaluator skipped %d steps, want fewer than %d (a quarter of the %v outage's steps at 100x):\n%s",
				skipped, limit, outage.Round(time.Second), logs.String())
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Run = %v after Ctrl-C, want nil", err)
	}
}

// skippedAfter sums the skipped= of the evaluator's "steps skipped"
// WARNs that out (slog text) logged within d of its first line containing
// mark; found is whether there is one.
func skippedAfter(t *testing.T, out, mark string, d time.Duration) (skipped int, found bool) {
	t.Helper()
	var from time.Time
	for l := range strings.Lines(out) {
		if !found && !strings.Contains(l, mark) || found && !strings.Contains(l, "steps skipped") {
			continue
		}
		ts, n := logAttr(l, "time"), logAttr(l, "skipped")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatalf("log line %q: time %q: %v", l, ts, err)
		}
		if !found {
			from, found = at, true
			continue
		}
		if at.Sub(from) > d {
			break
		}
		var k int
		if _, err := fmt.Sscan(n, &k); err != nil {
			t.Fatalf("log line %q: skipped %q: %v", l, n, err)
		}
		skipped += k
	}
	return skipped, found
}

// logAttr returns the value of the attribute key in a slog text line
// (unquoted values only: time and numbers).
func logAttr(line, key string) string {
	for f := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// logLine returns the first line of out that contains s.
func logLine(out, s string) string {
	for l := range strings.Lines(out) {
		if strings.Contains(l, s) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
