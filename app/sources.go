package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/redact"
	"github.com/omen-sre/omen/stream"
	"github.com/omen-sre/omen/stream/decode"
)

// pollerSourcePrefix marks batches from the Prometheus query poller: their
// samples are feature values evaluated remotely, not raw series.
const pollerSourcePrefix = "prometheus/"

// remoteWriteSource names the remote-write receiver's batches (see
// ingester.marked).
const remoteWriteSource = "remote-write"

type sourceOptions struct {
	Config  *config.Config
	NATSURL string
	// NATSClient are the options that authenticate to the external
	// server and set up TLS (NATSClient.connectOptions).
	NATSClient []nats.Option
	// ExternalNATS: NATSURL is a server omen does not run (--nats.url),
	// which may be down when omen starts (see connectNATS).
	ExternalNATS bool
	Appender     stream.Appender
	Registerer   prometheus.Registerer
	Logger       *slog.Logger
}

// sources holds omen's inputs: the JetStream consumer, the remote-write
// receiver (served by the HTTP server) and the Prometheus pollers.
type sources struct {
	nc *nats.Conn
	// natsPending: the external NATS server was unreachable at the
	// start; nc connects in the background, and the consumer's Run sets
	// up the stream and consumer once it has (Start does not wait).
	natsPending bool
	consumer    *stream.NATSConsumer
	remoteWrite http.Handler
	// rw is remoteWrite's receiver, nil when remote_write is disabled.
	rw      *stream.RemoteWriteReceiver
	pollers []pollerWithBackfill
	logger  *slog.Logger
	// restartOnly is the configuration the sources were built with that
	// a reload cannot change (the reload warns when it would).
	restartOnly restartOnly
	// lookback is the configured lookback (a reload cannot change it):
	// the NATS decoders' label caches forget a set unused for it
	// (decode.Options.CacheIdle), as the remote-write receiver's does.
	lookback time.Duration
	// mu serializes setConfig; live are the limits it applied last, and
	// queries the pollers' query set.
	mu      sync.Mutex
	live    liveLimits
	queries map[string]string
}

func newSources(o sourceOptions) (*sources, error) {
	cfg := o.Config
	if err := CheckConfig(cfg); err != nil {
		return nil, err
	}
	s := &sources{logger: o.Logger, lookback: time.Duration(cfg.Resolved().Lookback)}
	nc, pending, err := connectNATS(o)
	if err != nil {
		return nil, err
	}
	s.natsPending = pending
	s.nc = nc
	live, err := liveLimitsOf(cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	s.consumer, err = stream.NewNATSConsumer(nc, o.Appender, stream.NATSOptions{
		Stream:         cfg.NATS.Stream,
		Durable:        cfg.NATS.Durable,
		FilterSubjects: cfg.NATS.FilterSubjects,
		DLQSubject:     cfg.NATS.DeadLetterSubject,
		DLQMaxAge:      time.Duration(cfg.NATS.DeadLetterMaxAge),
		DLQMaxBytes:    cfg.NATS.DeadLetterMaxBytes,
		MaxAge:         time.Duration(cfg.NATS.MaxAge),
		MaxBytes:       cfg.NATS.MaxBytes,
		Decode:         decodeOptions(cfg.Ingest, s.lookback, live.NATSDecode),
	}, o.Registerer, o.Logger)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("create NATS consumer: %w", err)
	}
	if !cfg.RemoteWrite.Disabled {
		rw, err := stream.NewRemoteWriteReceiver(o.Appender, remoteWriteOptions(cfg), o.Registerer, o.Logger)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("create remote-write receiver: %w", err)
		}
		s.remoteWrite, s.rw = rw, rw
	}
	s.restartOnly = restartOnlyOf(cfg)
	s.live = live
	queries := pollerQueries(cfg)
	s.queries = queries
	for _, p := range cfg.Prometheus {
		backfill := time.Duration(p.Backfill)
		if lb := time.Duration(cfg.Resolved().Lookback); backfill > lb {
			// The in-memory window keeps lookback: the rest would be
			// fetched and dropped.
			o.Logger.Info("Prometheus backfill cut to the lookback, all the in-memory window keeps", "url", redact.URL(p.URL), "backfill", backfill, "lookback", lb)
			backfill = lb
		}
		// The entry's tls_config, basic_auth, authorization; without
		// them too, so that a certificate that does not verify is
		// explained alike (which certificate, checked against what),
		// and the poller has a transport of its own, whose idle
		// connections it closes when it stops.
		rt, err := p.RoundTripper(stream.PollerSource(p.Name, p.URL))
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("create Prometheus poller for %s: %w", redact.URL(p.URL), err)
		}
		pl, err := stream.NewPoller(o.Appender, stream.PollerOptions{
			URL:          p.URL,
			RoundTripper: rt,
			Name:         p.Name,
			Queries:      queries,
			Step:         time.Duration(cfg.Step),
			Timeout:      time.Duration(p.Timeout),
			EntityLabels: cfg.EntityLabels,
			// Steps missed while Prometheus was unreachable are fetched
			// again, as far back as the start-up backfill reaches.
			CatchUp: backfill,
		}, o.Registerer, o.Logger)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("create Prometheus poller for %s: %w", redact.URL(p.URL), err)
		}
		s.pollers = append(s.pollers, pollerWithBackfill{pl, backfill})
	}
	return s, nil
}

