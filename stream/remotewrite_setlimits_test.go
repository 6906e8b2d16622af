package stream

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/omen-sre/omen/telemetry"
)

// TestRemoteWriteSetLimits: SetLimits moves the receiver's boundaries for
// the next request (the label cache included: a label set accepted and
// cached under the old limits is checked again), and refuses invalid
// limits leaving the current ones.
func TestRemoteWriteSetLimits(t *testing.T) {
	fiveSamples := &prompb.WriteRequest{}
	for i := range 5 {
		fiveSamples.Timeseries = append(fiveSamples.Timeseries, series(1, 1, "__name__", "m", "i", string(rune('a'+i))))
	}
	fiveLabels := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series(1, 1, "__name__", "m", "a", "1", "b", "1", "c", "1", "d", "12"),
	}}
	tests := []struct {
		name   string
		start  RemoteWriteOptions
		wr     *prompb.WriteRequest
		before int // status before SetLimits
		set    RemoteWriteLimits
		setErr string // SetLimits fails naming this; the limits stay
		after  int
		body   string // in the answer after
	}{
		{name: "lower max samples", start: RemoteWriteOptions{RemoteWriteLimits: RemoteWriteLimits{MaxSamplesPerRequest: 10}}, wr: fiveSamples,
			before: http.StatusNoContent, set: RemoteWriteLimits{MaxSamplesPerRequest: 4}, after: http.StatusRequestEntityTooLarge, body: "limit of 4 samples"},
		{name: "raise max samples", start: RemoteWriteOptions{RemoteWriteLimits: RemoteWriteLimits{MaxSamplesPerRequest: 4}}, wr: fiveSamples,
			before: http.StatusRequestEntityTooLarge, set: RemoteWriteLimits{MaxSamplesPerRequest: 5}, after: http.StatusNoContent},
		{name: "0 takes the default", start: RemoteWriteOptions{RemoteWriteLimits: RemoteWriteLimits{MaxSeriesPerRequest: 4}}, wr: fiveSamples,
			before: http.StatusRequestEntityTooLarge, set: RemoteWriteLimits{}, after: http.StatusNoContent},
		{name: "lower max labels checks cached label sets again", wr: fiveLabels,
			before: http.StatusNoContent, set: RemoteWriteLimits{MaxLabels: 4}, after: http.StatusBadRequest, body: "limit of 4 labels"},
		{name: "lower max label value length", wr: fiveLabels,
			before: http.StatusNoContent, set: RemoteWriteLimits{MaxLabelValueLen: 1}, after: http.StatusBadRequest, body: "limit of 1 bytes"},
		{name: "invalid max decoded bytes", start: RemoteWriteOptions{RemoteWriteLimits: RemoteWriteLimits{MaxSamplesPerRequest: 4}}, wr: fiveSamples,
			before: http.StatusRequestEntityTooLarge, set: RemoteWriteLimits{MaxDecodedBytes: 100}, setErr: "MaxDecodedBytes 100 below 1024",
			after: http.StatusRequestEntityTooLarge, body: "limit of 4 samples"},
		{name: "negative max in flight", start: RemoteWriteOptions{RemoteWriteLimits: RemoteWriteLimits{MaxSamplesPerRequest: 4}}, wr: fiveSamples,
			before: http.StatusRequestEntityTooLarge, set: RemoteWriteLimits{MaxInFlight: -1}, setErr: "negative MaxInFlight",
			after: http.StatusRequestEntityTooLarge, body: "limit of 4 samples"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newTestReceiver(t, &MemAppender{}, tt.start)
			body := encodeWriteRequest(t, tt.wr)
			if rec := post(h, body, nil); rec.Code != tt.before {
				t.Fatalf("before: status %d %q, want %d", rec.Code, rec.Body.String(), tt.before)
			}
			old := h.Limits()
			err := h.SetLimits(tt.set)
			switch {
			case tt.setErr == "" && err != nil:
				t.Fatalf("SetLimits: %v", err)
			case tt.setErr != "" && (err == nil || !strings.Contains(err.Error(), tt.setErr)):
				t.Fatalf("SetLimits = %v, want an error naming %q", err, tt.setErr)
			case tt.setErr != "" && h.Limits() != old:
				t.Fatalf("a refused SetLimits changed the limits:\n%+v\nwant\n%+v", h.Limits(), old)
			}
			if rec := post(h, body, nil); rec.Code != tt.after || !strings.Contains(rec.Body.String(), tt.body) {
				t.Fatalf("after: status %d %q, want %d containing %q", rec.Code, rec.Body.String(), tt.after, tt.body)
			}
		})
	}
}

