package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/stream/decode"
	"github.com/omen-sre/omen/telemetry"
)

// Headers set on dead-lettered messages. The payload and the original
// headers are kept as they were.
const (
	HeaderDLQReason   = "Omen-Dlq-Reason"   // a reason label value, e.g. "malformed", "unknown_format", "too_large", "invalid"
	HeaderDLQError    = "Omen-Dlq-Error"    // the error text
	HeaderDLQSubject  = "Omen-Dlq-Subject"  // the original subject
	HeaderDLQStream   = "Omen-Dlq-Stream"   // the original stream
	HeaderDLQSequence = "Omen-Dlq-Sequence" // the original stream sequence
	HeaderDLQConsumer = "Omen-Dlq-Consumer" // the durable consumer that rejected it
)

// Defaults of NATSOptions.
const (
	DefaultNATSStream = "OMEN"
	DefaultDurable    = "omen"
	DefaultDLQSubject = "omen.dlq"
	DefaultDLQStream  = "OMEN_DLQ"
	// DefaultDLQMaxAge is NATSOptions.DLQMaxAge's default.
	DefaultDLQMaxAge = 7 * 24 * time.Hour
	// DefaultDLQMaxBytes is NATSOptions.DLQMaxBytes's default, -1: no
	// bound (JetStream reserves a stream's bound in its file store, which
	// a small one has not room for).
	DefaultDLQMaxBytes = -1
)

// DefaultNATSSubjects are the subjects the stream captures by default.
var DefaultNATSSubjects = []string{"omen.metrics", "omen.metrics.>", "omen.events", "omen.events.>"}

// NATSOptions configure a NATSConsumer. Zero values take the defaults
// named on each field.
type NATSOptions struct {
	// Stream is the JetStream stream to consume. Default "OMEN".
	Stream string
	// Subjects are the stream's subjects, used only when the consumer
	// creates the stream. Default DefaultNATSSubjects.
	Subjects []string
	// MaxAge is the stream's retention, set when creating it and applied
	// by Setup to an existing stream too. Default 24h.
	MaxAge time.Duration
	// MaxBytes bounds the stream's size on disk, set when creating it and
	// applied by Setup to an existing stream too: when full, the oldest
	// messages are dropped, acknowledged or not. 0 or less: no bound.
	MaxBytes int64
	// StreamReplicas is the stream's replica count when creating it
	// (NATS cluster); an existing stream keeps its own. Default 1.
	StreamReplicas int
	// Durable is the durable pull consumer's name. Replicas sharing a
	// durable share its work (work-queue semantics); replicas owning
	// different partitions use different durables. Default "omen".
	Durable string
	// FilterSubjects restricts the consumer to these subjects, e.g.
	// {"omen.metrics.*.3", "omen.events.*.3"} for partition 3. Empty means
	// the whole stream.
	FilterSubjects []string
	// AckWait is how long the server waits for an ack before redelivering.
	// Default 30s; it must cover one fetch's decode plus Append.
	AckWait time.Duration
	// MaxAckPending bounds unacknowledged messages. Default 20000.
	MaxAckPending int
	// MaxDeliver bounds deliveries of one message; -1 (the default) is
	// unlimited, so a message is never dropped because the store was down
	// for long. Poison messages are terminated, not redelivered.
	MaxDeliver int
	// FetchBatch is the most messages one fetch returns. Default 1000.
	FetchBatch int
	// FetchWait is the longest a batch waits to fill after its first
	// message arrived. Default 100ms.
	FetchWait time.Duration
	// MaxBatchBytes cuts a batch once its messages' payloads reach this
	// many bytes, so that a backlog is drained in batches of bounded
	// memory without waiting FetchWait for each. Default 4 MiB.
	MaxBatchBytes int
	// MaxBufferedBytes bounds the message bytes pulled ahead and buffered
	// in the client. It must exceed the largest message. Default 16 MiB
	// (more than the NATS client's 64 MiB slow-consumer limit would drop
	// messages, which then wait AckWait for redelivery).
	MaxBufferedBytes int
	// IdleRelease is how long the consumer waits for a message before it
	// drops the scratch of its two pipeline stages (a burst's decoded
	// samples: up to MaxBatchBytes of payload, about 10 MB of samples per
	// stage), which would otherwise stay allocated until the next
	// message. Default 5s.
	IdleRelease time.Duration
	// NakDelay is the pause of the pull after a retryable Append error,
	// before the refused messages, held meanwhile, are appended again:
	// each further failure in a row doubles it, up to 30s or half the
	// AckWait, whichever is shorter (a store whose disk is full refuses
	// every batch until space is freed). It is also the redelivery delay
	// of messages nacked (a batch in flight when the consumer stops, a
	// failed dead-letter publish). Default 1s.
	NakDelay time.Duration
	// DLQSubject receives poison messages: a subject without wildcards
	// that none of the stream's subjects matches (the two streams cannot
	// capture the same subject). Default "omen.dlq".
	DLQSubject string
	// DLQStream captures DLQSubject; created when missing. When it exists
	// with another subject, retention or size bound, Setup updates it to
	// these (its messages are kept, up to the new bounds). Default
	// "OMEN_DLQ".
	DLQStream string
	// DLQMaxAge is the dead-letter stream's retention. Default 7 days.
	DLQMaxAge time.Duration
	// DLQMaxBytes bounds the dead-letter stream's size; when full, the
	// oldest dead letters are dropped. JetStream reserves it in the
	// server's file store (max_file_store), so it must fit there next to
	// the other streams' bounds. 0 or -1 (the default): no bound.
	DLQMaxBytes int64
	// Decode configures the payload decoder (limits, precision, required
	// labels).
	Decode decode.Options
}

func (o *NATSOptions) withDefaults() (NATSOptions, error) {
	r := *o
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&r.Stream, DefaultNATSStream)
	def(&r.Durable, DefaultDurable)
	def(&r.DLQSubject, DefaultDLQSubject)
	def(&r.DLQStream, DefaultDLQStream)
	if len(r.Subjects) == 0 {
		r.Subjects = append([]string(nil), DefaultNATSSubjects...)
	}
	if r.MaxAge == 0 {
		r.MaxAge = 24 * time.Hour
	}
	if r.StreamReplicas == 0 {
		r.StreamReplicas = 1
	}
	if r.AckWait == 0 {
		r.AckWait = 30 * time.Second
	}
	if r.MaxAckPending == 0 {
		r.MaxAckPending = 20000
	}
	if r.MaxDeliver == 0 {
		r.MaxDeliver = -1
	}
	if r.FetchBatch == 0 {
		r.FetchBatch = 1000
	}
	if r.FetchWait == 0 {
		r.FetchWait = 100 * time.Millisecond
	}
	if r.MaxBufferedBytes == 0 {
		r.MaxBufferedBytes = 16 << 20
	}
	if r.MaxBatchBytes == 0 {
		r.MaxBatchBytes = 4 << 20
	}
	if r.NakDelay == 0 {
		r.NakDelay = time.Second
	}
	if r.IdleRelease == 0 {
		r.IdleRelease = 5 * time.Second
	}
	if r.DLQMaxAge == 0 {
		r.DLQMaxAge = DefaultDLQMaxAge
	}
	if r.DLQMaxBytes == 0 {
		r.DLQMaxBytes = DefaultDLQMaxBytes
	}
	switch {
	case r.MaxAge < 0 || r.AckWait < 0 || r.FetchWait < 0 || r.NakDelay < 0 || r.DLQMaxAge < 0 || r.IdleRelease < 0:
		return r, errors.New("nats consumer options: negative duration")
	case r.StreamReplicas < 1 || r.StreamReplicas > 5:
		return r, fmt.Errorf("nats consumer options: StreamReplicas %d outside 1..5", r.StreamReplicas)
	case r.MaxAckPending < r.FetchBatch && r.MaxAckPending > 0:
		return r, fmt.Errorf("nats consumer options: MaxAckPending %d below FetchBatch %d", r.MaxAckPending, r.FetchBatch)
	case r.MaxBufferedBytes < 1<<20 || r.MaxBufferedBytes > 48<<20:
		return r, fmt.Errorf("nats consumer options: MaxBufferedBytes %d outside 1 MiB..48 MiB", r.MaxBufferedBytes)
	case r.MaxBatchBytes < 0:
		return r, fmt.Errorf("nats consumer options: MaxBatchBytes %d is negative", r.MaxBatchBytes)
	case r.FetchBatch < 1:
		return r, fmt.Errorf("nats consumer options: FetchBatch %d below 1", r.FetchBatch)
	case r.MaxDeliver < -1:
		return r, fmt.Errorf("nats consumer options: MaxDeliver %d", r.MaxDeliver)
	case r.AckWait < time.Second:
		return r, fmt.Errorf("nats consumer options: AckWait %s below 1s", r.AckWait)
	case r.DLQMaxBytes < -1:
		return r, fmt.Errorf("nats consumer options: DLQMaxBytes %d below -1", r.DLQMaxBytes)
	}
	for _, s := range r.Subjects {
		if err := CheckSubject(s, true); err != nil {
			return r, fmt.Errorf("nats consumer options: stream subject: %w", err)
		}
	}
	if err := CheckFilterSubjects(r.FilterSubjects, nil); err != nil {
		return r, fmt.Errorf("nats consumer options: filter subject: %w", err)
	}
	if err := CheckDLQSubject(r.DLQSubject, r.Subjects); err != nil {
		return r, fmt.Errorf("nats consumer options: %w", err)
	}
	return r, nil
}

// CheckSubject returns an error when s is not a valid NATS subject:
// dot-separated non-empty tokens without whitespace; with wildcards, a
// token may be "*" and the last one ">", without, neither may appear.
func CheckSubject(s string, wildcards bool) error {
	if s == "" {
		return errors.New("empty subject")
	}
	if strings.ContainsAny(s, " \t\r\n\f\v") {
		return fmt.Errorf("subject %q contains whitespace", s)
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("subject %q has an empty token", s)
		case t == "*" || t == ">":
			if !wildcards {
				return fmt.Errorf("subject %q has a wildcard (%s); it must name one subject", s, t)
			}
			if t == ">" && i != len(toks)-1 {
				return fmt.Errorf("subject %q has > before its last token", s)
			}
		case strings.ContainsAny(t, "*>"):
			return fmt.Errorf("subject %q has a token %q mixing a wildcard with other characters", s, t)
		}
	}
	return nil
}

// SubjectsOverlap reports whether some subject matches both patterns a
// and b (valid subjects, wildcards allowed).
func SubjectsOverlap(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		switch {
		case i == len(at) || i == len(bt):
			return len(at) == len(bt)
		case at[i] == ">" || bt[i] == ">":
			return true // the other has a token here, which ">" matches
		case at[i] != bt[i] && at[i] != "*" && bt[i] != "*":
			return false
		}
	}
}

// CheckDLQSubject returns an error when dlq is not a subject the
// dead-letter stream can capture next to a stream with subjects
// streamSubjects: it must be a valid subject without wildcards that none
// of streamSubjects matches (JetStream refuses two streams capturing one
// subject, and a dead letter captured by the consumed stream would be
// consumed again).
func CheckDLQSubject(dlq string, streamSubjects []string) error {
	if err := CheckSubject(dlq, false); err != nil {
		return fmt.Errorf("dead-letter subject: %w", err)
	}
	for _, s := range streamSubjects {
		if SubjectsOverlap(dlq, s) {
			hint := ""
			for _, c := range []string{DefaultDLQSubject, "omen_dlq"} {
				if !slices.ContainsFunc(streamSubjects, func(s string) bool { return SubjectsOverlap(c, s) }) {
					hint = fmt.Sprintf(", e.g. %q", c)
					break
				}
			}
			return fmt.Errorf("dead-letter subject %q is one of the stream's subjects (%s); choose one outside them%s", dlq, s, hint)
		}
	}
	return nil
}