// natsReconnectWait is the pause between two attempts to reach NATS:
// while omen runs, and from the start when an external server was
// unreachable then.
const natsReconnectWait = time.Second

// NATSReconnectOptions are the reconnect settings of omen's NATS
// connection: for ever, every second. The demo's publisher connects with
// them too, to ride out an outage of an external server as the daemon
// does (nats.go's default gives up after 60 attempts).
func NATSReconnectOptions() []nats.Option {
	return []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(natsReconnectWait)}
}

// connectNATS connects to o.NATSURL, reconnecting for ever once it has
// connected. An external server (o.ExternalNATS) that does not answer
// (connection refused, a dial that fails or times out, a name that does
// not resolve yet) is no start error: pending is true, the WARN says so
// once, and the connection keeps trying every natsReconnectWait in the
// background (nats.RetryOnFailedConnect), so that omen serves its API,
// remote-write and probes meanwhile rather than exiting into a crash loop.
// A server that answers but refuses the credentials or the TLS handshake
// remains a start error (a URL that does not parse or has another scheme
// than nats, tls, ws or wss is New's error). The embedded server (started
// by the daemon before) is connected to as before, failing fast.
func connectNATS(o sourceOptions) (nc *nats.Conn, pending bool, err error) {
	logger := o.Logger
	rl := newNATSReconnectLog(logger)
	opts := []nats.Option{
		nats.Name("omen"),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			rl.disconnected()
			if err != nil {
				logger.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { rl.reconnected(c.ConnectedUrlRedacted()) }),
		// A reconnect whose dial failed (connection refused); one that
		// failed in the handshake (TLS, credentials) is seen by
		// natsReconnectLog.watch.
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { rl.failed(err) }),
		// Called once, at the connection's first connect: at the start
		// when the server answers then, or in the background (a
		// connection made with RetryOnFailedConnect) once it does.
		nats.ConnectHandler(func(c *nats.Conn) {
			rl.connected()
			logger.Info("NATS connected", "url", c.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(*nats.Conn) { rl.stop() }),
		// Asynchronous errors (a permissions violation, a slow consumer)
		// in the structured log: nats.go printed them on stderr itself.
		nats.ErrorHandler(func(c *nats.Conn, sub *nats.Subscription, err error) {
			if sub == nil && errors.Is(err, nats.ErrAuthorization) && !c.IsConnected() {
				// A reconnect the server refused: natsReconnectLog
				// logs it, throttled (it comes at every attempt).
				// Expired or revoked credentials (nats.ErrAuthExpired,
				// ErrAuthRevoked) are the server ending a connection
				// it had let in, once, and the only word of why: it
				// refuses the attempts after with "Authorization
				// Violation". They come while the connection already
				// reconnects.
				return
			}
			args := []any{"err", err}
			if sub != nil {
				args = append(args, "subject", sub.Subject)
			}
			logger.Warn("NATS error", args...)
		}),
	}
	opts = append(append(opts, NATSReconnectOptions()...), o.NATSClient...)
	if o.ExternalNATS {
		// The URL's text was checked by New (checkNATSURL).
		//
		// nats.go closed the connection at the second refusal of the
		// credentials by the same server: a password rotated on the
		// server before omen's file (a Secret updated later) stopped
		// omen. It keeps reconnecting, reading the files again at each
		// attempt. A refusal before the first connect stays fatal (the
		// start's error; stream.ConnectRefused for a late server).
		opts = append(opts, nats.IgnoreAuthErrorAbort())
	}
	nc, err = nats.Connect(o.NATSURL, opts...)
	if err == nil {
		rl.start(nc)
		return nc, false, nil
	}
	if !o.ExternalNATS || !natsUnreachable(err) {
		return nil, false, fmt.Errorf("connect to NATS %s: %w", RedactNATSURL(o.NATSURL), err)
	}
	logger.Warn("NATS server unreachable: omen starts without it and keeps connecting in the background; "+
		"the stream and consumer are set up once it answers (remote-write, the API and /-/ready do not wait for it)",
		"url", RedactNATSURL(o.NATSURL), "err", err, "retry_every", natsReconnectWait)
	nc, err = nats.Connect(o.NATSURL, append(opts, nats.RetryOnFailedConnect(true))...)
	if err != nil {
		return nil, false, fmt.Errorf("connect to NATS %s: %w", RedactNATSURL(o.NATSURL), err)
	}
	rl.start(nc)
	return nc, true, nil
}

// natsUnreachable reports whether the NATS client's connect error err
// says that no server answered: refused connections (nats.ErrNoServers),
// a dial that failed (a name that does not resolve, no route, a dial
// timeout), a connection closed or reset before the server said anything
// (a proxy or load balancer without a backend, a server shutting down),
// a server that accepted the connection but did not complete the
// NATS handshake in time (nats.ErrTimeout), or its TLS handshake
// (nats.ErrTLS wrapping a timeout: a loaded server). An authorization
// error or a server refusing the connection as configured
// (stream.ConnectRefused: a failed TLS handshake, a connection closed
// right after it, the server refusing the client certificate or its
// absence) is an answer, and not one of them; nor is a read that timed
// out waiting for the server's first line (a server that expects a TLS
// handshake first, from a client not told to use TLS), nor a dial
// refused for the address itself (a *net.AddrError: "too many colons in
// address"), which no retry mends.
func natsUnreachable(err error) bool {
	if errors.Is(err, nats.ErrTLS) {
		// The TLS handshake, which follows the server's INFO: the
		// consumer waiting for a late server asks the same.
		return !stream.ConnectRefused(err)
	}
	var addrErr *net.AddrError
	if errors.As(err, &addrErr) {
		return false
	}
	if errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// checkNATSURL checks each URL of the comma-separated list s as the NATS
// client reads it (a URL without "://" gets nats://): it parses, has a
// scheme the NATS client speaks (nats, tls, ws, wss), a host without a
// colon outside brackets, and a port in 1–65535 when it gives one; and a
// URL without "://" does not start with a scheme's name and ":" or "/"
// (nats:127.0.0.1:4222, nats:/h:4222 and nats//h:4222 are mistyped
// nats:// URLs, which the client reads as host "nats:127.0.0.1" or
// "nats"), though a host named like a scheme with a port (nats:4222) is
// one. The client itself dials any scheme and reports a bad port or host
// only as a failed dial, which connectNATS would retry for ever. New
// refuses such a URL, before the store is opened. The
// errors quote no part of the URL (the caller names it, redacted): a
// URL's password could be in the part.
func checkNATSURL(s string) error {
	var urls []string
	for piece := range strings.SplitSeq(s, ",") {
		if p := strings.TrimSpace(piece); p != "" {
			urls = append(urls, p)
		}
	}
	if len(urls) == 0 {
		return errors.New("no server URL")
	}
	for i, p := range urls {
		which := ""
		if len(urls) > 1 {
			which = fmt.Sprintf("URL %d of the list: ", i+1)
		}
		if !strings.Contains(p, "://") {
			if scheme := mistypedScheme(p); scheme != "" {
				return fmt.Errorf("%sstarts with %q but has no %q (a mistyped scheme?)", which, scheme, "://")
			}
			p = "nats://" + p
		}
		u, err := url.Parse(p)
		if err != nil {
			// Not err: it quotes the URL, or a part of its password
			// (nats://omen:s3c,ret@h is split at the comma, and
			// "nats://omen:s3c" has the port ":s3c").
			return fmt.Errorf("%sdoes not parse as a URL (a password with a comma, @, / or %% in it must be percent-encoded)", which)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("%sscheme %q, want one of nats, tls, ws, wss", which, u.Scheme)
		}
		if u.Hostname() == "" {
			return fmt.Errorf("%sno host", which)
		}
		if strings.Contains(u.Hostname(), ":") && !strings.HasPrefix(u.Host, "[") {
			return fmt.Errorf("%sa host with a colon (an IPv6 address must be in brackets: [::1]:4222)", which)
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("%sport %q, want 1-65535", which, port)
			}
		}
	}
	return nil
}

// mistypedScheme returns the scheme whose name the URL p, which has no
// "://", starts with followed by "/" or by ":" and something other than a
// port, as in nats:h:4222, nats:/h:4222 or nats//h:4222; "" when there is
// none (nats:4222 is the host "nats" and a port).
func mistypedScheme(p string) string {
	lower := strings.ToLower(p)
	for _, scheme := range []string{"nats", "tls", "wss", "ws"} {
		rest, ok := strings.CutPrefix(lower, scheme)
		if !ok || rest == "" {
			continue
		}
		switch rest[0] {
		case '/':
			return scheme
		case ':':
			if port := rest[1:]; port == "" || strings.Trim(port, "0123456789") != "" {
				return scheme
			}
		}
	}
	return ""
}

// remoteWriteOptions are the remote-write receiver's options from cfg's
// remote_write section.
func remoteWriteOptions(cfg *config.Config) stream.RemoteWriteOptions {
	return stream.RemoteWriteOptions{
		Source:            remoteWriteSource,
		RemoteWriteLimits: remoteWriteLimits(cfg),
		// The same time window as the NATS decoders: one sample from a
		// clock far ahead would otherwise move the head's clock and the
		// ingest watermark past every later sample.
		MaxSampleAge:    time.Duration(cfg.Ingest.MaxSampleAge),
		MaxSampleFuture: time.Duration(cfg.Ingest.MaxSampleFuture),
		// A label set unused for the lookback belongs to a series the
		// head forgot: the cache drops it within another lookback.
		LabelCacheIdle: time.Duration(cfg.Resolved().Lookback),
	}
}

// natsDecodeLimits are the NATS decoders' options from the nats keys a
// reload applies to the running consumer: the per-message limits, the
// influx timestamp unit, the required labels and the label cache size.
type natsDecodeLimits struct {
	MaxMessageBytes, MaxLabels, MaxLabelValueLength, MaxInfluxFields int
	InfluxPrecision                                                  time.Duration
	RequiredLabels                                                   []string
	LabelCacheSize                                                   int
}

// equal reports whether l and o decode alike (an empty required_labels
// list is no list).
func (l natsDecodeLimits) equal(o natsDecodeLimits) bool {
	return l.MaxMessageBytes == o.MaxMessageBytes && l.MaxLabels == o.MaxLabels &&
		l.MaxLabelValueLength == o.MaxLabelValueLength && l.MaxInfluxFields == o.MaxInfluxFields &&
		l.InfluxPrecision == o.InfluxPrecision && slices.Equal(l.RequiredLabels, o.RequiredLabels) &&
		l.LabelCacheSize == o.LabelCacheSize
}

// natsDecodeLimitsOf returns cfg's NATS decoder options; an error when
// nats.influx_precision names no unit (config.Load refuses such a file).
func natsDecodeLimitsOf(cfg *config.Config) (natsDecodeLimits, error) {
	n := cfg.NATS
	prec, err := n.InfluxPrecisionUnit()
	if err != nil {
		return natsDecodeLimits{}, err
	}
	return natsDecodeLimits{MaxMessageBytes: n.MaxMessageBytes, MaxLabels: n.MaxLabels,
		MaxLabelValueLength: n.MaxLabelValueLength, MaxInfluxFields: n.MaxInfluxFields,
		InfluxPrecision: prec, RequiredLabels: slices.Clone(n.RequiredLabels), LabelCacheSize: n.LabelCacheSize}, nil
}

// decodeOptions are the NATS decoders' options: the ingest time window,
// the nats keys' options l, and the label caches' idle time: the lookback,
// as the remote-write receiver's (remoteWriteOptions): a label set unused
// for the lookback belongs to a series the head forgot.
func decodeOptions(ingest config.IngestConfig, lookback time.Duration, l natsDecodeLimits) decode.Options {
	return decode.Options{
		MaxAge:           time.Duration(ingest.MaxSampleAge),
		MaxFuture:        time.Duration(ingest.MaxSampleFuture),
		MaxMessageBytes:  l.MaxMessageBytes,
		MaxLabels:        l.MaxLabels,
		MaxLabelValueLen: l.MaxLabelValueLength,
		MaxInfluxFields:  l.MaxInfluxFields,
		Precision:        l.InfluxPrecision,
		RequiredLabels:   slices.Clone(l.RequiredLabels),
		CacheSize:        l.LabelCacheSize,
		CacheIdle:        lookback,
	}
}

// remoteWriteLimits are the receiver's limits from cfg's remote_write
// section, which a reload applies to the running receiver.
func remoteWriteLimits(cfg *config.Config) stream.RemoteWriteLimits {
	rw := cfg.RemoteWrite
	return stream.RemoteWriteLimits{
		MaxDecodedBytes:      rw.MaxDecodedBytes,
		MaxSamplesPerRequest: rw.MaxSamplesPerRequest,
		MaxSeriesPerRequest:  rw.MaxSeriesPerRequest,
		MaxInFlight:          rw.MaxInFlight,
		InFlightWait:         time.Duration(rw.InFlightWait),
		MaxLabels:            rw.MaxLabels,
		MaxLabelValueLen:     rw.MaxLabelValueLength,
		LabelCacheSize:       rw.LabelCacheSize,
		LabelCacheBytes:      rw.LabelCacheBytes,
		AppendTimeout:        time.Duration(rw.AppendTimeout),
	}
}

// liveLimits are the part of the configuration a reload applies to the
// running sources besides the pollers' queries: the remote-write
// receiver's limits and the NATS decoders' options (natsDecodeLimits).
type liveLimits struct {
	RemoteWrite stream.RemoteWriteLimits
	NATSDecode  natsDecodeLimits
}

func liveLimitsOf(cfg *config.Config) (liveLimits, error) {
	n, err := natsDecodeLimitsOf(cfg)
	if err != nil {
		return liveLimits{}, err
	}
	return liveLimits{RemoteWrite: remoteWriteLimits(cfg), NATSDecode: n}, nil
}

// restartOnly is the part of the configuration the sources apply only
// when built (at start): the ingest bounds, the NATS stream and consumer
// (the nats keys other than the decoders' options), whether
// the remote-write receiver is mounted (remote_write.disabled) and the
// list of Prometheus servers.
type restartOnly struct {
	Ingest              config.IngestConfig
	NATS                config.NATSConfig
	RemoteWriteDisabled bool
	Prometheus          []config.PollerConfig
}

func restartOnlyOf(cfg *config.Config) restartOnly {
	nats := cfg.NATS
	// The decoders' options apply live (liveLimits).
	nats.MaxMessageBytes, nats.MaxLabels, nats.MaxLabelValueLength, nats.MaxInfluxFields = 0, 0, 0, 0
	nats.InfluxPrecision, nats.RequiredLabels, nats.LabelCacheSize = "", nil, 0
	return restartOnly{Ingest: cfg.Ingest, NATS: nats, RemoteWriteDisabled: cfg.RemoteWrite.Disabled, Prometheus: cfg.Prometheus}
}

// changed returns the keys of the sections that differ between r and o.
func (r restartOnly) changed(o restartOnly) []string {
	var keys []string
	if r.Ingest != o.Ingest {
		keys = append(keys, "ingest")
	}
	if !reflect.DeepEqual(r.NATS, o.NATS) {
		keys = append(keys, "nats")
	}
	if r.RemoteWriteDisabled != o.RemoteWriteDisabled {
		keys = append(keys, "remote_write.disabled")
	}
	if !slices.Equal(r.Prometheus, o.Prometheus) {
		keys = append(keys, "prometheus")
	}
	return keys
}

// CheckPollers returns the error starting the daemon with cfg would give
// from its Prometheus pollers' queries (none when cfg lists no Prometheus
// server): "omen check config" runs it, so that a file it passes starts.
func CheckPollers(cfg *config.Config) error {
	if len(cfg.Prometheus) == 0 {
		return nil
	}
	if err := checkPollerQueries(pollerQueries(cfg)); err != nil {
		return fmt.Errorf("prometheus: %w", err)
	}
	return nil
}

// checkPollerQueries is stream.CheckQueries, saying what an empty set
// means here.
func checkPollerQueries(queries map[string]string) error {
	if len(queries) == 0 {
		return errors.New("no feature has a PromQL expression for the Prometheus pollers to poll, nor any label: add one, or remove the prometheus section")
	}
	return stream.CheckQueries(queries)
}

// pollerQueries are the queries the Prometheus pollers evaluate: one per
// feature and one per failure label with an expression (as "omen train
// --source prometheus" evaluates them), named after it, with the entity
// labels substituted. Without the labels' queries a daemon fed by pollers
// alone never labelled a failure, and a model trained on its store never
// alerted. (Names are unique across features and labels.)
func pollerQueries(cfg *config.Config) map[string]string {
	queries := map[string]string{}
	r := cfg.Resolved()
	for _, l := range r.Labels {
		if l.Expr != "" {
			queries[l.Name] = l.Expr
		}
	}
	for _, f := range r.Features {
		queries[f.Name] = f.Expr
	}
	return queries
}

// setConfig applies a reloaded configuration to the running sources, all
// or nothing: what can refuse cfg (the pollers' query set, the decoders'
// limits) is checked before anything changes, so that on error the sources
// keep what they had and nothing is logged as applied.
//
// The remote_write limits apply to the receiver's next requests
// (stream.RemoteWriteReceiver.SetLimits), the nats decoders' options
// (max_message_bytes, max_labels, max_label_value_length,
// max_influx_fields, influx_precision, required_labels, label_cache_size)
// to the consumer's next batch of messages
// (stream.NATSConsumer.SetDecodeOptions). The feature definitions apply to
// the Prometheus pollers: each poller's next evaluation polls the new set
// of queries (a new feature is polled, a changed expression is polled in
// its new form, a removed one no longer); every poller gets the same set,
// and when the set is invalid none changes. Other poller settings (the
// list of servers, URL, timeout, backfill), the ingest section, the other
// nats keys and remote_write.disabled take a restart: the sources keep the
// settings they started with (App.applyConfig warns, restartOnlyKeys; a
// changed step or entity_labels is refused there). Safe for concurrent use
// with run; a nil *sources (not started) does nothing.
func (s *sources) setConfig(cfg *config.Config) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Everything that can refuse cfg is checked before anything changes,
	// so that a refused reload never runs a request under its limits nor
	// logs them as applied.
	queries, l, err := s.check(cfg)
	if err != nil {
		return err
	}
	old := s.live
	if err := s.applyLimits(l); err != nil {
		return err
	}
	if err := s.setQueries(queries); err != nil {
		// Not reached (the set was checked above); the limits go back.
		return errors.Join(err, s.applyLimits(old))
	}
	return nil
}

