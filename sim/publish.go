package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Defaults of PublisherOptions.
const (
	DefaultStream     = "OMEN"
	DefaultAckTimeout = 10 * time.Second
)

// PublisherOptions configure a Publisher. Zero fields take defaults.
type PublisherOptions struct {
	// Format of the metric payloads. Default FormatInflux.
	Format Format
	// MetricsSubject and EventsSubject are the subject prefixes. Defaults
	// "omen.metrics" and "omen.events".
	MetricsSubject, EventsSubject string
	// Ticks stops Run after this many ticks; 0 runs until the context
	// ends.
	Ticks int
	// Stream, when CreateStream is set, is created (or left alone when it
	// exists) to capture the subjects. Default "OMEN".
	Stream       string
	CreateStream bool
	// AckTimeout bounds the wait for one tick's publish acknowledgements.
	// Default 10s.
	AckTimeout time.Duration
	// OnTick, if set, is called with every tick after it was published
	// and acknowledged (e.g. to score alerts against Truth as they come).
	OnTick func(Tick)
}

// Publisher publishes a fleet's ticks to NATS JetStream.
type Publisher struct {
	fleet  *Fleet
	opts   PublisherOptions
	logger *slog.Logger
	// reconnectGrace is the constant of that name (shorter in tests).
	reconnectGrace time.Duration

	msgs  *prometheus.CounterVec
	bytes prometheus.Counter
	ticks prometheus.Counter
}