// CheckFilterSubjects returns an error when filters are not consumer
// filter subjects JetStream accepts and that read something: each a valid
// subject (wildcards allowed), no two overlapping (JetStream refuses
// them), and, when streamSubjects are given, each overlapping one of them
// (a filter outside the stream's subjects reads nothing).
func CheckFilterSubjects(filters, streamSubjects []string) error {
	for i, f := range filters {
		if err := CheckSubject(f, true); err != nil {
			return err
		}
		for _, g := range filters[:i] {
			if SubjectsOverlap(f, g) {
				return fmt.Errorf("filter subjects %q and %q overlap (JetStream refuses overlapping filters): give disjoint ones", g, f)
			}
		}
		if streamSubjects != nil && !slices.ContainsFunc(streamSubjects, func(s string) bool { return SubjectsOverlap(f, s) }) {
			return fmt.Errorf("filter subject %q matches none of the stream's subjects (%s): the consumer would read nothing", f, strings.Join(streamSubjects, ", "))
		}
	}
	return nil
}

// NATSConsumer consumes telemetry from a JetStream stream with a durable
// pull consumer; see the package documentation for delivery guarantees and
// scale-out.
type NATSConsumer struct {
	opts NATSOptions
	nc   *nats.Conn
	// connected receives nc's CONNECTED statuses from NewNATSConsumer on
	// (never read but by connectedOnce, never removed: it lives as long
	// as nc); wasConnected latches the first (or nc connected when the
	// consumer was created). See connectedOnce.
	connected    chan nats.Status
	wasConnected atomic.Bool
	app          Appender
	logger       *slog.Logger
	// name is "nats/<stream>/<durable>": the stable label of metrics and
	// logs, whichever incarnation of the stream is consumed.
	name string
	// source is the Source of the batches, name plus the stream's
	// creation time (see sourceName); set by Setup.
	source atomic.Pointer[string]
	// durableCreated is the durable consumer's creation time (Unix ns;
	// 0: not known), set by Setup and by poll's consumer info: a message
	// published before it and below the store's retention floor is a
	// replay by a new durable (see lookUpSeen).
	durableCreated atomic.Int64
	// dec decodes; only the decoding goroutine uses it. nextDec is a
	// decoder with new options (SetDecodeOptions) that the decoding
	// goroutine takes before its next batch.
	dec     *decode.Decoder
	nextDec atomic.Pointer[decode.Decoder]
	m       *ingestMetrics
	js      jetstream.JetStream
	// seen and stored are app as a SeenChecker and a StoredAppender, or
	// nil when it is not one.
	seen   SeenChecker
	stored StoredAppender
	// seqs and metas are the decoding goroutine's scratch.
	seqs  []uint64
	metas []*jetstream.MsgMetadata

	messages  *prometheus.CounterVec
	recreated *prometheus.CounterVec
	appendD   *prometheus.HistogramVec

	// Scratch of the run loop: the messages being gathered and two stages,
	// one being decoded while the other is being stored.
	msgs   []jetstream.Msg
	stages [2]stage
	// samplesPerByte is the last batch's samples per payload byte, to
	// size the next batch's samples (decoding goroutine only).
	samplesPerByte float64
	// heartbeat is the pull's idle heartbeat; 0 takes the client's
	// default (half the pull's 30s expiry). Tests shorten it.
	heartbeat time.Duration

	// pending and contact are this consumer's gauges of
	// omen_nats_consumer_pending_messages and
	// omen_nats_consumer_last_contact_timestamp_seconds; pulling is true
	// while consume has a pull open. pollEvery is how often Run asks the
	// server for the consumer's info (DefaultNATSPollInterval; tests
	// shorten it).
	pending prometheus.Gauge
	contact prometheus.Gauge
	// backoff is the pull's current pause between retries while the
	// store refuses batches (0 otherwise); backoffs counts the pauses.
	backoff   prometheus.Gauge
	backoffs  prometheus.Counter
	pulling   atomic.Bool
	pollEvery time.Duration
	// waitWarnEvery is how often Run warns while its connection has not
	// reached a server yet: natsWaitWarnEvery, shorter in tests.
	waitWarnEvery time.Duration
	// missedHeartbeat is when the pull last reported missing heartbeats
	// (Unix nanoseconds).
	missedHeartbeat atomic.Int64

	// storeFail paces the pull while Append keeps failing (commit
	// goroutine only).
	storeFail storeBackoff

	// deadLog, expiredLog and partLog write the records of dead letters,
	// expired messages and partly rejected messages, one per subject and
	// reason a minute (see rateLog); poll flushes their summaries.
	deadLog, expiredLog, partLog *rateLog

	// dlqFail tracks a run of failed publishes to the dead-letter
	// subject (both goroutines dead-letter); retryAt is when the delay
	// of the last failure ends (see dlqHeldOff).
	dlqFail struct {
		sync.Mutex
		storeBackoff
		retryAt time.Time
	}

	// limitsTried: applyStreamLimits ran (Setup runs at the daemon's
	// start and again when Run starts: a refused update waited its
	// timeout and warned twice).
	limitsTried atomic.Bool
}

// maxStorePause is the longest pause of the pull between retries of a
// store that keeps refusing batches (a full disk); it is at most half the
// AckWait (or the NakDelay, when that is longer), so that the batch held
// during one pause, marked in progress before and after it (and every
// half AckWait within it), is not redelivered meanwhile. The next
// batches wait behind it, decoded or in the pull client's buffer (up to
// 16 MiB), and outlive their AckWait when the store refuses batches for
// long: the server redelivers them. That is traffic, not loss
// (MaxDeliver is unbounded), nor disorder: the copies held are stored
// first, in stream order, once the store takes batches again, and the
// redelivered ones are skipped as duplicates.
const maxStorePause = 30 * time.Second

// storeBackoff tracks a run of failed commits (a retryable Append error:
// the store's disk full, ...). After each, the commit goroutine pauses,
// holding the refused batch, before it appends the batch again, twice as
// long each time from NakDelay up to maxStorePause, which pauses the
// pull: nacking every batch with the NakDelay and pulling on made a busy
// loop of redeliveries (tens of warnings and thousands of nacks a minute
// while the disk was full). The batch is held rather than nacked, so
// that the store takes batches in stream order: a nacked batch was
// redelivered after the next ones, already pulled, were stored, and its
// samples came late to the evaluator (omen_ingest_late_samples_total),
// whose steps were then not evaluated again.
type storeBackoff struct {
	fails  int       // consecutive failed commits
	since  time.Time // the first of them
	warned time.Time // the last warning about them
}

// storeWarnEvery is how often a run of failed commits is warned about
// after its first warning.
const storeWarnEvery = time.Minute

// storePauseCeiling is the longest pause storePause gives.
func (c *NATSConsumer) storePauseCeiling() time.Duration {
	return max(min(maxStorePause, c.opts.AckWait/2), c.opts.NakDelay)
}

// storePause is the pause after the current run of failed commits.
func (c *NATSConsumer) storePause() time.Duration {
	return c.storeFail.pause(c.opts.NakDelay, c.storePauseCeiling())
}