// checkConfig returns the error setConfig would return for cfg from the
// pollers' query set or the NATS decoders' limits, changing nothing: a
// reload checks every component before applying anything. (The
// remote_write limits are checked when the configuration is loaded.) A
// nil *sources accepts anything.
func (s *sources) checkConfig(cfg *config.Config) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _, err := s.check(cfg)
	return err
}

// check checks what can refuse cfg and returns the pollers' queries and
// the limits to apply; s.mu is held.
func (s *sources) check(cfg *config.Config) (map[string]string, liveLimits, error) {
	queries := pollerQueries(cfg)
	if len(s.pollers) > 0 {
		if err := checkPollerQueries(queries); err != nil {
			return nil, liveLimits{}, fmt.Errorf("apply feature queries to the Prometheus pollers: %w", err)
		}
	}
	l, err := liveLimitsOf(cfg)
	if err != nil {
		return nil, liveLimits{}, fmt.Errorf("apply nats decoder options: %w", err)
	}
	if _, err := decode.New(decodeOptions(s.restartOnly.Ingest, s.lookback, l.NATSDecode)); err != nil {
		return nil, liveLimits{}, fmt.Errorf("apply nats decoder options: %w", err)
	}
	return queries, l, nil
}

// applyLimits applies l to the running sources, all or nothing; s.mu is
// held.
func (s *sources) applyLimits(l liveLimits) error {
	natsChanged := !l.NATSDecode.equal(s.live.NATSDecode)
	if l.RemoteWrite == s.live.RemoteWrite && !natsChanged {
		return nil
	}
	if s.rw != nil && l.RemoteWrite != s.live.RemoteWrite {
		if err := s.rw.SetLimits(l.RemoteWrite); err != nil {
			return fmt.Errorf("apply remote_write limits: %w", err)
		}
	}
	if natsChanged {
		// The time window stays the start-time one (ingest takes a
		// restart).
		if err := s.consumer.SetDecodeOptions(decodeOptions(s.restartOnly.Ingest, s.lookback, l.NATSDecode)); err != nil {
			err = fmt.Errorf("apply nats decoder options: %w", err)
			if s.rw != nil && l.RemoteWrite != s.live.RemoteWrite {
				err = errors.Join(err, s.rw.SetLimits(s.live.RemoteWrite))
			}
			return err
		}
	}
	// Logged once everything applied.
	if s.rw != nil && l.RemoteWrite != s.live.RemoteWrite {
		s.logger.Info("remote-write receiver limits applied", "limits", fmt.Sprintf("%+v", l.RemoteWrite))
	}
	if natsChanged {
		s.logger.Info("NATS decoder options applied from the next batch", "options", fmt.Sprintf("%+v", l.NATSDecode))
	}
	s.live = l
	return nil
}

