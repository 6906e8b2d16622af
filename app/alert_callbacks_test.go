package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/internal/testenv"
)

// fire is the OnAlert report of the alert fp.
func fire(fp string, call func()) callbackReport {
	return callbackReport{kind: reportFire, fp: fp, call: call}
}

// TestAlertCallbacksOrderedAndWaited: OnAlert and OnResolve are called one
// at a time in the order the steps reported them (an alert's OnResolve
// after its OnAlert returned), and closing the alerter (Stop) waits for
// them. They ran on a goroutine each: a slow OnAlert returned after its
// alert's OnResolve, and both could run after Stop returned.
func TestAlertCallbacksOrderedAndWaited(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{failure: 0.01}) // everything alerts
	var mu sync.Mutex
	var calls []string // "alert fp" once OnAlert returns, "resolve fp"
	record := func(what, fp string) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, what+" "+fp)
	}
	p.al.opts.OnAlert = func(fa FiredAlert) {
		time.Sleep(200 * time.Millisecond) // a slow receiver (a terminal, a chat hook)
		record("alert", fa.Fingerprint)
	}
	p.al.opts.OnResolve = func(fa FiredAlert) { record("resolve", fa.Fingerprint) }

	ctx := context.Background()
	ts := time.Now().Add(-24*time.Hour).UnixMilli() / p.step * p.step
	for k := range 6 {
		p.appendPods(ts, pods(0, 3), k)
		p.e.evaluate(ctx, ts)
		ts += p.step
	}
	if l := p.live(); l.firing != 3 {
		t.Fatalf("%+v, want 3 firing", l)
	}
	// No prediction: they resolve after the missing steps.
	for range 7 {
		p.al.process(ctx, ts, nil, nil)
		ts += p.step
	}
	if l := p.live(); l.firing != 0 {
		t.Fatalf("%+v, want none firing", l)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.al.close(cctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	mu.Lock()
	got := slices.Clone(calls)
	mu.Unlock()
	if len(got) != 6 {
		t.Fatalf("calls done when close returned: %q, want 3 alerts and 3 resolutions", got)
	}
	for i, c := range got {
		if i < 3 && c[:6] != "alert " || i >= 3 && c[:8] != "resolve " {
			t.Errorf("calls in order %q, want the 3 alerts, then the 3 resolutions", got)
			break
		}
	}
}

// TestAlertCallbacksCloseBounded: closing waits for a callback that does
// not return only until its context ends, and says so; calls reported
// after close are dropped.
func TestAlertCallbacksCloseBounded(t *testing.T) {
	var c callbacks
	release := make(chan struct{})
	returned := make(chan struct{})
	c.push(fire("a", func() { <-release; close(returned) }))
	c.push(fire("b", func() {}))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("close with a callback blocked = %v, want the deadline", err)
	}
	ran := make(chan struct{}, 1)
	c.push(fire("c", func() { ran <- struct{}{} }))
	close(release)
	<-returned
	if err := c.close(context.Background()); err != nil {
		t.Errorf("close once the callbacks returned: %v", err)
	}
	select {
	case <-ran:
		t.Error("a call reported after close ran")
	default:
	}
}

// TestAlertCallbacksQueueBounded: a callback that does not keep up lets at
// most max calls wait; each further report (here the fires of distinct
// alerts) drops the oldest waiting one, counted in omen_alert_callbacks_dropped_total, with one warning per
// burst (until the queue drains). The queue grew without limit.
func TestAlertCallbacksQueueBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs testenv.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	dropped := promauto.With(reg).NewCounter(prometheus.CounterOpts{Namespace: "omen", Name: "alert_callbacks_dropped_total"})
	c := callbacks{max: 3, logger: logger, dropped: dropped}
	var mu sync.Mutex
	var ran []int
	release := make(chan struct{})
	started := make(chan struct{})
	c.push(fire("slow", func() { close(started); <-release })) // the slow consumer, running
	<-started
	for burst := range 2 {
		for i := range 10 {
			c.push(fire(fmt.Sprint(burst*10+i), func() {
				mu.Lock()
				defer mu.Unlock()
				ran = append(ran, burst*10+i)
			}))
		}
		if burst == 0 {
			c.mu.Lock()
			n := len(c.queue)
			c.mu.Unlock()
			if n != 3 {
				t.Errorf("%d calls queued, want at most 3", n)
			}
			close(release)
			waitFor(t, "the queue to drain", 10*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(ran) == 3
			})
			c.mu.Lock()
			for c.done != nil { // the goroutine ends once the queue is empty
				c.mu.Unlock()
				time.Sleep(time.Millisecond)
				c.mu.Lock()
			}
			c.mu.Unlock()
			release = make(chan struct{})
			started = make(chan struct{})
			c.push(fire("slow2", func() { close(started); <-release }))
			<-started
		}
	}
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{7, 8, 9, 17, 18, 19}; !slices.Equal(ran, want) {
		t.Errorf("calls run %v, want the newest 3 of each burst %v", ran, want)
	}
	if got := testutil.ToFloat64(dropped); got != 14 {
		t.Errorf("omen_alert_callbacks_dropped_total %g, want 14", got)
	}
	if n := strings.Count(logs.String(), "alert callbacks queue full"); n != 2 {
		t.Errorf("%d warnings for 2 bursts of drops, want 2:\n%s", n, logs.String())
	}
}

// TestAlerterCallbackQueueOption: the alerter bounds its callback queue
// by alerterOptions.CallbackQueue (Options.AlertCallbackQueue), the
// default when zero, and registers the drop counter.
func TestAlerterCallbackQueueOption(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{})
	if p.al.calls.max != 0 || p.al.calls.dropped == nil {
		t.Errorf("alerter's callbacks max %d, counter %v; want 0 (the default) and a counter", p.al.calls.max, p.al.calls.dropped)
	}
	mfs, err := p.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "omen_alert_callbacks_dropped_total"
	}
	if !found {
		t.Error("omen_alert_callbacks_dropped_total not registered")
	}
}

// TestAlertCallbackQueueOption: Options.AlertCallbackQueue defaults to
// DefaultAlertCallbackQueue, a negative one is refused, and the daemon's
// alerter queues at most that many calls.
func TestAlertCallbackQueueOption(t *testing.T) {
	for _, tc := range []struct {
		queue, want int
		err         bool
	}{{0, DefaultAlertCallbackQueue, false}, {5, 5, false}, {-1, 0, true}} {
		a, err := New(Options{Config: testConfig(t), StoragePath: t.TempDir(), AlertCallbackQueue: tc.queue, Logger: slog.New(slog.DiscardHandler)})
		if tc.err {
			if err == nil {
				t.Errorf("AlertCallbackQueue %d accepted", tc.queue)
			}
			continue
		}
		if err != nil || a.opts.AlertCallbackQueue != tc.want {
			t.Errorf("AlertCallbackQueue %d: %v, %+v; want %d", tc.queue, err, a, tc.want)
		}
	}
	// Started, the alerter's queue has that bound.
	a := startApp(t, t.TempDir(), func(o *Options) { o.AlertCallbackQueue = 7 })
	if a.alerts.calls.max != 7 {
		t.Errorf("the alerter's callback queue holds %d, want AlertCallbackQueue 7", a.alerts.calls.max)
	}
}