// pause is base doubled for each failure of the run after the first, at
// most ceiling.
func (b *storeBackoff) pause(base, ceiling time.Duration) time.Duration {
	d := base
	for i := 1; i < b.fails && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// DefaultNATSPollInterval is how often a running NATSConsumer asks
// JetStream for its durable consumer's info, which sets
// omen_nats_consumer_pending_messages and, while it pulls,
// omen_nats_consumer_last_contact_timestamp_seconds.
const DefaultNATSPollInterval = 15 * time.Second

// stage holds one batch of messages from decoding to acknowledgement.
type stage struct {
	res     decode.Result
	spans   []msgSpan
	batches []telemetry.Batch
}

// msgSpan locates one message's decoded values in the shared Result.
type msgSpan struct {
	msg            jetstream.Msg
	seq            uint64
	received       int64
	s0, s1, e0, e1 int
	// done: the message is terminated already (dead-lettered, or
	// expired); its batch is empty, a marker that puts its (Source, Seq)
	// in the store's duplicate set, so that a replay of the stream (a
	// recreated durable) acknowledges it without decoding it again. It is
	// neither acknowledged nor nacked.
	done bool
}

// NewNATSConsumer returns a consumer reading through nc, which the caller
// owns (and closes after Run returns).
func NewNATSConsumer(nc *nats.Conn, app Appender, opts NATSOptions, reg prometheus.Registerer, logger *slog.Logger) (*NATSConsumer, error) {
	if nc == nil || app == nil {
		return nil, errors.New("nats consumer: nil connection or Appender")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dec, err := decode.New(o.Decode)
	if err != nil {
		return nil, fmt.Errorf("nats consumer: %w", err)
	}
	m, err := newIngestMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("nats consumer metrics: %w", err)
	}
	c := &NATSConsumer{
		opts: o, nc: nc, app: app, dec: dec, m: m,
		name: "nats/" + o.Stream + "/" + o.Durable,
	}
	c.logger = logger.With("source", c.name)
	c.connected = nc.StatusChanged(nats.CONNECTED) // before IsConnected: no connect missed
	c.wasConnected.Store(nc.IsConnected())
	c.seen, _ = app.(SeenChecker)
	c.deadLog = newRateLog(c.logger, slog.LevelWarn, "dead-lettered message", "dead-lettered messages")
	c.expiredLog = newRateLog(c.logger, slog.LevelWarn,
		"dropping expired message: every sample or event in it is older than ingest.max_sample_age (terminated, not dead-lettered)", "dropped expired messages")
	c.partLog = newRateLog(c.logger, slog.LevelWarn, "message partly rejected: its rejected lines are counted in omen_ingest_errors_total, the rest stored",
		"messages partly rejected")
	c.stored, _ = app.(StoredAppender)
	if c.js, err = jetstream.New(nc); err != nil {
		return nil, fmt.Errorf("nats consumer: jetstream: %w", err)
	}
	if c.messages, err = counterVec(reg, prometheus.CounterOpts{
		Namespace: "omen", Name: "nats_messages_total",
		Help: "NATS messages handled, by outcome: acked (stored), duplicate (stored before: acknowledged without being decoded), nacked, dead_letter, expired (every sample older than ingest.max_sample_age: terminated, not dead-lettered), released.",
	}, "consumer", "outcome"); err != nil {
		return nil, fmt.Errorf("nats consumer metrics: %w", err)
	}
	if c.recreated, err = counterVec(reg, prometheus.CounterOpts{
		Namespace: "omen", Name: "nats_consumer_recreated_total",
		Help: "Times the durable JetStream consumer was found missing (deleted by an operator or lost by JetStream) and recreated.",
	}, "consumer"); err != nil {
		return nil, fmt.Errorf("nats consumer metrics: %w", err)
	}
	c.recreated.WithLabelValues(o.Durable)
	// The outcomes the shipped OmenNATSConsumerStalled rule reads exist
	// from the start, so that "none in 5 minutes" is a zero and not an
	// absent series.
	c.messages.WithLabelValues(o.Durable, "acked")
	c.messages.WithLabelValues(o.Durable, "dead_letter")
	c.messages.WithLabelValues(o.Durable, "duplicate")
	c.messages.WithLabelValues(o.Durable, "expired")
	pending, err := gaugeVec(reg, prometheus.GaugeOpts{
		Namespace: "omen", Name: "nats_consumer_pending_messages",
		Help: "Messages of the stream the durable JetStream consumer has not finished: not yet delivered (num_pending) plus delivered and not yet acknowledged (num_ack_pending), " +
			"from the consumer's info, asked every 15s; the last answer's value while JetStream does not answer (see omen_nats_consumer_last_contact_timestamp_seconds).",
	}, "consumer")
	if err != nil {
		return nil, fmt.Errorf("nats consumer metrics: %w", err)
	}
	contact, err := gaugeVec(reg, prometheus.GaugeOpts{
		Namespace: "omen", Name: "nats_consumer_last_contact_timestamp_seconds",
		Help: "Unix time at which JetStream last showed the durable consumer's pull working: a message delivered, or the consumer's info answered (every 15s) while omen pulls; " +
			"the time the consumer started until then. It stops while NATS is unreachable, the consumer or stream is missing, or omen retries its pull.",
	}, "consumer")
	if err != nil {
		return nil, fmt.Errorf("nats consumer metrics: %w", err)
	}
	c.pending, c.contact = pending.WithLabelValues(o.Durable), contact.WithLabelValues(o.Durable)
	backoff, err := gaugeVec(reg, prometheus.GaugeOpts{
		Namespace: "omen", Name: "nats_consumer_backoff_seconds",
		Help: "The pause the durable consumer's pull takes between retries while the store refuses batches (its disk below the reserve, or another retryable Append error), " +
			"doubling from the NAK delay up to half the ack wait (at most 30s); 0 while the store takes batches.",
	}, "consumer")
	if err != nil {
		return nil, fmt.Errorf("nats consumer metrics: %w", err)
	}
	backoffs, err := counterVec(reg, prometheus.CounterOpts{
		Namespace: "omen", Name: "nats_consumer_backoffs_total",
		Help: "Pauses of the durable consumer's pull after a batch the store refused (see omen_nats_consumer_backoff_seconds).",
	}, "consumer")
	if err != nil {
		return nil, fmt.Errorf("nats consumer metrics: %w", err)
	}
	c.backoff, c.backoffs = backoff.WithLabelValues(o.Durable), backoffs.WithLabelValues(o.Durable)
	c.pollEvery = DefaultNATSPollInterval
	c.waitWarnEvery = natsWaitWarnEvery
	if c.appendD, err = histogramVec(reg, prometheus.HistogramOpts{
		Namespace: "omen", Name: "nats_batch_commit_seconds",
		Help:    "Time to store (Append) and acknowledge one batch of messages.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
	}, "consumer"); err != nil {
		return nil, fmt.Errorf("nats consumer metrics: %w", err)
	}
	for _, r := range decode.Reasons() {
		if r != decode.ReasonStringField {
			m.errors.WithLabelValues(r)
		}
	}
	m.ignored.WithLabelValues(c.name, decode.ReasonStringField)
	m.errors.WithLabelValues(ReasonDeadLetter)
	m.errors.WithLabelValues(ReasonDeadLetterFailed)
	m.errors.WithLabelValues(ReasonAppend)
	return c, nil
}

// Source returns the Source name of the batches this consumer emits,
// "nats/<stream>/<durable>@<the stream's creation time>" (see sourceName),
// or "" before Setup has run. Safe for concurrent use.
func (c *NATSConsumer) Source() string {
	if p := c.source.Load(); p != nil {
		return *p
	}
	return ""
}

// sourceName returns the Source of batches consumed by durable from a
// stream created at created: "nats/<stream>/<durable>@" followed by the
// creation time (UTC, fixed-width nanoseconds).
//
// Batches are deduplicated by (Source, Seq), and Seq is the stream
// sequence, which a new stream of the same name numbers from 1 again. The
// creation time tells the incarnations of a stream apart: JetStream sets
// it once, when the stream is created, keeps it across server restarts
// and stream updates, and every replica of omen reads the same value, so
// the Source is stable for one stream and different for a new one (a
// stream deleted and created again, by omen's Setup or by an operator).
// Without it, the store would skip the new stream's messages as
// duplicates of the old stream's until the new sequence passed the old
// one's highest.
//
// The time is read from the server rather than remembered by omen, so no
// state outside JetStream is needed. Upgrading from the name without the
// suffix ("nats/<stream>/<durable>") re-ingests only messages delivered
// again after the upgrade that were stored before it: with the durable
// consumer kept, those whose ack was lost (normally none); the feature
// head drops the duplicate samples. A stream restored from a backup gets a
// new creation time and so counts as new in the same way.
func sourceName(stream, durable string, created time.Time) string {
	return "nats/" + stream + "/" + durable + "@" + created.UTC().Format("2006-01-02T15:04:05.000000000Z")
}

// Setup creates the stream, the dead-letter stream and the durable
// consumer when missing, updates an existing stream's retention and size
// bound to the options' (see applyStreamLimits), sets the Source of the batches from the stream's
// creation time (see sourceName), and returns the consumer. Run calls it;
// it is exported for tools and tests that publish before consuming.
func (c *NATSConsumer) Setup(ctx context.Context) (jetstream.Consumer, error) {
	js := c.js
	st, err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name: c.opts.Stream, Subjects: c.opts.Subjects, Storage: jetstream.FileStorage,
		MaxAge: c.opts.MaxAge, MaxBytes: maxBytes(c.opts.MaxBytes), Replicas: c.opts.StreamReplicas,
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
	})
	if err != nil {
		return nil, storageHint(err, "nats.max_bytes", "0", c.opts.MaxBytes)
	}
	c.applyStreamLimits(ctx, st)
	created := st.CachedInfo().Created
	if created.IsZero() {
		return nil, fmt.Errorf("stream %q reports no creation time, which tells its messages from a former stream's of the same name", c.opts.Stream)
	}
	src := sourceName(c.opts.Stream, c.opts.Durable, created)
	if old := c.source.Swap(&src); old == nil {
		c.logger.Info("consuming jetstream stream", "batch_source", src)
	} else if *old != src {
		c.logger.Warn("jetstream stream was created anew; its batches get a new source", "old", *old, "batch_source", src)
	}
	if err := CheckDLQSubject(c.opts.DLQSubject, st.CachedInfo().Config.Subjects); err != nil {
		return nil, fmt.Errorf("stream %q: %w", c.opts.Stream, err)
	}
	if err := CheckFilterSubjects(c.opts.FilterSubjects, st.CachedInfo().Config.Subjects); err != nil {
		return nil, fmt.Errorf("stream %q: %w", c.opts.Stream, err)
	}
	if err := c.ensureDLQStream(ctx); err != nil {
		return nil, err
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       c.opts.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       c.opts.AckWait,
		MaxAckPending: c.opts.MaxAckPending,
		MaxDeliver:    c.opts.MaxDeliver,
		MaxWaiting:    512,
	}
	switch len(c.opts.FilterSubjects) {
	case 0:
	case 1:
		cfg.FilterSubject = c.opts.FilterSubjects[0]
	default:
		cfg.FilterSubjects = c.opts.FilterSubjects
	}
	cons, err := c.ensureConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c.noteDurableCreated(cons.CachedInfo())
	return cons, nil
}

// noteDurableCreated keeps the durable's creation time from its info
// (another replica sharing the durable may have recreated it).
func (c *NATSConsumer) noteDurableCreated(info *jetstream.ConsumerInfo) {
	if info != nil && !info.Created.IsZero() {
		c.durableCreated.Store(info.Created.UnixNano())
	}
}

// ensureConsumer creates the durable consumer cfg, or updates it when it
// exists.
//
// Several filter subjects need nats-server 2.10 or later: 2.9 ignores
// them and creates a consumer of the whole stream (which the client then
// reports as an error), so they are refused before anything is created,
// and a consumer created by a failed attempt is deleted again.
//
// When the durable exists with other filter subjects than configured:
//   - nats-server 2.10 and later update it in place. The consumer keeps its
//     position in the stream: messages of the new filter before that
//     position (normally all those published before the change) are not
//     read, those after it are, and every replica sharing the durable
//     consumes with the new filter from then on. A WARN says so.
//   - A nats-server before 2.10 accepts the update but then delivers
//     nothing, so it is refused with an error of type *FilterConflictError
//     and the durable is left as it is. It is never deleted automatically:
//     during a rolling deploy the durable is another replica's, which
//     would delete it back, and a new durable reads its filter's retained
//     messages again, of which the store skips those below its
//     deduplication floor (older than the ingest log's retention) though
//     it never stored them.
func (c *NATSConsumer) ensureConsumer(ctx context.Context, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	js := c.js
	wrap := func(err error) error {
		return fmt.Errorf("create consumer %q on stream %q: %w", c.opts.Durable, c.opts.Stream, err)
	}
	version := c.nc.ConnectedServerVersion()
	modern := serverAtLeast(version, 2, 10)
	if len(c.opts.FilterSubjects) > 1 && !modern {
		return nil, wrap(fmt.Errorf("several filter subjects %q need nats-server 2.10 or later, connected to %s: give one (e.g. %q)",
			c.opts.FilterSubjects, version, "omen.metrics.*.p0"))
	}
	old, err := js.Consumer(ctx, c.opts.Stream, c.opts.Durable)
	existed := err == nil
	switch {
	case err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, wrap(fmt.Errorf("look up consumer: %w", err))
	case existed && !sameFilters(filtersOf(old.CachedInfo().Config), c.opts.FilterSubjects):
		info := old.CachedInfo()
		if !modern {
			return nil, wrap(&FilterConflictError{
				Stream: c.opts.Stream, Durable: c.opts.Durable, ServerVersion: version,
				Existing: filtersOf(info.Config), Configured: slices.Clone(c.opts.FilterSubjects),
			})
		}
		c.logger.Warn("consumer's filter subjects changed; updating them in place: the consumer continues from its position in the stream (stream_position, the last message it delivered), so messages of the new filter before it are not read, and every replica sharing this durable consumes with the new filter (to read them, use another nats.durable)",
			"consumer", c.opts.Durable, "old", describeFilters(filtersOf(info.Config)), "new", describeFilters(c.opts.FilterSubjects),
			"stream_position", info.Delivered.Stream, "server_version", version)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, c.opts.Stream, cfg)
	if err != nil {
		if !existed && ctx.Err() == nil {
			// Do not leave behind a consumer the server created with a
			// configuration it did not fully accept (no filter at all).
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			derr := js.DeleteConsumer(dctx, c.opts.Stream, c.opts.Durable)
			cancel()
			if derr == nil {
				c.logger.Warn("deleted the consumer a failed creation left behind", "consumer", c.opts.Durable, "err", err)
			}
		}
		if h := filterHint(err); h != "" {
			err = fmt.Errorf("%w (%s)", err, h)
		}
		return nil, wrap(err)
	}
	return cons, nil
}

// FilterConflictError is Setup's error when the durable consumer exists
// with other filter subjects than configured on a nats-server before
// 2.10, which cannot change them in place. Nothing is deleted: Error says
// what the operator can do.
type FilterConflictError struct {
	Stream, Durable, ServerVersion string
	// Existing are the durable's filter subjects, Configured the
	// configured ones (none: the whole stream).
	Existing, Configured []string
}

// Error names the durable, both filters and the ways out.
func (e *FilterConflictError) Error() string {
	return fmt.Sprintf("consumer %q exists with filter subjects %s but nats.filter_subjects is %s, "+
		"and nats-server %s (before 2.10) cannot change a consumer's filter; omen does not delete the consumer, "+
		"which another replica may be using. Either give this replica another nats.durable, "+
		"or stop every omen using durable %q and delete it (nats consumer rm %s %s): "+
		"the new consumer then reads every message of its filter the stream retains again, "+
		"skips those already stored as duplicates, and also skips, without storing them, "+
		"those older than the ingest log's retention (lookback + 1h)",
		e.Durable, describeFilters(e.Existing), describeFilters(e.Configured), e.ServerVersion,
		e.Durable, e.Stream, e.Durable)
}

// describeFilters formats filter subjects for messages; none is the
// whole stream.
func describeFilters(f []string) string {
	if len(f) == 0 {
		return "none (the whole stream)"
	}
	return fmt.Sprintf("%q", f)
}

// errCodeFilterNotSubset is nats-server 2.9's error code for a filter
// subject outside every subject of the stream.
const errCodeFilterNotSubset = 10093

// filterHint explains a consumer creation error of the server, or returns "".
func filterHint(err error) string {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeFilterNotSubset {
		return "before nats-server 2.10 a filter subject must lie within one of the stream's subjects, e.g. omen.metrics.*.p0 and not omen.*.*.p0"
	}
	return ""
}

// filtersOf returns the filter subjects of a consumer's configuration.
func filtersOf(cfg jetstream.ConsumerConfig) []string {
	if cfg.FilterSubject != "" {
		return []string{cfg.FilterSubject}
	}
	return cfg.FilterSubjects
}

// sameFilters reports whether a and b hold the same subjects.
func sameFilters(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// serverAtLeast reports whether the server version ("2.9.10") is at
// least major.minor; an unparsable version counts as recent.
func serverAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return true
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.TrimLeftFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > major || ma == major && mi >= minor
}