// setQueries gives the pollers queries (checked with stream.CheckQueries).
// The pollers take them at once, each on a goroutine: SetQueries waits
// (up to 5 s) for its poller's Append under way, and a store that does not
// answer holds every poller's, so one after the other a reload, which
// holds the evaluator's layout lock meanwhile, would wait 5 s a poller.
func (s *sources) setQueries(queries map[string]string) error {
	if len(s.pollers) == 0 {
		return nil
	}
	// SetQueries validates before swapping, and every poller gets the
	// same set: all fail, or none.
	errs := make([]error, len(s.pollers))
	var wg sync.WaitGroup
	for i, p := range s.pollers {
		wg.Go(func() { errs[i] = p.SetQueries(queries) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("apply feature queries to the Prometheus pollers: %w", err)
	}
	// Every reload gives the pollers the set; it is news only when an
	// expression changed.
	if !maps.Equal(queries, s.queries) {
		s.logger.Info("Prometheus poller queries updated", "queries", len(queries), "pollers", len(s.pollers))
	}
	s.queries = queries
	return nil
}

type pollerWithBackfill struct {
	*stream.Poller
	backfill time.Duration
}

// run runs the consumer and the pollers until ctx is done, then closes the
// NATS connection. The first source that fails (returns an error while ctx
// is not done) stops the others, and run returns its error, so that the
// daemon stops with it whether or not pollers run alongside.
func (s *sources) run(ctx context.Context) error {
	defer s.nc.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	fail := func(err error) {
		if err == nil || ctx.Err() != nil {
			return // a clean stop, or a stop caused by shutdown or another source
		}
		once.Do(func() { first = err })
		cancel(err)
	}
	wg.Go(func() { fail(s.consumer.Run(ctx)) })
	for _, p := range s.pollers {
		wg.Go(func() {
			// The backfill ends at the newest step on the grid Run polls
			// (and the daemon evaluates): ending at the wall clock, its
			// points sat between steps, so that the first steps read
			// values a step old. Run fetches the steps from there to its
			// first poll (a slow backfill), and the backfill again when it
			// failed, once Prometheus answers.
			var last time.Time
			if p.backfill > 0 {
				step := p.Step()
				end := stream.FloorStep(time.Now(), step)
				start := stream.FloorStep(end.Add(-p.backfill).Add(step-1), step) // on the grid, within backfill
				last = end
				if err := p.Backfill(ctx, start, end); err != nil && ctx.Err() == nil {
					s.logger.Error("backfill from Prometheus", "source", p.Source(), "err", err)
					last = start.Add(-step)
				}
			}
			fail(p.RunAfter(ctx, last))
		})
	}
	wg.Wait()
	return first
}

// RedactNATSURL hides the passwords and tokens of a NATS URL, or of each
// URL of a comma-separated list, for logs and errors (the password of
// --nats.url was logged in clear text at start). A comma inside user
// information does not end a URL there (the list was split at every
// comma: nats://u:pa,ss@h showed pa): a comma followed by an "@" with no
// "/", "?" or "#" between them (nats://u:pa,ss@h), or ending a text with
// no "@" that is no URL before a piece with one (nats://u:pa, its port
// "pa", then nats://x@h), is the user information's, hidden with it. A
// list whose pieces all read as URLs is shown URL by URL (a password part
// of digits before a comma and a URL with its own scheme,
// nats://u:12,nats://x@h, reads as two URLs, as the NATS client splits
// it); a URL without a scheme but with user information after a comma
// (nats://h1:4222,u:p@h2) reads as the user information of the URL
// before it, its host hidden with it. A URL without a scheme reads as
// the client reads it, with nats:// before it (redactNATSPiece).
func RedactNATSURL(s string) string {
	var urls []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != ',' {
			continue
		}
		if i < len(s) {
			rest := s[i+1:]
			next, _, _ := strings.Cut(rest, ",")
			if userInfoRest(rest) || strings.Contains(next, "@") && !strings.Contains(s[start:i], "@") && !isURL(s[start:i]) {
				continue // the comma is inside user information
			}
		}
		// The spaces around a URL of the list (the NATS client trims
		// them) kept, and not parsed as part of it.
		u := s[start:i]
		t := strings.TrimSpace(u)
		lead := strings.Index(u, t)
		urls = append(urls, u[:lead]+redactNATSPiece(t)+u[lead+len(t):])
		start = i + 1
	}
	return strings.Join(urls, ",")
}

// redactNATSPiece redacts one URL of a NATS server list. The NATS
// client prefixes a URL without "://" with nats:// (omen:s3:cret@h:4222
// is user omen, password s3:cret), which redact.URL would read as the
// scheme omen: and show omen:s3:xxxxx@h:4222: such a URL with an "@" is
// redacted as the client reads it and shown without the prefix.
func redactNATSPiece(t string) string {
	if strings.IndexByte(t, '@') < 0 || strings.Contains(t, "://") {
		return redact.URL(t)
	}
	r := redact.URL("nats://" + t)
	if rest, ok := strings.CutPrefix(r, "nats://"); ok {
		return rest
	}
	return r
}

// userInfoRest reports whether rest, the text of a list of NATS URLs
// after a comma, has an "@" with no "/", "?" or "#" before it: the comma
// is inside the user information of the URL before it (or a URL without
// a scheme but with user information follows it, which, ambiguous, is
// taken as the former: more hidden, never less).
func userInfoRest(rest string) bool {
	at := strings.IndexByte(rest, '@')
	return at >= 0 && !strings.ContainsAny(rest[:at], "/?#")
}

// isURL reports whether p (spaces around it aside) parses as a URL.
func isURL(p string) bool {
	_, err := url.Parse(strings.TrimSpace(p))
	return err == nil
}
