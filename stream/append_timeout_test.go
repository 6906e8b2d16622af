package stream

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/prometheus/prompb"
	"go.uber.org/goleak"

	"github.com/omen-sre/omen/telemetry"
)

// lendingAppender behaves like an Appender whose store stalls: it returns
// when ctx ends and keeps reading the batches for a while afterwards (the
// commit going on in the background), checking that nobody changed them.
type lendingAppender struct {
	wg      sync.WaitGroup
	changed atomic.Int32
	calls   atomic.Int32
}

func (a *lendingAppender) Append(ctx context.Context, bs []telemetry.Batch) error {
	a.calls.Add(1)
	want := make([]telemetry.Sample, len(bs[0].Samples))
	copy(want, bs[0].Samples)
	<-ctx.Done()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for range 20 {
			time.Sleep(2 * time.Millisecond)
			got := bs[0].Samples
			if len(got) != len(want) {
				a.changed.Add(1)
				return
			}
			for i := range got {
				if got[i].V != want[i].V || got[i].T != want[i].T || got[i].Labels.String() != want[i].Labels.String() {
					a.changed.Add(1)
					return
				}
			}
		}
	}()
	return fmt.Errorf("store: %w", ctx.Err())
}

// TestRemoteWriteAppendTimeout: an Append that outlives AppendTimeout
// answers 503 at the deadline, and the request's buffers, which the
// Appender may still read (Lent), are not reused by later requests.
func TestRemoteWriteAppendTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	app := &lendingAppender{}
	h, _ := newTestReceiver(t, app, RemoteWriteOptions{RemoteWriteLimits: RemoteWriteLimits{AppendTimeout: 20 * time.Millisecond}})
	for i := range 20 {
		body := encodeWriteRequest(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
			series(float64(i), int64(1000+i), "__name__", "up", "job", fmt.Sprintf("j%d", i)),
			series(float64(-i), int64(2000+i), "__name__", "up", "job", fmt.Sprintf("k%d", i)),
		}})
		start := time.Now()
		rec := post(h, body, nil)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("request %d: status %d, want 503", i, rec.Code)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("request %d answered after %v; AppendTimeout is 20ms", i, took)
		}
	}
	app.wg.Wait()
	if n := app.changed.Load(); n != 0 {
		t.Fatalf("%d lent batches were overwritten by later requests", n)
	}
	if n := app.calls.Load(); n != 20 {
		t.Fatalf("%d Append calls, want 20", n)
	}
}

// TestNATSConsumerLeavesLentBatches: when the consumer stops while an
// Append is still reading its batches (Lent), the stage's memory is not
// cleared or reused under it.
func TestNATSConsumerLeavesLentBatches(t *testing.T) {
	for _, ns := range natsServers[:1] {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc := connect(t, ns.start(t))
			app := &lendingAppender{}
			c := newConsumer(t, nc, app, testNATSOptions(), nil)
			setupStreams(t, c)
			stop := runConsumer(t, c)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			ts := time.Now().UnixNano()
			publish(t, js, "omen.metrics", "", fmt.Sprintf("a,i=0 v=1 %d\na,i=1 v=2 %d", ts, ts))
			waitFor(t, "an Append in progress", func() bool { return app.calls.Load() >= 1 })
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			app.wg.Wait()
			if n := app.changed.Load(); n != 0 {
				t.Fatalf("%d lent batches were changed after the consumer stopped", n)
			}
		})
	}
}