// JetStream's error codes for a stream whose MaxBytes the account's or
// server's file store has not room for.
const (
	errCodeInsufficientResources = 10023
	errCodeStorageExceeded       = 10047
)

// storageHint adds to err, when it says that JetStream's file store has
// no room for a stream's reserve, what to do: with a bound (bound > 0),
// lower key or set it to unbounded; without one (the reserves of other
// streams fill the store), make room on the server.
func storageHint(err error, key, unbounded string, bound int64) error {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeStorageExceeded && apiErr.ErrorCode != errCodeInsufficientResources {
		return err
	}
	if bound <= 0 {
		return fmt.Errorf("%w (%s is unbounded: the other streams' max bytes, which JetStream reserves in its file store, leave it no room: "+
			"lower theirs, or raise the server's max_file_store)", err, key)
	}
	return fmt.Errorf("%w (JetStream reserves a stream's max bytes in its file store, which has no room for this one next to "+
		"the other streams' reserves: lower %s, or set it to %s for no bound, or raise the server's max_file_store)", err, key, unbounded)
}

// maxBytes maps "no bound" (0 or less) to JetStream's -1.
func maxBytes(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// ensureStream returns the stream named cfg.Name, created with cfg when
// missing.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, cfg.Name)
	if err == nil {
		return st, nil // the callers update the settings they own
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("look up stream %q: %w", cfg.Name, err)
	}
	st, err = js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		// Created meanwhile (another replica), with another configuration.
		st, err = js.Stream(ctx, cfg.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("create stream %q: %w", cfg.Name, err)
	}
	return st, nil
}

// applyStreamLimits updates an existing stream whose retention (MaxAge)
// or size bound (MaxBytes) differs from the options to theirs, with a
// WARN naming each changed setting: the configuration's keys for them
// (nats.max_age, nats.max_bytes) would otherwise apply only when omen
// creates the stream, and a changed value would be ignored without a
// word. Only these two fields are omen's: the stream's other settings
// (subjects another publisher may have added, replicas, retention
// policy, discard policy, other limits) are kept as they are, and so are
// its messages, up to the new limits (a lower one drops the oldest at
// once). An update the server refuses (omen's NATS user may not update
// streams an operator manages; the new bound does not fit the file store)
// is a WARN, not an error: the stream keeps its limits and omen reads it
// as before (omen did not start when it could not update a stream it did
// not need to change before).
func (c *NATSConsumer) applyStreamLimits(ctx context.Context, st jetstream.Stream) {
	cfg := st.CachedInfo().Config
	wantAge, wantBytes := c.opts.MaxAge, maxBytes(c.opts.MaxBytes)
	if cfg.MaxAge == wantAge && cfg.MaxBytes == wantBytes || c.limitsTried.Swap(true) {
		return
	}
	var changed []any
	if cfg.MaxAge != wantAge {
		changed = append(changed, "old_max_age", cfg.MaxAge, "max_age", wantAge)
	}
	if cfg.MaxBytes != wantBytes {
		changed = append(changed, "old_max_bytes", cfg.MaxBytes, "max_bytes", wantBytes)
	}
	cfg.MaxAge, cfg.MaxBytes = wantAge, wantBytes
	// A denied request is not answered: it times out. Bounded so that the
	// start is not held for the whole Setup deadline.
	uctx, cancel := context.WithTimeout(ctx, streamUpdateTimeout)
	defer cancel()
	if _, err := c.js.UpdateStream(uctx, cfg); err != nil {
		err = storageHint(err, "nats.max_bytes", "0", c.opts.MaxBytes)
		c.logger.Warn("stream's limits differ from nats.max_age and nats.max_bytes and could not be updated; it keeps its own (does omen's NATS user lack permission for $JS.API.STREAM.UPDATE? set the keys to the stream's values to silence this)",
			append([]any{"stream", c.opts.Stream, "err", err}, changed...)...)
		return
	}
	c.logger.Warn("stream's limits differed from nats.max_age and nats.max_bytes; updated them (its other settings and its messages are kept, up to the new limits)",
		append([]any{"stream", c.opts.Stream}, changed...)...)
}

// streamUpdateTimeout bounds applyStreamLimits' update request.
const streamUpdateTimeout = 5 * time.Second

// ensureDLQStream creates the dead-letter stream, or updates an existing
// one whose subjects, retention or size bound differ from the options
// (keeping its messages): a dead-letter subject the stream does not
// capture would have every poison message nacked and redelivered for
// good. A stream it creates gets the duplicate window of dlqDuplicates;
// an existing one keeps its own (with the daemon's options the two are
// JetStream's default, 2 min).
func (c *NATSConsumer) ensureDLQStream(ctx context.Context) error {
	want := jetstream.StreamConfig{
		Name: c.opts.DLQStream, Subjects: []string{c.opts.DLQSubject}, Storage: jetstream.FileStorage,
		MaxAge: c.opts.DLQMaxAge, MaxBytes: maxBytes(c.opts.DLQMaxBytes), Replicas: c.opts.StreamReplicas,
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld, Duplicates: dlqDuplicates(c.opts),
	}
	st, err := ensureStream(ctx, c.js, want)
	if err != nil {
		return storageHint(err, "nats.dead_letter_max_bytes", "-1", c.opts.DLQMaxBytes)
	}
	cfg := st.CachedInfo().Config
	if slices.Equal(cfg.Subjects, want.Subjects) && cfg.MaxAge == want.MaxAge && cfg.MaxBytes == want.MaxBytes {
		return nil
	}
	old := cfg
	cfg.Subjects, cfg.MaxAge, cfg.MaxBytes = want.Subjects, want.MaxAge, want.MaxBytes
	if _, err := c.js.UpdateStream(ctx, cfg); err != nil {
		return storageHint(fmt.Errorf("update dead-letter stream %q to subject %q, max age %s, max bytes %d: %w",
			c.opts.DLQStream, c.opts.DLQSubject, want.MaxAge, want.MaxBytes, err), "nats.dead_letter_max_bytes", "-1", c.opts.DLQMaxBytes)
	}
	c.logger.Info("dead-letter stream updated to the configuration; its messages are kept", "stream", c.opts.DLQStream,
		"old_subjects", old.Subjects, "subjects", cfg.Subjects, "old_max_age", old.MaxAge, "max_age", cfg.MaxAge,
		"old_max_bytes", old.MaxBytes, "max_bytes", cfg.MaxBytes)
	return nil
}

// defaultDuplicates is JetStream's default duplicate window.
const defaultDuplicates = 2 * time.Minute

// dlqDuplicates returns the duplicate window the dead-letter stream needs
// so that it stores each dead letter once (see deadLetterID): twice the
// longest time between two publishes of one dead letter, which is the
// redelivery after a lost PubAck (dlqPublishTimeout plus a NAK delay of
// up to maxStorePause or NakDelay, see dlqFailed) or after a lost Term or
// Nak (the AckWait). It is at least JetStream's default, 2 min (the
// window with the daemon's options), and at most the stream's
// retention, as JetStream requires.
func dlqDuplicates(o NATSOptions) time.Duration {
	w := max(defaultDuplicates, 2*o.AckWait, 2*(dlqPublishTimeout+max(maxStorePause, o.NakDelay)))
	if o.DLQMaxAge > 0 {
		w = min(w, o.DLQMaxAge)
	}
	return w
}

// Run sets up the stream and consumer and consumes until ctx is done. It
// returns nil when ctx is cancelled, or the error that stopped it (the
// connection was closed, the stream or consumer could not be set up).
//
// When the durable consumer disappears while Run consumes
// (deleted by an operator, lost by JetStream), Run logs it once at WARN,
// counts it in omen_nats_consumer_recreated_total and runs Setup again,
// with backoff, until the consumer exists again; see recreate for what is
// redelivered then. When the stream itself was deleted (which deletes
// its consumers too), Run creates it anew in the same way, as Setup does
// at a start (see streamMissing).
//
// Messages are pulled continuously (up to MaxBufferedBytes buffered) and
// gathered into batches of at most FetchBatch messages, cut FetchWait after
// the first message of a batch arrived. On return, buffered messages that
// were not processed are nacked so that another replica can take them at
// once. Run must not be called concurrently on one NATSConsumer; run
// several consumers (same or different durables) for parallelism.
//
// While it runs, Run asks JetStream for the consumer's info every
// DefaultNATSPollInterval for omen_nats_consumer_pending_messages, and
// keeps omen_nats_consumer_last_contact_timestamp_seconds at the last
// time the pull was seen working (see healthy).
func (c *NATSConsumer) Run(ctx context.Context) error {
	c.contact.SetToCurrentTime()
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { c.poll(pctx) })
	defer func() {
		stop()
		wg.Wait()
		c.flushLogs(true)
	}()
	return c.run(ctx)
}

// poll sets the pending and contact gauges from the consumer's info every
// pollEvery until ctx is done.
func (c *NATSConsumer) poll(ctx context.Context) {
	t := time.NewTicker(c.pollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.flushLogs(false)
		healthy := c.healthy()
		ictx, cancel := context.WithTimeout(ctx, min(c.pollEvery, 5*time.Second))
		cons, err := c.js.Consumer(ictx, c.opts.Stream, c.opts.Durable)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.logger.Debug("consumer info", "consumer", c.opts.Durable, "err", err)
			}
			continue
		}
		info := cons.CachedInfo()
		c.noteDurableCreated(info)
		c.pending.Set(float64(info.NumPending) + float64(info.NumAckPending))
		if healthy && c.healthy() {
			c.contact.SetToCurrentTime()
		}
	}
}

// heartbeatWindow is how long the pull goes without a heartbeat before it
// reports missing ones: two heartbeats, of the client's default 15s
// unless c.heartbeat sets one.
func (c *NATSConsumer) heartbeatWindow() time.Duration {
	if c.heartbeat > 0 {
		return 2 * c.heartbeat
	}
	return 30 * time.Second
}

// healthy reports whether the pull is open and has not reported missing
// heartbeats for longer than the client takes to report them again: the
// server answers it (a heartbeat or a message arrived since).
func (c *NATSConsumer) healthy() bool {
	return c.pulling.Load() && time.Since(time.Unix(0, c.missedHeartbeat.Load())) > c.heartbeatWindow()+time.Second
}

// run is Run without the gauges' poller.
func (c *NATSConsumer) run(ctx context.Context) error {
	cons, err := c.setUp(ctx)
	if err != nil {
		return fmt.Errorf("nats consumer %s: %w", c.name, err)
	}
	if cons == nil {
		return nil // ctx is done
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.consume(ctx, cons)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if c.fatal(err) {
			return fmt.Errorf("nats consumer %s: %w", c.name, err)
		}
		if c.consumerGone(ctx, cons, err) {
			// Deleted by an operator, or lost by JetStream: the old handle
			// will never deliver again. Recreate it (same configuration),
			// and the stream too when it is gone.
			if c.streamMissing(ctx) {
				c.logger.Warn("jetstream stream was deleted under the running consumer; creating it anew with its consumer "+
					"(its messages get a new batch source, so the store does not take them for the old stream's, whose sequence numbers they repeat)",
					"stream", c.opts.Stream, "consumer", c.opts.Durable, "reason", err, "in", streamRecreateDelay)
				if !awaitStreamDeletion(ctx) {
					return nil
				}
			} else {
				c.logger.Warn("jetstream consumer is gone; recreating it", "consumer", c.opts.Durable, "reason", err)
			}
			c.recreated.WithLabelValues(c.opts.Durable).Inc()
			if cons, err = c.recreate(ctx); err != nil {
				return fmt.Errorf("nats consumer %s: %w", c.name, err)
			}
			if cons == nil {
				return nil // ctx is done
			}
			backoff = 100 * time.Millisecond
			continue
		}
		c.logger.Warn("pull from jetstream", "err", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return nil
		}
		backoff = min(backoff*2, 10*time.Second)
	}
	return nil
}

// natsWaitWarnEvery is how often Run warns again while its connection
// has not reached a NATS server yet.
const natsWaitWarnEvery = 5 * time.Minute

