package stream

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// fullDisk is an Appender whose store refuses every batch with
// store.ErrDiskFull while full is set, as the store does below its disk
// reserve; it counts the refused calls.
type fullDisk struct {
	*MemAppender
	full    atomic.Bool
	refused atomic.Int64
}

func (f *fullDisk) Append(ctx context.Context, b []telemetry.Batch) error {
	if f.full.Load() {
		f.refused.Add(1)
		return fmt.Errorf("commit %d batches to the ingest log: append batches: %w: 10 bytes free", len(b), store.ErrDiskFull)
	}
	return f.MemAppender.Append(ctx, b)
}

// lockedBuffer is a bytes.Buffer safe for a logger and a test at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNATSConsumerDiskFullBacksOff: while the store refuses every batch
// (disk full), the consumer pauses its pull between retries, twice as
// long each time (from NakDelay, here 50ms, up to half the AckWait, here
// 2.5s), warns once, and says when the store takes batches again; every
// message is stored once it does. Before, it nacked each batch with the
// NakDelay and pulled on: hundreds of refused Appends (and as many
// warnings) a second, omen and the server busy. The pause shows in
// omen_nats_consumer_backoff_seconds and omen_nats_consumer_backoffs_total.
func TestNATSConsumerDiskFullBacksOff(t *testing.T) {
	for _, srv := range natsServers {
		t.Run(srv.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, srv.start(t))
			app := &fullDisk{MemAppender: &MemAppender{}}
			app.full.Store(true)
			opts := testNATSOptions()
			opts.Durable = "diskfull"
			opts.FetchBatch = 10
			subject := "omen.metrics.influx.diskfull"
			opts.FilterSubjects = []string{subject}
			var logs lockedBuffer
			reg := prometheus.NewRegistry()
			c, err := NewNATSConsumer(nc, app, opts, reg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
			if err != nil {
				t.Fatal(err)
			}
			setupStreams(t, c)
			ts := time.Now().UnixNano()
			const n = 200
			for i := range n {
				publish(t, js, subject, "", fmt.Sprintf("diskfull,i=%d v=%d %d", i, i, ts))
			}
			stop := runConsumer(t, c)
			waitFor(t, "a refused batch", func() bool { return app.refused.Load() > 0 })
			time.Sleep(2 * time.Second)
			// Pauses of 50, 100, 200, 400, 800 ms and 1.6 s: 7 commits in
			// 2 s (without the pause, one every few milliseconds).
			refused := app.refused.Load()
			if refused > 10 {
				t.Errorf("%d batches refused in 2s of a full disk, want at most 10 (the pull backs off)", refused)
			}
			nacked := counterValue(t, reg, "omen_nats_messages_total", "outcome", "nacked")
			if max := float64(refused) * float64(opts.FetchBatch); nacked > max {
				t.Errorf("%v messages nacked for %d refused batches of at most %d", nacked, refused, opts.FetchBatch)
			}
			if got := strings.Count(logs.String(), "level=WARN"); got != 1 {
				t.Errorf("%d warnings in 2s of a full disk, want 1:\n%s", got, logs.String())
			}
			if !strings.Contains(logs.String(), "the pull pauses until the store takes a batch again") || !strings.Contains(logs.String(), "store disk full") {
				t.Errorf("the warning does not say the pull pauses, or the error:\n%s", logs.String())
			}
			// The pause shows in the metrics: the current one (50ms
			// doubled per refused batch, at most 2.5s) and how many.
			if v, _ := gaugeValue(t, reg, "omen_nats_consumer_backoff_seconds", "consumer", "diskfull"); v < 0.05 || v > 2.5 {
				t.Errorf("omen_nats_consumer_backoff_seconds = %v while the disk is full, want 0.05..2.5", v)
			}
			if v, r := counterValue(t, reg, "omen_nats_consumer_backoffs_total", "consumer", "diskfull"), app.refused.Load(); v < 1 || v > float64(r) {
				t.Errorf("omen_nats_consumer_backoffs_total = %v for %d refused batches", v, r)
			}

			app.full.Store(false)
			waitFor(t, "every message stored", func() bool {
				s, _, _ := app.Counts()
				return s >= n
			})
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if s, _, _ := app.Counts(); s != n {
				t.Errorf("stored %d samples, want exactly %d", s, n)
			}
			if !strings.Contains(logs.String(), "level=INFO msg=\"store batch stored again; the pull resumes\"") {
				t.Errorf("no INFO line on recovery:\n%s", logs.String())
			}
			if v, ok := gaugeValue(t, reg, "omen_nats_consumer_backoff_seconds", "consumer", "diskfull"); !ok || v != 0 {
				t.Errorf("omen_nats_consumer_backoff_seconds = %v (present %v) once the store takes batches, want 0", v, ok)
			}
		})
	}
}

// TestStorePause pins the back-off: NakDelay doubling per failed commit,
// up to 30s or half the AckWait, whichever is shorter, and never below
// NakDelay.
func TestStorePause(t *testing.T) {
	for _, tc := range []struct {
		nak, ackWait time.Duration
		fails        int
		want         time.Duration
	}{
		{time.Second, 30 * time.Second, 1, time.Second},
		{time.Second, 30 * time.Second, 2, 2 * time.Second},
		{time.Second, 30 * time.Second, 4, 8 * time.Second},
		{time.Second, 30 * time.Second, 5, 15 * time.Second},
		{time.Second, 30 * time.Second, 1000, 15 * time.Second},
		{time.Second, 5 * time.Minute, 1000, 30 * time.Second},
		{time.Second, time.Second, 3, time.Second},
		{50 * time.Millisecond, 5 * time.Second, 3, 200 * time.Millisecond},
	} {
		c := &NATSConsumer{opts: NATSOptions{NakDelay: tc.nak, AckWait: tc.ackWait}}
		c.storeFail.fails = tc.fails
		if got := c.storePause(); got != tc.want {
			t.Errorf("NakDelay %v, AckWait %v, %d failures: pause %v, want %v", tc.nak, tc.ackWait, tc.fails, got, tc.want)
		}
	}
}