// TestRemoteWriteSetLimitsInFlight: changing MaxInFlight while requests
// are in flight cuts none of them short, admits no new request until the
// held slots fall below a lower bound, admits waiting requests at once
// when raised, and leaves no slot held when all have finished.
func TestRemoteWriteSetLimitsInFlight(t *testing.T) {
	verifyNoLeaks(t)
	entered := make(chan struct{}, 16)
	release := make(chan struct{}, 16)
	app := AppenderFunc(func(ctx context.Context, _ []telemetry.Batch) error {
		entered <- struct{}{}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	h, _ := newTestReceiver(t, app, RemoteWriteOptions{RemoteWriteLimits: RemoteWriteLimits{MaxInFlight: 2, InFlightWait: time.Millisecond}})
	body := encodeWriteRequest(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{series(1, 1, "__name__", "up")}})
	var wg sync.WaitGroup
	var served atomic.Int64
	start := func(n int) {
		for range n {
			wg.Go(func() {
				if rec := post(h, body, nil); rec.Code != http.StatusNoContent {
					t.Errorf("request in flight: status %d %q, want 204", rec.Code, rec.Body.String())
				}
				served.Add(1)
			})
		}
	}
	setLimits := func(l RemoteWriteLimits) {
		t.Helper()
		if err := h.SetLimits(l); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(want string) {
		t.Helper()
		if rec := post(h, body, nil); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("status %d %q, want 503 naming %q", rec.Code, rec.Body.String(), want)
		}
	}

	// Two in flight, then the bound drops to 1: both go on.
	start(2)
	<-entered
	<-entered
	setLimits(RemoteWriteLimits{MaxInFlight: 1, InFlightWait: time.Millisecond})
	refused("1 requests in flight")
	release <- struct{}{}
	waitFor(t, "one request served", func() bool { return served.Load() == 1 })
	// One still holds a slot: the bound of 1 is reached.
	refused("1 requests in flight")
	release <- struct{}{}
	wg.Wait()
	if n := h.slots.inUse(); n != 0 {
		t.Fatalf("%d slots held with no request in flight", n)
	}
	start(1)
	<-entered
	refused("1 requests in flight")
	release <- struct{}{}
	wg.Wait()

	// Raised while a request waits for a slot: it is admitted at once.
	setLimits(RemoteWriteLimits{MaxInFlight: 1, InFlightWait: time.Hour})
	start(1)
	<-entered
	start(1) // waits: the one slot is held
	waitFor(t, "a request waiting for a slot", func() bool {
		h.slots.mu.Lock()
		defer h.slots.mu.Unlock()
		return h.slots.waiters.Len() == 1
	})
	setLimits(RemoteWriteLimits{MaxInFlight: 2, InFlightWait: time.Hour})
	<-entered // the waiting one
	release <- struct{}{}
	release <- struct{}{}
	wg.Wait()
	if n := h.slots.inUse(); n != 0 {
		t.Fatalf("%d slots held with no request in flight", n)
	}
	if n := served.Load(); n != 5 {
		t.Fatalf("%d requests served, want 5", n)
	}
}

// TestSlotsResize: acquirers giving up (timeouts, cancelled contexts)
// while the size changes under them never hold more slots than the
// largest size set, and leave no slot held and no waiter queued.
func TestSlotsResize(t *testing.T) {
	s := newSlots(2)
	const maxSize = 5
	var held, peak atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 300 {
				ctx, cancel := context.WithCancel(context.Background())
				if r.IntN(4) == 0 {
					cancel()
				}
				if s.acquire(ctx, time.Duration(r.IntN(50))*time.Microsecond) {
					n := held.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					if r.IntN(2) == 0 {
						time.Sleep(time.Duration(r.IntN(20)) * time.Microsecond)
					}
					held.Add(-1)
					s.release()
				}
				cancel()
			}
		})
	}
	wg.Go(func() {
		r := rand.New(rand.NewPCG(99, 1))
		for range 2000 {
			s.resize(r.IntN(maxSize + 1))
		}
		s.resize(maxSize)
	})
	wg.Wait()
	if n := s.inUse(); n != 0 {
		t.Fatalf("%d slots held after every holder released", n)
	}
	if n := s.waiters.Len(); n != 0 {
		t.Fatalf("%d waiters queued after every acquirer returned", n)
	}
	if p := peak.Load(); p > maxSize {
		t.Fatalf("%d slots held at once, more than the largest size %d", p, maxSize)
	}
}