// setUp runs Setup for Run. It returns a nil consumer and nil error when
// ctx is done first.
//
// A connection that is up when Run starts gets one Setup, whose error ends
// Run, as always, unless the connection was lost during it (a server
// restarting as omen starts): then as below. A connection that has not reached its server yet (made
// with nats.RetryOnFailedConnect while the server was unreachable: the
// daemon's, with an external server down when it started) is waited for,
// without a log line per attempt: a WARN every natsWaitWarnEvery
// (whoever made the connection reports the first failure), and an INFO
// once it connects. Setup then runs, and is retried with backoff while it
// fails for a reason that passes with time (a timeout, no responders,
// the connection lost again, a JetStream cluster not yet available); any
// other error (a filter conflict, a stream bound JetStream has no room
// for) ends Run, as it would at a start with the server up, and so does a
// timeout behind which the server reported a permissions violation for
// the JetStream API (see jsAPIDenied; the error names it, on both paths).
// A connection closed meanwhile (nats.go gave up: an authorization error
// once the server answered) ends Run too, and so does a server that
// answers but refuses the connection as configured (see ConnectRefused: a
// tls:// URL for a server without TLS, a failed TLS handshake, refused
// credentials), which nats.go would retry for ever, until the connection
// has connected once (connectedOnce): then it is waited for. No responders is retried here (a WARN
// each storeWarnEvery), where it ends Run at a start with the server up:
// a late server whose JetStream does not answer (not enabled) is waited
// for until it does.
func (c *NATSConsumer) setUp(ctx context.Context) (jetstream.Consumer, error) {
	if c.nc.IsConnected() {
		reconnects := c.nc.Stats().Reconnects
		cons, err := c.Setup(ctx)
		if err != nil && ctx.Err() != nil {
			return nil, nil
		}
		if err == nil {
			return cons, nil
		}
		// The connection lost during Setup (a server restarting as omen
		// starts: its request unanswered, timed out) is waited for and
		// Setup retried, as for a connection not up yet; it ended Run
		// (omen exited 1).
		lost := !c.nc.IsConnected() || c.nc.Stats().Reconnects != reconnects
		if !lost || c.fatal(err) || !setupRetryable(err) {
			return nil, c.withDenial(err)
		}
		c.logger.Warn("set up jetstream stream and consumer: the connection was lost meanwhile; retrying once it is up",
			"consumer", c.opts.Durable, "err", err)
	}
	since := time.Now()
	backoff := 100 * time.Millisecond
	var warned time.Time
	for {
		if err := c.awaitConnection(ctx, since); err != nil || ctx.Err() != nil {
			return nil, err
		}
		cons, err := c.Setup(ctx)
		if err == nil {
			c.logger.Info("NATS reached: jetstream stream and consumer set up", "consumer", c.opts.Durable,
				"waited", time.Since(since).Round(time.Millisecond))
			return cons, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if c.fatal(err) || !setupRetryable(err) && c.nc.IsConnected() || c.jsAPIDenied() != nil {
			return nil, c.withDenial(err)
		}
		if now := time.Now(); now.Sub(warned) >= storeWarnEvery {
			warned = now
			c.logger.Warn("set up jetstream stream and consumer: retrying", "consumer", c.opts.Durable, "err", err, "retry_in", backoff)
		}
		if !sleep(ctx, backoff) {
			return nil, nil
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// awaitConnection waits until the connection is up or ctx is done (nil),
// warning every c.waitWarnEvery while it waits (with the connection's
// last error, if a server was reached: a proxy without a backend closing
// the connection, a handshake timing out); since is when Run began
// waiting. It returns an error when the connection is closed for good.
func (c *NATSConsumer) awaitConnection(ctx context.Context, since time.Time) error {
	if c.nc.IsConnected() {
		return nil
	}
	// RECONNECTING is sent after each attempt that reached a server
	// and failed in the NATS handshake, with the connection's LastError
	// set: a refusal is seen at once.
	ch := c.nc.StatusChanged(nats.CONNECTED, nats.CLOSED, nats.RECONNECTING)
	defer c.nc.RemoveStatusListener(ch)
	remind := time.NewTicker(c.waitWarnEvery)
	defer remind.Stop()
	for !c.nc.IsConnected() {
		if c.nc.IsClosed() {
			if err := c.nc.LastError(); err != nil {
				return fmt.Errorf("NATS connection closed before it reached a server: %w", err)
			}
			return fmt.Errorf("NATS connection closed before it reached a server: %w", nats.ErrConnectionClosed)
		}
		if err := c.nc.LastError(); ConnectRefused(err) && !c.connectedOnce() {
			return fmt.Errorf("NATS server refused the connection: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		case <-remind.C:
			args := []any{"consumer", c.opts.Durable, "for", time.Since(since).Round(time.Second)}
			if err := c.nc.LastError(); err != nil {
				args = append(args, "last_err", err)
			}
			c.logger.Warn("NATS still unreachable: omen keeps connecting in the background; the stream and consumer are set up once it answers", args...)
		}
	}
	return nil
}

// connectedOnce reports whether c's connection has connected since c was
// created (or was connected then): a server that refuses it afterwards
// (credentials rotated on the server before omen's file) is waited for,
// as nats.go keeps reconnecting, rather than ending Run; before, a
// refusal ends Run, as at a start with the server up. It counts the
// connects nats.go reports, not the connection's status when asked: a
// late server that let the connection in, then (Setup failing with the
// connection lost, or before Run) refused it at a reconnect, ended Run.
func (c *NATSConsumer) connectedOnce() bool {
	if c.wasConnected.Load() {
		return true
	}
	select {
	case <-c.connected:
		c.wasConnected.Store(true)
		return true
	default:
		return false
	}
}

// ConnectRefused reports whether err, the error of a NATS connect that
// reached a server (a connection's LastError before it reached one), is
// the answer of a server that will not take the connection as it is
// configured, which waiting does not change: a tls:// URL for a server
// without TLS (or a nats:// one for a server that requires it and that
// the client cannot switch to), a TLS handshake that failed (a
// certificate not trusted or not for the host, a TLS alert from the
// server, a protocol it does not speak), a client certificate refused
// (or missing) after the handshake: the connection closed or reset
// then. A handshake that timed out is not one (nats.go wraps it in
// nats.ErrTLS too): a loaded server may answer the next; nor are other
// errors (a connection closed or reset before the server spoke, a read
// that timed out). Credentials the server refuses (AuthRefused) are one
// too: the daemon's connection does not give up on them (app sets
// nats.IgnoreAuthErrorAbort, for credentials rotated on the server
// first), and other connections close at the second refusal, which
// awaitConnection reports. omen run's start (app) asks it too, of a
// server that answers.
func ConnectRefused(err error) bool {
	if err == nil {
		return false
	}
	if AuthRefused(err) {
		return true
	}
	if errors.Is(err, nats.ErrSecureConnWanted) || errors.Is(err, nats.ErrSecureConnRequired) || errors.Is(err, nats.ErrClientCertOrRootCAsRequired) {
		return true
	}
	if netErr, ok := errors.AsType[net.Error](err); errors.Is(err, os.ErrDeadlineExceeded) || ok && netErr.Timeout() {
		return false
	}
	var (
		recordErr tls.RecordHeaderError
		alertErr  tls.AlertError
		verifyErr *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	if errors.As(err, &recordErr) || errors.As(err, &alertErr) || errors.As(err, &verifyErr) ||
		errors.As(err, &authority) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return true
	}
	if TLSClosedByServer(err) {
		return true
	}
	// A TLS alert sent by crypto/tls to the server ("local error");
	// crypto/tls's alert type is unexported.
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "local error" {
		return true
	}
	// crypto/tls's own handshake error ("tls: handshake failure", "tls:
	// server selected unsupported protocol version"), which has no type:
	// nats.go's message is "nats: tls error: tls: …".
	return errors.Is(err, nats.ErrTLS) && strings.Contains(err.Error(), nats.ErrTLS.Error()+": tls: ")
}

// TLSClosedByServer reports whether the NATS connect error err is the
// server refusing the TLS connection after it looked at the client's
// certificate: a TLS alert from it ("remote error: tls: bad
// certificate", "certificate required"), or the connection closed right
// after the TLS handshake (nats.ErrTLS with EOF, a reset, a broken pipe:
// under TLS 1.3 the server checks the client's certificate once the
// client has finished). ConnectRefused counts it; omen run's start
// error names the client certificate flags then.
func TLSClosedByServer(err error) bool {
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "remote error" {
		return true
	}
	return errors.Is(err, nats.ErrTLS) && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
}

// AuthRefused reports whether err is a NATS server refusing the
// connection's credentials (an authorization violation, expired or
// revoked credentials). nats.go gives a refusal after the handshake as
// its sentinel error (nats.ErrAuthExpired: "nats: authentication
// expired"), and one in the handshake as the server's own -ERR text,
// equal to the sentinel only when the texts are: nats-server 2.9
// answers a user JWT that expires in the second of the connect with
// "User Authentication Expired" ("nats: User Authentication Expired"),
// which is not nats.ErrAuthExpired. The server's texts (nats.go's
// AUTHORIZATION_ERR and the others, which its own reading of the -ERR
// matches) are recognised in err's message.
func AuthRefused(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, refusal := range []string{nats.AUTHORIZATION_ERR, nats.AUTHENTICATION_EXPIRED_ERR,
		nats.AUTHENTICATION_REVOKED_ERR, nats.ACCOUNT_AUTHENTICATION_EXPIRED_ERR} {
		if strings.Contains(msg, "nats: "+refusal) {
			return true
		}
	}
	return false
}

// jsAPIDenied returns the connection's last error when it is a
// permissions violation for a JetStream API subject ($JS.API.>): the
// server does not let this user use JetStream, and a JetStream request
// then only times out (the violation arrives on its own, as an
// asynchronous error). It returns nil otherwise.
func (c *NATSConsumer) jsAPIDenied() error {
	err := c.nc.LastError()
	if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), "$JS.API") {
		return err
	}
	return nil
}

// withDenial adds to Setup's error err the permissions violation behind
// it, if any (see jsAPIDenied): err alone says only that a request timed
// out.
func (c *NATSConsumer) withDenial(err error) error {
	if denied := c.jsAPIDenied(); denied != nil && !errors.Is(err, nats.ErrPermissionViolation) {
		return fmt.Errorf("%w (%w)", err, denied)
	}
	return err
}

// setupRetryable reports whether Setup's error err passes with time: the
// server did not answer (a timeout, the connection lost), JetStream had
// no responder yet, or its cluster was not yet available.
func setupRetryable(err error) bool {
	if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrConnectionReconnecting) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsClusterNotAvailable
}

// jsClusterNotAvailable is JetStream's error code for "JetStream system
// temporarily unavailable" (a cluster without a meta leader yet).
const jsClusterNotAvailable jetstream.ErrorCode = 10008

// fatal reports whether err ends Run: the connection is closed for good.
func (c *NATSConsumer) fatal(err error) bool {
	return c.nc.IsClosed() || errors.Is(err, nats.ErrConnectionClosed)
}

// consumerGone reports whether the durable consumer no longer exists (its
// stream does), from the iterator's error err or, for other errors, by
// asking the server.
func (c *NATSConsumer) consumerGone(ctx context.Context, cons jetstream.Consumer, err error) bool {
	if consumerMissing(err) {
		return true
	}
	return c.lookUpConsumer(ctx, cons) != nil
}

// consumerMissing reports whether err says that the consumer, or its
// stream, does not exist.
func consumerMissing(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrStreamNotFound)
}

// lookUpConsumer asks the server for cons and returns the error when it or
// its stream does not exist; nil when it exists or the server could not
// tell (unreachable, timeout).
func (c *NATSConsumer) lookUpConsumer(ctx context.Context, cons jetstream.Consumer) error {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cons.Info(ictx); consumerMissing(err) {
		return fmt.Errorf("look up consumer %q: %w", c.opts.Durable, err)
	}
	return nil
}

// streamMissing reports whether the stream itself no longer exists
// (deleted by an operator, or lost with JetStream's store), which deletes
// its consumers too. Run then creates it anew under the running consumer,
// by Setup, as a restart would: the new stream numbers its messages from
// 1 again, but its creation time gives its batches a new Source (see
// sourceName), so the store does not skip them as duplicates of the old
// stream's. Setup creates it with the configured subjects and limits, as
// at a start: a stream an operator had created with other settings (the
// one subject omen.> on nats-server 2.9) is not restored; where the
// durable's filter does not suit the new stream, Run retries with a WARN
// until the operator replaces it.
func (c *NATSConsumer) streamMissing(ctx context.Context) bool {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := c.js.Stream(sctx, c.opts.Stream)
	return errors.Is(err, jetstream.ErrStreamNotFound)
}

// streamRecreateDelay is how long omen waits, after finding a stream it
// uses deleted, before it creates the stream anew: Run for its stream,
// publishDeadLetter for the dead-letter stream. nats-server deletes a
// stream in steps: it removes the name from the account first (a publish
// then finds no stream), then stops the stream's consumers (which is how
// Run learns of the deletion), and removes the stream's directory last. A
// stream of the same name created in between shares that directory and
// loses its files to the old stream's deletion: it then stores nothing
// and acknowledges no publish (measured on nats-server 2.15 under load: 3
// to 5 in 100 deletions when created at once). The wait also lets an
// operator who deleted the stream to replace it create their own first;
// Setup and ensureDLQStream use a stream that exists.
const streamRecreateDelay = 2 * time.Second

// awaitStreamDeletion waits streamRecreateDelay, for nats-server to finish
// deleting a stream found missing, before the caller creates it anew. It
// reports false when ctx is done first.
func awaitStreamDeletion(ctx context.Context) bool {
	return sleep(ctx, streamRecreateDelay)
}

// recreate runs Setup until it succeeds, with backoff. It returns a nil
// consumer and nil error when ctx is done, and an error when the connection
// is closed for good.
//
// The consumer is recreated with the configuration Setup always uses
// (DeliverAll), so that no message published while it was missing is
// skipped and replicas sharing the durable keep agreeing on its
// configuration. The new consumer has no ack state: it redelivers every
// message the stream retains (up to MaxAge), including those acknowledged
// before; they are skipped as duplicates by the Appender's (Source, Seq)
// deduplication (Seq is the stream sequence), at the cost of reading them
// again. When the durable was recreated meanwhile with other filter
// subjects on a nats-server before 2.10, the *FilterConflictError is
// returned (see ensureConsumer).
func (c *NATSConsumer) recreate(ctx context.Context) (jetstream.Consumer, error) {
	backoff := 100 * time.Millisecond
	for {
		// A deleted stream is created anew by Setup, which gives its
		// batches a new Source, so its messages are not taken for
		// duplicates of the old stream's (see streamMissing).
		cons, err := c.Setup(ctx)
		if err == nil {
			c.logger.Info("jetstream consumer recreated", "consumer", c.opts.Durable)
			return cons, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if fc := (*FilterConflictError)(nil); c.fatal(err) || errors.As(err, &fc) {
			// A durable recreated meanwhile with another filter (by a
			// replica configured otherwise) stays so until an operator acts.
			return nil, err
		}
		c.logger.Warn("recreate jetstream consumer", "consumer", c.opts.Durable, "err", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return nil, nil
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// consume runs one message iterator until ctx is done (nil) or the
// iterator fails (the error). It decodes one batch while the previous one
// is being stored: a single committer goroutine appends and acknowledges
// the batches in order.
func (c *NATSConsumer) consume(ctx context.Context, cons jetstream.Consumer) error {
	mopts := []jetstream.PullMessagesOpt{jetstream.PullMaxBytes(c.opts.MaxBufferedBytes)}
	if c.heartbeat > 0 {
		mopts = append(mopts, jetstream.PullHeartbeat(c.heartbeat))
	}
	it, err := cons.Messages(mopts...)
	if err != nil {
		return fmt.Errorf("pull messages: %w", err)
	}
	defer c.release(it)
	c.pulling.Store(true)
	defer c.pulling.Store(false)

	free := make(chan *stage, len(c.stages))
	for i := range c.stages {
		free <- &c.stages[i]
	}
	commit := make(chan *stage)
	committed := make(chan struct{})
	// holdCtx ends the commit goroutine's hold of a batch that the store
	// refuses when consume returns.
	holdCtx, endHold := context.WithCancel(ctx)
	go func() {
		defer close(committed)
		for st := range commit {
			// While the store refuses st, commit holds it, and so the
			// pipeline and the pull: the decoding loop waits for this
			// goroutine to take its next batch.
			c.commit(ctx, holdCtx, st)
			free <- st
		}
	}()
	defer func() {
		endHold()
		close(commit)
		<-committed
	}()

	idle := false // the stages' scratch was dropped and nothing came since
	for {
		var first jetstream.Msg
		var err error
		if idle {
			first, err = it.Next(jetstream.NextContext(ctx))
		} else {
			ictx, cancel := context.WithTimeout(ctx, c.opts.IdleRelease)
			first, err = it.Next(jetstream.NextContext(ictx))
			cancel()
			if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				c.dropScratch(free)
				idle = true
				continue
			}
		}
		idle = false
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, jetstream.ErrNoHeartbeat) {
				c.missedHeartbeat.Store(time.Now().UnixNano())
				// Missing heartbeats are also how a pull on a consumer
				// that no longer exists looks: a server restarted without
				// it (or without the stream) leaves the pull request
				// unanswered. Ask the server; Run recreates the consumer
				// or stops when the stream is gone.
				if gerr := c.lookUpConsumer(ctx, cons); gerr != nil {
					c.logger.Warn("no heartbeat from jetstream; the consumer is gone", "err", gerr)
					return gerr
				}
				c.logger.Warn("no heartbeat from jetstream; still pulling", "err", err)
				continue
			}
			return err
		}
		c.contact.SetToCurrentTime() // the pull delivers
		c.msgs = append(c.msgs[:0], first)
		size := len(first.Data())
		deadline := time.Now().Add(c.opts.FetchWait)
		var iterErr error
		for len(c.msgs) < c.opts.FetchBatch && size < c.opts.MaxBatchBytes {
			wait := time.Until(deadline)
			if wait <= 0 {
				break
			}
			msg, err := it.Next(jetstream.NextMaxWait(wait))
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					iterErr = err
				}
				break // timeout, heartbeat: process what we have
			}
			c.msgs = append(c.msgs, msg)
			size += len(msg.Data())
		}
		st := <-free
		c.decode(ctx, st, c.msgs)
		clear(c.msgs)
		if len(st.spans) > 0 {
			commit <- st
		} else {
			free <- st
		}
		if iterErr != nil {
			return iterErr
		}
	}
}

