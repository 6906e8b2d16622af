package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/stream"
)

// pollerSourcePrefix marks batches from the Prometheus query poller: their
// samples are feature values evaluated remotely, not raw series.
const pollerSourcePrefix = "prometheus/"

type sourceOptions struct {
	Config     *config.Config
	NATSURL    string
	Appender   stream.Appender
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// sources holds omen's inputs: the JetStream consumer, the remote-write
// receiver (served by the HTTP server) and the Prometheus pollers.
type sources struct {
	consumer    *stream.Consumer
	remoteWrite http.Handler
	pollers     []*stream.Poller
	logger      *slog.Logger
}

func newSources(o sourceOptions) (*sources, error) {
	cfg := o.Config
	s := &sources{logger: o.Logger}
	c, err := stream.NewConsumer(o.Appender, stream.ConsumerOptions{
		URL:               o.NATSURL,
		Stream:            cfg.NATS.Stream,
		Durable:           cfg.NATS.Durable,
		FilterSubjects:    cfg.NATS.FilterSubjects,
		DeadLetterSubject: cfg.NATS.DeadLetterSubject,
		MaxAge:            time.Duration(cfg.NATS.MaxAge),
	}, o.Registerer, o.Logger)
	if err != nil {
		return nil, fmt.Errorf("create NATS consumer: %w", err)
	}
	s.consumer = c
	if !cfg.RemoteWrite.Disabled {
		rw, err := stream.NewRemoteWriteReceiver(o.Appender, stream.RemoteWriteOptions{}, o.Registerer, o.Logger)
		if err != nil {
			return nil, fmt.Errorf("create remote-write receiver: %w", err)
		}
		s.remoteWrite = rw
	}
	queries := map[string]string{}
	for _, f := range cfg.Features {
		queries[f.Name] = f.Expr
	}
	for _, p := range cfg.Prometheus {
		pl, err := stream.NewPoller(o.Appender, stream.PollerOptions{
			URL:          p.URL,
			Queries:      queries,
			Step:         time.Duration(cfg.Step),
			Backfill:     time.Duration(p.Backfill),
			Timeout:      time.Duration(p.Timeout),
			EntityLabels: cfg.EntityLabels,
		}, o.Registerer, o.Logger)
		if err != nil {
			return nil, fmt.Errorf("create Prometheus poller for %s: %w", p.URL, err)
		}
		s.pollers = append(s.pollers, pl)
	}
	_ = features.Names
	return s, nil
}

// run runs the consumer and the pollers until ctx is done.
func (s *sources) run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 1+len(s.pollers))
	wg.Add(1)
	go func() { defer wg.Done(); errc <- s.consumer.Run(ctx) }()
	for _, p := range s.pollers {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- p.Run(ctx) }()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}