// NewPublisher returns a Publisher of f's ticks. reg receives
// omen_sim_published_messages_total{subject}, omen_sim_published_bytes_total
// and omen_sim_ticks_total (nil registers nothing); logger may be nil.
func NewPublisher(f *Fleet, opts PublisherOptions, reg prometheus.Registerer, logger *slog.Logger) (*Publisher, error) {
	if f == nil {
		return nil, errors.New("sim publisher: nil fleet")
	}
	if opts.Format == "" {
		opts.Format = FormatInflux
	}
	if opts.MetricsSubject == "" {
		opts.MetricsSubject = DefaultMetricsSubject
	}
	if opts.EventsSubject == "" {
		opts.EventsSubject = DefaultEventsSubject
	}
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.AckTimeout == 0 {
		opts.AckTimeout = DefaultAckTimeout
	}
	switch {
	case opts.Format != FormatInflux && opts.Format != FormatProm:
		return nil, fmt.Errorf("sim publisher: unknown format %q", opts.Format)
	case opts.Ticks < 0:
		return nil, fmt.Errorf("sim publisher: negative ticks %d", opts.Ticks)
	case opts.AckTimeout < 0:
		return nil, fmt.Errorf("sim publisher: negative ack timeout %v", opts.AckTimeout)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fac := promauto.With(reg)
	return &Publisher{
		fleet: f, opts: opts, logger: logger, reconnectGrace: reconnectGrace,
		msgs: fac.NewCounterVec(prometheus.CounterOpts{Namespace: "omen", Subsystem: "sim", Name: "published_messages_total",
			Help: "Messages the simulator published, by subject."}, []string{"subject"}),
		bytes: fac.NewCounter(prometheus.CounterOpts{Namespace: "omen", Subsystem: "sim", Name: "published_bytes_total",
			Help: "Payload bytes the simulator published."}),
		ticks: fac.NewCounter(prometheus.CounterOpts{Namespace: "omen", Subsystem: "sim", Name: "ticks_total",
			Help: "Simulated steps published."}),
	}, nil
}

// Run advances the fleet and publishes every tick, each payload with its
// Nats-Msg-Id, waiting for the acknowledgements of one tick before the
// next. speed is simulated seconds per real second (60 runs an hour of
// simulated time in a minute); 0 publishes as fast as acknowledgements
// come. Run returns nil after opts.Ticks ticks, the context's error when it
// ends first, or the first publish error of a tick that nc stayed
// connected through: a tick whose publish fails while nc has lost its
// server, or within 30 s of nc reconnecting during it, is published again
// once nc is connected (see publishTick), for as long as nc keeps
// reconnecting. A tick due more than maxLate intervals ago (the tick
// before held up by an outage or an acknowledgement slow to come, the
// process stopped or starved) is published at once and the fleet's time
// resumes from it at speed: the ticks are not published in a burst to
// catch up the delay. A tick less late is caught up.
func (p *Publisher) Run(ctx context.Context, nc *nats.Conn, speed float64) error {
	if nc == nil {
		return errors.New("sim publish: nil connection")
	}
	if speed < 0 {
		return fmt.Errorf("sim publish: negative speed %v", speed)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("sim publish: jetstream: %w", err)
	}
	defer js.CleanupPublisher()
	if p.opts.CreateStream {
		cfg := jetstream.StreamConfig{
			Name:     p.opts.Stream,
			Subjects: []string{p.opts.MetricsSubject, p.opts.MetricsSubject + ".>", p.opts.EventsSubject, p.opts.EventsSubject + ".>"},
			Storage:  jetstream.FileStorage,
		}
		if _, err := js.CreateStream(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("sim publish: create stream %q: %w", p.opts.Stream, err)
		}
	}
	var interval time.Duration
	if speed > 0 {
		interval = time.Duration(float64(p.fleet.Step()) / speed)
	}
	begin := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n := 0; p.opts.Ticks == 0 || n < p.opts.Ticks; n++ {
		if interval > 0 {
			due := begin.Add(time.Duration(n) * interval)
			if late := time.Since(due); late > maxLate*interval {
				// The ticks due meanwhile, published in a burst, moved
				// the data minutes ahead at once (a 15 s outage at 20x:
				// 5 simulated minutes), past omen's in-memory window
				// for the steps not yet evaluated, which it then
				// skipped: the schedule moves so this tick is due now.
				begin = begin.Add(late)
				due = due.Add(late)
			}
			timer.Reset(time.Until(due))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		tick := p.fleet.Advance()
		if err := p.publishTick(ctx, nc, js, tick); err != nil {
			return err
		}
		p.ticks.Inc()
		if p.opts.OnTick != nil {
			p.opts.OnTick(tick)
		}
	}
	return nil
}

// maxLate is how many intervals past its due time a tick of Run may be
// and still be caught up (published at once, the ticks after it at their
// times): a tick later than that moves the schedule.
const maxLate = 2

// retryWait is the pause between two attempts of publishTick to publish
// a tick again (omen's own NATS connection reconnects every second).
const retryWait = time.Second

// retryWarnEvery is how many attempts of publishTick make one WARN (one a
// minute when each fails at once); the others are logged at debug.
const retryWarnEvery = 60

// reconnectGrace is how long after a reconnect publishTick still
// publishes a failing tick again while connected (JetStream answering "no
// responders" while it recovers), before it takes the failure for one
// that does not pass (a stream gone, a permission denied).
const reconnectGrace = 30 * time.Second

// publishTick publishes tick, again after an outage of the server: when
// the publish fails while nc is not connected, or within reconnectGrace
// of a reconnect of nc seen during the tick (JetStream answering "no
// responders" while it recovers, acknowledgements lost with the
// connection), it waits until nc is connected and publishes the tick
// again, every retryWait, with the same Nats-Msg-Ids (JetStream stores
// one of each within its duplicate window), until it is acknowledged, ctx
// ends, nc is closed (it gave up reconnecting) or the publish fails while
// nc is connected past the grace of its last reconnect: that error is
// returned. A server restarted under omen demo stopped it after
// AckTimeout, while omen run keeps reconnecting.
func (p *Publisher) publishTick(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, tick Tick) error {
	reconnects := nc.Stats().Reconnects
	var graceEnd time.Time // zero until a reconnect during the tick
	observe := func() {
		if r := nc.Stats().Reconnects; r != reconnects {
			reconnects, graceEnd = r, time.Now().Add(p.reconnectGrace)
		}
	}
	for attempt := 1; ; attempt++ {
		err := p.publish(ctx, js, tick)
		if err == nil || ctx.Err() != nil || nc.IsClosed() {
			return err
		}
		observe()
		if nc.IsConnected() && !time.Now().Before(graceEnd) {
			return err
		}
		// The daemon's connection logs the outage; a tick still
		// failing once reconnected (JetStream slow to recover) says so
		// every retryWarnEvery attempts.
		level := slog.LevelDebug
		if attempt%retryWarnEvery == 0 {
			level = slog.LevelWarn
		}
		p.logger.Log(ctx, level, "sim publish: NATS connection lost: publishing the tick again once reconnected",
			"tick", tick.Seq, "attempt", attempt, "err", err)
		for waited := false; !waited || !nc.IsConnected() && !nc.IsClosed(); waited = true {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(retryWait):
			}
		}
		observe()
	}
}

func (p *Publisher) publish(ctx context.Context, js jetstream.JetStream, tick Tick) error {
	pls, err := tick.Payloads(p.opts.Format, p.opts.MetricsSubject, p.opts.EventsSubject)
	if err != nil {
		return fmt.Errorf("sim publish: %w", err)
	}
	futures := make([]jetstream.PubAckFuture, 0, len(pls))
	for _, pl := range pls {
		msg := nats.NewMsg(pl.Subject)
		msg.Data = pl.Data
		if pl.Subject == p.opts.MetricsSubject+"."+string(FormatProm) {
			msg.Header.Set("Content-Type", PromContentType)
		}
		f, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(pl.MsgID))
		if err != nil {
			return fmt.Errorf("sim publish tick %d to %s: %w", tick.Seq, pl.Subject, err)
		}
		futures = append(futures, f)
	}
	wait, cancel := context.WithTimeout(ctx, p.opts.AckTimeout)
	defer cancel()
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			// A tick published again is acknowledged as a duplicate
			// where the failed attempt was, and counted there.
			if !ack.Duplicate {
				p.msgs.WithLabelValues(pls[i].Subject).Inc()
				p.bytes.Add(float64(len(pls[i].Data)))
			}
		case err := <-f.Err():
			return fmt.Errorf("sim publish tick %d to %s: %w", tick.Seq, pls[i].Subject, err)
		case <-wait.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("sim publish tick %d to %s: no acknowledgement within %v", tick.Seq, pls[i].Subject, p.opts.AckTimeout)
		}
	}
	return nil
}