// release stops the iterator and nacks what it had buffered.
func (c *NATSConsumer) release(it jetstream.MessagesContext) {
	it.Drain()
	n := 0
	for {
		msg, err := it.Next(jetstream.NextMaxWait(time.Second))
		if err != nil {
			break
		}
		_ = msg.Nak()
		n++
	}
	it.Stop()
	if n > 0 {
		c.messages.WithLabelValues(c.opts.Durable, "released").Add(float64(n))
	}
}

// SetDecodeOptions changes the payload decoder's options (limits,
// precision, required labels, time window; the fields of
// NATSOptions.Decode) of a running consumer. It validates opts first: on
// error nothing changes. A batch being decoded keeps the options it
// started with; the next batch is decoded with opts, by a new decoder
// whose label cache starts empty (label sets are interned again). Safe
// for concurrent use with Run.
func (c *NATSConsumer) SetDecodeOptions(opts decode.Options) error {
	dec, err := decode.New(opts)
	if err != nil {
		return fmt.Errorf("nats consumer: %w", err)
	}
	c.nextDec.Store(dec)
	return nil
}

// decode decodes msgs into st and dead-letters the poison ones.
func (c *NATSConsumer) decode(ctx context.Context, st *stage, msgs []jetstream.Msg) {
	if d := c.nextDec.Swap(nil); d != nil {
		c.dec = d
	}
	st.res.Reset()
	st.spans = st.spans[:0]
	// Size the samples for the whole batch at once from the samples per
	// payload byte of the last batch: growing the slice by doubling
	// copied (and write-barriered) each batch's samples about twice.
	bytes := 0
	for _, msg := range msgs {
		bytes += len(msg.Data())
	}
	if want := int(float64(bytes)*c.samplesPerByte*1.1) + 64; cap(st.res.Samples) < want {
		st.res.Samples = slices.Grow(st.res.Samples, want)
	}
	src := c.Source()
	c.lookUpSeen(src, msgs)
	for i, msg := range msgs {
		meta := c.metas[i]
		if meta == nil {
			continue // not a JetStream message: nothing to acknowledge
		}
		c.messages.WithLabelValues(c.opts.Durable, "received").Inc()
		if c.seqs[i] == 0 {
			// Stored before (an ack lost, a durable recreated): skip it
			// before decoding, which may now find its samples too old, or
			// dead-letter a poison message again.
			if err := msg.Ack(); err != nil {
				c.logger.Warn("ack", "seq", meta.Sequence.Stream, "err", err)
			}
			c.messages.WithLabelValues(c.opts.Durable, "duplicate").Inc()
			continue
		}
		received := meta.Timestamp
		sp := msgSpan{msg: msg, seq: meta.Sequence.Stream, received: received.UnixMilli(), s0: len(st.res.Samples), e0: len(st.res.Events)}
		f, err := decode.Detect(msg.Subject(), msg.Headers().Get("Content-Type"))
		if err != nil {
			c.countDecodeErr(err)
			if c.deadLetter(ctx, msg, meta, reasonOf(err, ReasonUnknown), err) {
				c.addMarker(st, sp)
			}
			continue
		}
		errStart := len(st.res.Errors)
		derr := c.dec.Decode(f, msg.Data(), received, &st.res)
		c.countErrors(st.res.Errors[errStart:])
		if derr != nil {
			st.res.Samples = st.res.Samples[:sp.s0]
			st.res.Events = st.res.Events[:sp.e0]
			if expired(st.res.Errors[errStart:]) {
				c.expire(msg, sp.seq, derr)
				c.addMarker(st, sp)
				continue
			}
			if c.deadLetter(ctx, msg, meta, reasonOf(derr, ReasonUndecodable), derr) {
				c.addMarker(st, sp)
			}
			continue
		}
		c.notePartlyRejected(msg.Subject(), sp.seq, st.res.Errors[errStart:])
		sp.s1, sp.e1 = len(st.res.Samples), len(st.res.Events)
		st.spans = append(st.spans, sp)
	}
	clear(c.metas)
	if bytes > 0 {
		c.samplesPerByte = float64(len(st.res.Samples)) / float64(bytes)
	}
	st.batches = st.batches[:0]
	for _, sp := range st.spans {
		st.batches = append(st.batches, telemetry.Batch{
			Source: src, Seq: sp.seq, Received: sp.received,
			Samples: st.res.Samples[sp.s0:sp.s1:sp.s1], Events: st.res.Events[sp.e0:sp.e1:sp.e1],
		})
	}
}

