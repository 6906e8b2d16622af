package sim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/omen-sre/omen/stream/natsembed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startNATS(t *testing.T) *nats.Conn {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{ListenAddress: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func streamMsgs(t *testing.T, nc *nats.Conn) uint64 {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestPublisher(t *testing.T) {
	nc := startNATS(t)
	opts := Options{Seed: 9, Scenarios: []ScenarioSpec{{Kind: ImageConflict, At: 2 * time.Minute}}}
	const ticks = 20

	// What the publisher must send.
	want := 0
	ref := newFleet(t, opts)
	for range ticks {
		pls, err := ref.Advance().Payloads(FormatProm, "", "")
		if err != nil {
			t.Fatal(err)
		}
		want += len(pls)
	}

	reg := prometheus.NewRegistry()
	seen := 0
	p, err := NewPublisher(newFleet(t, opts), PublisherOptions{Format: FormatProm, Ticks: ticks, CreateStream: true,
		OnTick: func(Tick) { seen++ }}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx, nc, 0); err != nil {
		t.Fatal(err)
	}
	if got := streamMsgs(t, nc); got != uint64(want) || seen != ticks {
		t.Fatalf("stream holds %d messages after %d ticks, want %d", got, seen, want)
	}
	if got := testutil.ToFloat64(p.ticks); got != ticks {
		t.Errorf("ticks counter %v", got)
	}

	if got := testutil.ToFloat64(p.bytes); got == 0 {
		t.Error("bytes counter 0")
	}

	// The same seed again: every Nats-Msg-Id is a duplicate, acknowledged
	// but neither stored nor counted (as a tick published again after a
	// failed attempt, whose acknowledged messages were counted then).
	reg2 := prometheus.NewRegistry()
	again, err := NewPublisher(newFleet(t, opts), PublisherOptions{Format: FormatProm, Ticks: ticks}, reg2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Run(ctx, nc, 0); err != nil {
		t.Fatal(err)
	}
	if got := streamMsgs(t, nc); got != uint64(want) {
		t.Errorf("after re-publishing the same ticks the stream holds %d messages, want %d", got, want)
	}
	if n := testutil.CollectAndCount(again.msgs); n != 0 {
		t.Errorf("messages counted on %d subjects after publishing only duplicates, want none", n)
	}
	if got := testutil.ToFloat64(again.bytes); got != 0 {
		t.Errorf("bytes counter %v after publishing only duplicates, want 0", got)
	}
	if got := testutil.ToFloat64(again.ticks); got != ticks {
		t.Errorf("ticks counter %v after publishing duplicates, want %d", got, ticks)
	}
}

// TestPublisherLastingErrorAfterReconnect: a tick that its connection
// reconnected during, and that keeps failing once connected for a reason
// other than the outage (its stream deleted), makes Run return that error
// after the reconnect's grace. It was published again every second for
// as long as Run ran: nc's reconnect count, read once per tick, never
// matched again.
func TestPublisherLastingErrorAfterReconnect(t *testing.T) {
	nc := startNATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPublisher(newFleet(t, Options{Seed: 1}), PublisherOptions{CreateStream: true, AckTimeout: 2 * time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.reconnectGrace = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	published := 0
	p.opts.OnTick = func(Tick) {
		if published++; published != 2 {
			return
		}
		// The next tick starts disconnected, with no stream to take it
		// once reconnected.
		if err := js.DeleteStream(ctx, DefaultStream); err != nil {
			t.Error(err)
		}
		if err := nc.ForceReconnect(); err != nil {
			t.Error(err)
		}
	}
	start := time.Now()
	err = p.Run(ctx, nc, 0)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run = %v after %v, want the publish error before the context's end", err, time.Since(start).Round(time.Second))
	}
	if nc.Stats().Reconnects == 0 {
		t.Error("no reconnect")
	}
	t.Logf("Run = %v after %v", err, time.Since(start).Round(100*time.Millisecond))
}

func TestPublisherSpeedAndCancel(t *testing.T) {
	nc := startNATS(t)
	f := newFleet(t, Options{Seed: 1})
	// 15 s steps at speed 300: one tick every 50 ms.
	p, err := NewPublisher(f, PublisherOptions{Ticks: 5, CreateStream: true}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Run(context.Background(), nc, 300); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("5 ticks at speed 300 took %v, want ≥ 200ms", d)
	}
	if got := f.Now(); !got.Equal(defaultStart.Add(4 * DefaultStep)) {
		t.Errorf("fleet at %v after 5 ticks", got)
	}

	forever, err := NewPublisher(f, PublisherOptions{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := forever.Run(ctx, nc, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run after the deadline: %v", err)
	}

	// No stream: publishing fails instead of hanging.
	bare := newFleet(t, Options{Seed: 1})
	np, _ := NewPublisher(bare, PublisherOptions{Ticks: 1, Stream: "OTHER", MetricsSubject: "nowhere.metrics", EventsSubject: "nowhere.events", AckTimeout: 2 * time.Second}, nil, nil)
	if err := np.Run(context.Background(), nc, 0); err == nil {
		t.Error("publishing to subjects no stream captures succeeded")
	}
}

// TestPublisherLateTickResumes: a tick due more than maxLate intervals
// ago (here the process held up 2 s, 20 intervals, after a tick) is
// published at once and the ticks after it follow at speed, an interval
// apart. The ticks due during the delay were published in a burst, which
// moved omen's data minutes ahead at once; before, only a tick that had to
// be published again after an outage moved the schedule, not one held up
// otherwise (an acknowledgement slow to come, the process stopped).
func TestPublisherLateTickResumes(t *testing.T) {
	nc := startNATS(t)
	// 15 s steps at speed 150: one tick every 100 ms.
	const ticks, stallAfter, stall = 10, 3, 2 * time.Second
	interval := DefaultStep / 150
	var stallEnd, last time.Time
	published := 0
	p, err := NewPublisher(newFleet(t, Options{Seed: 1}), PublisherOptions{Ticks: ticks, CreateStream: true,
		OnTick: func(Tick) {
			last = time.Now()
			if published++; published == stallAfter {
				time.Sleep(stall)
				stallEnd = time.Now()
			}
		}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx, nc, 150); err != nil {
		t.Fatal(err)
	}
	// The first tick after the delay is due at once, the others an
	// interval apart: at least (ticks-stallAfter-1) intervals, on any
	// machine; the burst took a few milliseconds.
	after, want := last.Sub(stallEnd), time.Duration(ticks-stallAfter-1)*interval
	if after < want {
		t.Errorf("the %d ticks after a delay of %v took %v, want ≥ %v (an interval apart, not in a burst)", ticks-stallAfter, stall, after, want)
	}
	t.Logf("the %d ticks after the delay took %v", ticks-stallAfter, after)
}

func TestPublisherOptions(t *testing.T) {
	f := newFleet(t, Options{})
	for _, o := range []PublisherOptions{{Format: "csv"}, {Ticks: -1}, {AckTimeout: -time.Second}} {
		if _, err := NewPublisher(f, o, nil, nil); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	if _, err := NewPublisher(nil, PublisherOptions{}, nil, nil); err == nil {
		t.Error("nil fleet accepted")
	}
}