// lookUpSeen sets c.metas to the metadata of msgs (nil for a message
// without) and c.seqs to their stream sequences, 0 for those the
// Appender has stored already for src (see SeenChecker), and for those
// below its retention floor (telemetry.SeenBelowFloor) that were published before
// the durable was created: a replay by a recreated durable of messages
// stored long ago, whose samples have aged past the decoder's window
// (and whose dead letters would be published again). A message below the
// floor published after the durable was created is one this durable
// delivered before and never finished, not one it stored: a poison
// message whose dead letter kept failing while later messages were
// stored and aged out of the ingest log. It is decoded (and dead-lettered)
// again; skipping it acknowledged it as a duplicate, lost without a dead
// letter. (A stored message below the floor redelivered after a lost ack
// is decoded too, and the store skips its batch.) The first delivery by
// the durable (NumDelivered) does not tell a replay: a recreated durable's
// first delivery may go to the pull of the deleted one and be lost, its
// redelivery then counting 2. When the durable's creation time is not
// known, a first delivery below the floor counts as a replay.
func (c *NATSConsumer) lookUpSeen(src string, msgs []jetstream.Msg) {
	c.metas, c.seqs = c.metas[:0], c.seqs[:0]
	for _, msg := range msgs {
		meta, err := msg.Metadata()
		if err != nil {
			c.logger.Warn("message without jetstream metadata", "subject", msg.Subject(), "err", err)
			meta = nil
		}
		seq := uint64(0)
		if meta != nil {
			seq = meta.Sequence.Stream
		}
		c.metas = append(c.metas, meta)
		c.seqs = append(c.seqs, seq)
	}
	if c.seen == nil || src == "" {
		return
	}
	seen, err := c.seen.Seen(src, c.seqs)
	if err != nil {
		// Decode them: the store skips the duplicates anyway.
		c.logger.Debug("look up stored messages", "err", err)
		return
	}
	created := c.durableCreated.Load()
	for i, s := range seen[:min(len(seen), len(c.seqs))] {
		switch {
		case s == telemetry.SeenStored:
			c.seqs[i] = 0
		case s == telemetry.SeenBelowFloor && c.metas[i] != nil && replayed(c.metas[i], created):
			c.seqs[i] = 0
		}
	}
}

// replayed reports whether meta's message, below the store's retention
// floor, is delivered by a durable created (Unix ns, 0: not known) after
// it was published: a replay of the stream, not a message this durable
// delivered before and never finished (see lookUpSeen).
func replayed(meta *jetstream.MsgMetadata, created int64) bool {
	if created == 0 {
		return meta.NumDelivered <= 1
	}
	return meta.Timestamp.UnixNano() < created
}

// addMarker adds to st the empty batch of sp, a message terminated
// already (see msgSpan.done), when the Appender can tell stored messages
// apart (a SeenChecker; otherwise nothing would read the marker).
func (c *NATSConsumer) addMarker(st *stage, sp msgSpan) {
	if c.seen == nil {
		return
	}
	sp.done = true
	sp.s1, sp.e1 = sp.s0, sp.e0
	st.spans = append(st.spans, sp)
}

// notePartlyRejected logs, rate-limited (partLog), a message whose
// decoding rejected errs but yielded samples or events; influx string
// fields, skipped by design, do not count.
func (c *NATSConsumer) notePartlyRejected(subject string, seq uint64, errs []decode.Error) {
	first, n := -1, 0
	for i, e := range errs {
		if e.Reason == decode.ReasonStringField {
			continue
		}
		if first < 0 {
			first = i
		}
		n++
	}
	if first < 0 {
		return
	}
	c.partLog.note(time.Now(), subject, errs[first].Reason, seq, n, errs[first].Error())
}

// flushLogs writes the rate-limited records' summaries that are due, or
// all of them.
func (c *NATSConsumer) flushLogs(all bool) {
	now := time.Now()
	for _, l := range []*rateLog{c.deadLog, c.expiredLog, c.partLog} {
		l.flush(now, all)
	}
}

// expired reports whether errs, the errors of a message that yielded
// nothing, are all too_old (string fields aside): its data aged past
// ingest.max_sample_age (a backlog, a replay), which is not a poison
// message to dead-letter.
func expired(errs []decode.Error) bool {
	old := false
	for _, e := range errs {
		switch e.Reason {
		case decode.ReasonTooOld:
			old = true
		case decode.ReasonStringField:
		default:
			return false
		}
	}
	return old
}

// expire terminates msg, whose samples and events are all too old
// (counted as too_old by countErrors), without dead-lettering it.
func (c *NATSConsumer) expire(msg jetstream.Msg, seq uint64, cause error) {
	c.expiredLog.note(time.Now(), msg.Subject(), decode.ReasonTooOld, seq, 0, cause.Error())
	if err := msg.Term(); err != nil {
		c.logger.Warn("term", "seq", seq, "err", err)
	}
	c.messages.WithLabelValues(c.opts.Durable, "expired").Inc()
}

// appendBatches appends bs and returns the indexes of those stored:
// every one when the Appender does not tell (not a StoredAppender).
func (c *NATSConsumer) appendBatches(ctx context.Context, bs []telemetry.Batch) (stored []int, err error) {
	if c.stored != nil {
		return c.stored.AppendStored(ctx, bs)
	}
	if err := c.app.Append(ctx, bs); err != nil {
		return nil, err
	}
	stored = make([]int, len(bs))
	for i := range stored {
		stored[i] = i
	}
	return stored, nil
}

// commit stores the decoded messages of st in one Append and acknowledges
// them. While the store refuses them with a retryable error (its disk
// below the reserve, ...), it holds those not stored yet: it pauses for
// storePause, keeping them from being redelivered meanwhile (see
// holdFor), and appends them again, until the store takes them or hold
// or ctx ends (consume returns); then it nacks them, to be redelivered,
// and reports false. Nacking them at once let the next batches, pulled
// already, be stored before their redelivery: the store is to take
// batches in stream order.
func (c *NATSConsumer) commit(ctx, hold context.Context, st *stage) (ok bool) {
	spans, batches := st.spans, st.batches
	for {
		start := time.Now()
		done, err := c.store(ctx, spans, batches)
		c.appendD.WithLabelValues(c.opts.Durable).Observe(time.Since(start).Seconds())
		if err == nil {
			c.storeRecovered()
			ok = true
			break
		}
		spans, batches = spans[done:], batches[done:]
		if ctx.Err() != nil || hold.Err() != nil || errors.Is(err, context.Canceled) {
			c.nakHeld(spans)
			break
		}
		if !c.holdFor(hold, spans, c.storeFailed(spans, err)) {
			c.nakHeld(spans)
			break
		}
	}
	clear(st.spans)
	if ctx.Err() != nil {
		// An Append that returned because ctx ended may still read the
		// batches and their samples (see Lent): leave them to the garbage
		// collector. The consumer is stopping anyway.
		st.batches, st.res = nil, decode.Result{}
		return ok
	}
	clear(st.batches)
	st.shrink()
	return ok
}

// store appends batches, the decoded messages of spans, and acknowledges
// those stored. When the store refuses one as invalid (ErrInvalid) it
// appends them one by one, in order, to dead-letter the bad ones. It
// returns how many of spans, from the first, are done (stored and
// acknowledged, or dead-lettered) and, when not all, the retryable
// Append error that stopped at the next one: the later ones are not
// appended before it, which keeps the store in stream order.
func (c *NATSConsumer) store(ctx context.Context, spans []msgSpan, batches []telemetry.Batch) (done int, err error) {
	stored, err := c.appendBatches(ctx, batches)
	switch {
	case err == nil:
		c.ackAll(spans, batches, stored)
		return len(spans), nil
	case !errors.Is(err, ErrInvalid):
		c.m.errors.WithLabelValues(ReasonAppend).Inc()
		return 0, err
	}
	// Find the bad messages one by one; store the good ones.
	c.m.errors.WithLabelValues(ReasonAppend).Inc()
	for i, sp := range spans {
		stored, err := c.appendBatches(ctx, batches[i:i+1])
		switch {
		case err == nil:
			c.ackAll(spans[i:i+1], batches[i:i+1], stored)
		case errors.Is(err, ErrInvalid):
			meta, _ := sp.msg.Metadata()
			if c.deadLetter(ctx, sp.msg, meta, "invalid", err) && c.seen != nil {
				// Its marker (see msgSpan.done), alone: the batch
				// itself is what the store refuses.
				b := batches[i]
				if err := c.app.Append(ctx, []telemetry.Batch{{Source: b.Source, Seq: b.Seq, Received: b.Received}}); err != nil {
					c.logger.Debug("store the marker of a dead letter", "seq", b.Seq, "err", err)
				}
			}
		default:
			return i, err
		}
	}
	return len(spans), nil
}

// nakHeld nacks spans, held while the store refused them, when the
// consumer stops holding them (it stops, or its pull ends): they are
// redelivered after NakDelay.
func (c *NATSConsumer) nakHeld(spans []msgSpan) {
	c.logger.Debug("stopping: messages in flight will be redelivered", "messages", len(spans))
	c.nakAll(spans, c.opts.NakDelay)
}

// storeFailed notes a retryable Append error refusing spans, which
// commit holds and appends again after the pause that follows, and
// returns that pause; it warns at the first failure of a run, then every
// storeWarnEvery.
func (c *NATSConsumer) storeFailed(spans []msgSpan, cause error) (pause time.Duration) {
	b := &c.storeFail
	now := time.Now()
	b.fails++
	if b.fails == 1 {
		b.since = now
	}
	pause = c.storePause()
	switch {
	case b.fails == 1:
		b.warned = now
		c.logger.Warn("store batch; the messages are held and appended again, and the pull pauses until the store takes a batch again (retries back off up to "+
			fmt.Sprint(c.storePauseCeiling())+")",
			"messages", len(spans), "retry_in", pause, "err", cause)
	case now.Sub(b.warned) >= storeWarnEvery:
		b.warned = now
		c.logger.Warn("store batch still failing; the pull stays paused", "failed_commits", b.fails, "since", b.since.Format(time.RFC3339), "retry_in", pause, "err", cause)
	default:
		c.logger.Debug("store batch; the messages are held and appended again", "messages", len(spans), "failed_commits", b.fails, "retry_in", pause, "err", cause)
	}
	c.backoff.Set(pause.Seconds())
	c.backoffs.Inc()
	return pause
}

// holdFor pauses for d while keeping the messages of spans from being
// redelivered: it marks them in progress (which restarts their AckWait)
// at its start and end, and every half AckWait in between when d is
// longer (a NakDelay above half the AckWait). It reports false when hold
// ends first.
func (c *NATSConsumer) holdFor(hold context.Context, spans []msgSpan, d time.Duration) bool {
	end := time.Now().Add(d)
	for {
		c.inProgress(spans)
		wait := time.Until(end)
		if wait <= 0 {
			return true
		}
		if !sleep(hold, min(wait, c.opts.AckWait/2)) {
			return false
		}
	}
}

// inProgress marks the messages of spans in progress. A mark lost only
// risks a redelivery, which the store skips as a duplicate.
func (c *NATSConsumer) inProgress(spans []msgSpan) {
	for _, sp := range spans {
		if sp.done {
			continue // terminated already
		}
		if err := sp.msg.InProgress(); err != nil {
			c.logger.Debug("mark in progress", "seq", sp.seq, "err", err)
		}
	}
}

// storeRecovered ends a run of failed commits, if any, saying so.
func (c *NATSConsumer) storeRecovered() {
	b := &c.storeFail
	if b.fails == 0 {
		return
	}
	c.logger.Info("store batch stored again; the pull resumes", "failed_commits", b.fails, "paused_for", time.Since(b.since).Round(time.Millisecond))
	*b = storeBackoff{}
	c.backoff.Set(0)
}

// dropScratch drops the scratch of the stages in free (those not being
// decoded or committed).
func (c *NATSConsumer) dropScratch(free chan *stage) {
	var got []*stage
	for {
		select {
		case st := <-free:
			st.res = decode.Result{}
			st.spans, st.batches = nil, nil
			got = append(got, st)
			continue
		default:
		}
		break
	}
	for _, st := range got {
		free <- st
	}
	c.msgs = nil
}

// shrinkBelow is the scratch capacity (samples) a stage keeps regardless
// of use; above it a stage that used less than a quarter of its capacity
// drops it, so a burst's buffers do not stay resident once traffic is
// back to normal.
const shrinkBelow = 1 << 16

func (st *stage) shrink() {
	if c := cap(st.res.Samples); c > shrinkBelow && len(st.res.Samples) < c/4 {
		st.res.Samples = nil
	}
	if c := cap(st.res.Events); c > shrinkBelow/16 && len(st.res.Events) < c/4 {
		st.res.Events = nil
	}
}

// ackAll acknowledges spans, whose batches are stored, and counts the
// samples and events of those this Append stored: batches[i] for i in
// stored (the others were stored before, and counted then).
func (c *NATSConsumer) ackAll(spans []msgSpan, batches []telemetry.Batch, stored []int) {
	acked := 0
	for _, sp := range spans {
		if sp.done {
			continue
		}
		if err := sp.msg.Ack(); err != nil {
			// The batch is stored; a redelivery is deduplicated by Seq.
			c.logger.Warn("ack", "seq", sp.seq, "err", err)
		}
		acked++
	}
	ns, ne := 0, 0
	for _, i := range stored {
		ns += len(batches[i].Samples)
		ne += len(batches[i].Events)
	}
	c.messages.WithLabelValues(c.opts.Durable, "acked").Add(float64(acked))
	// The stable name, not the Source: one label value per consumer,
	// whatever incarnation of the stream it reads.
	c.m.samples.WithLabelValues(c.name).Add(float64(ns))
	c.m.events.WithLabelValues(c.name).Add(float64(ne))
}

// countErrors counts a message's decode errors in omen_ingest_errors_total,
// except its string fields: influx string fields are left out by design,
// so they are counted in omen_ingest_ignored_samples_total{kind="string_field"}
// and do not fire the OmenIngestErrors alert.
func (c *NATSConsumer) countErrors(errs []decode.Error) {
	strs := 0
	for _, e := range errs {
		if e.Reason == decode.ReasonStringField {
			strs++
			continue
		}
		c.m.errors.WithLabelValues(e.Reason).Inc()
	}
	if strs > 0 {
		c.m.ignored.WithLabelValues(c.name, decode.ReasonStringField).Add(float64(strs))
	}
}

// nakAll nacks spans, to be redelivered after delay.
func (c *NATSConsumer) nakAll(spans []msgSpan, delay time.Duration) {
	n := 0
	for _, sp := range spans {
		if sp.done {
			continue // terminated already
		}
		if err := sp.msg.NakWithDelay(delay); err != nil {
			c.logger.Warn("nak", "seq", sp.seq, "err", err)
		}
		n++
	}
	c.messages.WithLabelValues(c.opts.Durable, "nacked").Add(float64(n))
}

// deadLetter publishes msg to the dead-letter subject, waits for the
// dead-letter stream to store it, then terminates it, and reports true.
// When the publish fails the message is nacked instead, so nothing is
// lost, and it reports false; so it is, without a publish, while the
// delay of the last failed publish runs (see dlqHeldOff).
func (c *NATSConsumer) deadLetter(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, reason string, cause error) bool {
	dl := nats.NewMsg(c.opts.DLQSubject)
	dl.Data = msg.Data()
	for k, vs := range msg.Headers() {
		// Not copied: the original's id, if any, is its publisher's (the
		// dead letter's names the original message, see deadLetterID),
		// and its publish expectations (Nats-Expected-Stream: OMEN, …,
		// which JetStream keeps on the stored message) are for the
		// original's stream: OMEN_DLQ refused the dead letter for them,
		// and the message was redelivered for good.
		if k == nats.MsgIdHdr || strings.HasPrefix(k, expectedHeaderPrefix) {
			continue
		}
		for _, v := range vs {
			dl.Header.Add(k, v)
		}
	}
	if id := deadLetterID(c.Source(), meta); id != "" {
		dl.Header.Set(nats.MsgIdHdr, id)
	}
	text := cause.Error()
	if len(text) > 1024 {
		text = text[:1024]
	}
	dl.Header.Set(HeaderDLQReason, reason)
	dl.Header.Set(HeaderDLQError, text)
	dl.Header.Set(HeaderDLQSubject, msg.Subject())
	dl.Header.Set(HeaderDLQConsumer, c.opts.Durable)
	if meta != nil {
		dl.Header.Set(HeaderDLQStream, meta.Stream)
		dl.Header.Set(HeaderDLQSequence, strconv.FormatUint(meta.Sequence.Stream, 10))
	}
	seq := uint64(0)
	if meta != nil {
		seq = meta.Sequence.Stream
	}
	notStored := func(delay time.Duration) bool {
		c.m.errors.WithLabelValues(ReasonDeadLetterFailed).Inc()
		_ = msg.NakWithDelay(delay)
		c.messages.WithLabelValues(c.opts.Durable, "nacked").Inc()
		return false
	}
	if delay, ok := c.dlqHeldOff(time.Now()); ok {
		c.logger.Debug("dead-letter publishes failing; the message is nacked without a publish of its own", "subject", c.opts.DLQSubject,
			"retry_in", delay, "message_subject", msg.Subject(), "seq", seq, "reason", reason)
		return notStored(delay)
	}
	if err := c.publishDeadLetter(ctx, dl); err != nil {
		return notStored(c.dlqFailed(err, msg.Subject(), seq, reason))
	}
	c.dlqRecovered()
	// Logged once stored: a failed publish is no dead letter (dlqFailed
	// warns about those), and each of its retries counted as one.
	c.deadLog.note(time.Now(), msg.Subject(), reason, seq, 0, text)
	c.m.errors.WithLabelValues(ReasonDeadLetter).Inc()
	// Plain Term: nats-server 2.9 (Debian) ignores "+TERM <reason>"; the
	// reason travels in the dead letter's headers instead.
	if err := msg.Term(); err != nil {
		c.logger.Warn("term", "seq", seq, "err", err)
	}
	c.messages.WithLabelValues(c.opts.Durable, "dead_letter").Inc()
	return true
}

// expectedHeaderPrefix starts the names of JetStream's publish
// expectations (Nats-Expected-Stream, Nats-Expected-Last-Sequence,
// Nats-Expected-Last-Subject-Sequence, Nats-Expected-Last-Msg-Id).
const expectedHeaderPrefix = "Nats-Expected-"

// deadLetterID returns the Nats-Msg-Id of the dead letter of the message
// meta describes, consumed in batches of source: source (the stream, the
// durable and the stream's creation time, see sourceName), "#" and the
// message's stream sequence. It is the same for every publish of one
// original message, so the dead-letter stream, within its duplicate
// window (see dlqDuplicates), stores the dead letter once: a PubAck lost
// after the stream stored it fails the publish, the message is nacked,
// and its redelivery publishes it again. The same holds for a
// Term lost after the publish: the message is redelivered after the
// AckWait.
//
// A message dead-lettered again later by the same durable (a recreated
// durable consumer replays the stream, and the store keeps no marker of
// its dead letter, see SeenChecker) is the same original message,
// rejected again: within the window it is dropped as well, as its dead
// letter is there already. Beyond the window JetStream no longer remembers the id,
// and it is stored a second time, with the same Omen-Dlq-Stream and
// Omen-Dlq-Sequence headers. The creation time keeps a stream deleted and
// created anew, which numbers its messages from 1 again, from having its
// dead letters taken for the old stream's; the durable keeps apart the
// dead letters of two consumers that both read a message (partitions read
// disjoint subjects, so each of their messages has one).
//
// Without metadata (no JetStream message) or a source (before Setup) the
// original cannot be named, and it returns "": the dead letter gets no id
// and is not deduplicated.
func deadLetterID(source string, meta *jetstream.MsgMetadata) string {
	if meta == nil || source == "" {
		return ""
	}
	return source + "#" + strconv.FormatUint(meta.Sequence.Stream, 10)
}

// dlqPublishTimeout bounds one publish of a dead letter (its PubAck).
const dlqPublishTimeout = 5 * time.Second

// publishDeadLetter publishes dl and waits for the dead-letter stream to
// store it. When no stream captures the subject (the dead-letter stream
// was deleted while omen runs), it creates the stream again, as Setup
// does, streamRecreateDelay later (created at once, it could lose its
// files to the old one's deletion and then acknowledge no dead letter),
// and publishes once more. The message waits meanwhile; when ctx is done
// first, the error is returned and the message is nacked.
func (c *NATSConsumer) publishDeadLetter(ctx context.Context, dl *nats.Msg) error {
	publish := func() error {
		pctx, cancel := context.WithTimeout(ctx, dlqPublishTimeout)
		defer cancel()
		_, err := c.js.PublishMsg(pctx, dl)
		return err
	}
	err := publish()
	if err == nil || ctx.Err() != nil || !dlqMissing(err) {
		return err
	}
	c.logger.Warn("dead-letter stream is missing (deleted while omen runs?); creating it again", "stream", c.opts.DLQStream,
		"subject", c.opts.DLQSubject, "err", err, "in", streamRecreateDelay)
	if !awaitStreamDeletion(ctx) {
		return fmt.Errorf("%w; creating the dead-letter stream %q again: %w", err, c.opts.DLQStream, ctx.Err())
	}
	if cerr := c.ensureDLQStream(ctx); cerr != nil {
		return fmt.Errorf("%w; creating the dead-letter stream %q again: %w", err, c.opts.DLQStream, cerr)
	}
	return publish()
}

// dlqMissing reports whether a publish error says that no stream captures
// the subject.
func dlqMissing(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, nats.ErrNoResponders)
}

// dlqFailed records a failed dead-letter publish of the message seq of
// subject, poison for reason, and returns the delay of its redelivery:
// NakDelay, doubled with each further failure in a row up to
// maxStorePause. It warns at the first failure of a run, then every
// storeWarnEvery, naming the message of that failure.
func (c *NATSConsumer) dlqFailed(cause error, subject string, seq uint64, reason string) time.Duration {
	f := &c.dlqFail
	f.Lock()
	now := time.Now()
	f.fails++
	if f.fails == 1 {
		f.since = now
	}
	delay := f.pause(c.opts.NakDelay, c.dlqDelayCeiling())
	f.retryAt = now.Add(delay)
	fails, since, warn := f.fails, f.since, f.fails == 1 || now.Sub(f.warned) >= storeWarnEvery
	if warn {
		f.warned = now
	}
	f.Unlock()
	if warn {
		c.logger.Warn("publish to dead-letter subject; the message will be redelivered (retries back off up to "+fmt.Sprint(maxStorePause)+")",
			"subject", c.opts.DLQSubject, "failures", fails, "since", since.Format(time.RFC3339), "retry_in", delay,
			"message_subject", subject, "seq", seq, "reason", reason, "err", cause)
	} else {
		c.logger.Debug("publish to dead-letter subject", "subject", c.opts.DLQSubject, "failures", fails, "retry_in", delay,
			"message_subject", subject, "seq", seq, "reason", reason, "err", cause)
	}
	return delay
}

// dlqDelayCeiling is the longest redelivery delay dlqFailed gives.
func (c *NATSConsumer) dlqDelayCeiling() time.Duration {
	return max(maxStorePause, c.opts.NakDelay)
}

// dlqHeldOff reports whether a run of failed dead-letter publishes is on
// and the delay of its last failure has not passed at now, and returns
// that delay. The poison messages decoded meanwhile are nacked with it
// without a publish of their own, and the first one after it probes the
// dead-letter stream: each publish waits up to dlqPublishTimeout (or
// streamRecreateDelay and the stream's creation), and it does so in the
// decoding loop, so a batch of poison messages publishing one after the
// other while the dead-letter stream did not answer held the batch's
// other messages, and the pipeline behind them, for minutes (FetchBatch
// times 5 s), past their AckWait.
func (c *NATSConsumer) dlqHeldOff(now time.Time) (time.Duration, bool) {
	f := &c.dlqFail
	f.Lock()
	defer f.Unlock()
	if f.fails == 0 || !now.Before(f.retryAt) {
		return 0, false
	}
	return f.pause(c.opts.NakDelay, c.dlqDelayCeiling()), true
}

// dlqRecovered ends a run of failed dead-letter publishes, if any,
// saying so.
func (c *NATSConsumer) dlqRecovered() {
	f := &c.dlqFail
	f.Lock()
	fails, since := f.fails, f.since
	f.fails = 0
	f.Unlock()
	if fails > 0 {
		c.logger.Info("publish to dead-letter subject works again", "subject", c.opts.DLQSubject, "failures", fails, "failing_for", time.Since(since).Round(time.Millisecond))
	}
}

func (c *NATSConsumer) countDecodeErr(err error) {
	c.m.errors.WithLabelValues(reasonOf(err, ReasonUndecodable)).Inc()
}

func reasonOf(err error, def string) string {
	if e, ok := decode.AsError(err); ok && e.Reason != "" {
		return e.Reason
	}
	return def
}
