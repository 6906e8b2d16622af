package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/omen-sre/omen/telemetry"
)

// ErrInvalid marks a permanent failure caused by bad data. An Appender
// returns an error wrapping ErrInvalid when retrying the same batches can
// never succeed; sources then reject (HTTP 400) or dead-letter instead of
// retrying. Every other Append error is treated as retryable.
var ErrInvalid = errors.New("invalid data")

// Appender durably stores decoded batches.
//
// Append returns nil only after every batch is committed (fsync'd), so the
// caller may acknowledge upstream. It is safe for concurrent use. It must
// not retain batches, or the slices they point to, after returning: sources
// reuse them. Batches with a non-zero Seq already stored for the same Source
// are skipped (idempotent redelivery). Errors wrapping ErrInvalid are
// permanent (bad data); all others are retryable.
//
// Append honours ctx: when ctx ends before the commit does, it may return
// an error at once while a commit that cannot be interrupted goes on in the
// background. Only then may it keep reading batches after returning, so a
// caller must not reuse the batches' memory when Lent(ctx, err) reports
// true. Batches committed in the background are stored; the caller, having
// seen an error, retries or redelivers them (a duplicate).
type Appender interface {
	Append(ctx context.Context, batches []telemetry.Batch) error
}

// SeenChecker is implemented by an Appender that can tell, before a
// batch is built, whether its (Source, Seq) is stored already, so that it
// would be skipped as a duplicate. The NATS consumer asks it for every
// fetched message before decoding it: a redelivered message already
// stored (an ack lost, a durable consumer recreated, which replays the
// stream) is acknowledged without being decoded, and so can neither be
// counted again nor dead-lettered for having aged past the decoder's time
// window meanwhile.
type SeenChecker interface {
	// Seen reports, for each of seqs, what the Appender knows of a batch
	// of source with that Seq (see telemetry.SeenState). Seq 0 is never seen. An
	// error means the answer is unknown; the caller then decodes as
	// usual.
	Seen(source string, seqs []uint64) ([]telemetry.SeenState, error)
}

// StoredAppender is implemented by an Appender that reports which batches
// an Append stored, the others having been skipped as duplicates, so that
// the sources count in omen_ingested_samples_total and
// omen_ingested_events_total only what was stored.
type StoredAppender interface {
	// AppendStored is Append, returning on success the indexes
	// (ascending) of the batches this call stored.
	AppendStored(ctx context.Context, batches []telemetry.Batch) (stored []int, err error)
}

// Lent reports whether an Appender may still be reading the batches of an
// Append(ctx, ...) call that returned err: err is not nil and ctx is done.
// The caller must then leave the batches' memory (the slices they point
// to) alone, to the garbage collector, instead of reusing it.
func Lent(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil
}

// AppenderFunc adapts a function to the Appender interface.
type AppenderFunc func(ctx context.Context, batches []telemetry.Batch) error

// Append calls f(ctx, batches).
func (f AppenderFunc) Append(ctx context.Context, batches []telemetry.Batch) error {
	return f(ctx, batches)
}

type seqKey struct {
	source string
	seq    uint64
}

// MemAppender is an in-memory Appender for tests. It copies every batch it
// accepts, skips batches whose (Source, Seq) it has already stored when Seq
// is non-zero, and can be told to fail. The zero value is ready to use.
type MemAppender struct {
	mu      sync.Mutex
	seen    map[seqKey]struct{}
	batches []telemetry.Batch
	samples int
	events  int
	dups    int
	calls   int
	failN   int
	failErr error
	// CountOnly, when set before use, makes the appender count samples and
	// events without keeping copies (for benchmarks).
	CountOnly bool
}

// FailNext makes the next n calls to Append return err without storing
// anything.
func (m *MemAppender) FailNext(n int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failN, m.failErr = n, err
}

// Append implements Appender.
func (m *MemAppender) Append(ctx context.Context, batches []telemetry.Batch) error {
	_, err := m.appendStored(ctx, batches)
	return err
}

// appendStored is Append, returning the indexes of the batches stored.
func (m *MemAppender) appendStored(ctx context.Context, batches []telemetry.Batch) ([]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.failN > 0 {
		m.failN--
		return nil, m.failErr
	}
	if m.seen == nil {
		m.seen = make(map[seqKey]struct{})
	}
	var stored []int
	for i := range batches {
		b := &batches[i]
		if b.Seq != 0 {
			k := seqKey{b.Source, b.Seq}
			if _, ok := m.seen[k]; ok {
				m.dups++
				continue
			}
			m.seen[k] = struct{}{}
		}
		stored = append(stored, i)
		m.samples += len(b.Samples)
		m.events += len(b.Events)
		if m.CountOnly {
			continue
		}
		c := telemetry.Batch{Source: b.Source, Seq: b.Seq, Received: b.Received}
		c.Samples = append([]telemetry.Sample(nil), b.Samples...)
		c.Events = append([]telemetry.Event(nil), b.Events...)
		m.batches = append(m.batches, c)
	}
	return stored, nil
}

// Batches returns copies of the stored batches in arrival order.
func (m *MemAppender) Batches() []telemetry.Batch {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]telemetry.Batch(nil), m.batches...)
}

// Samples returns all stored samples in arrival order.
func (m *MemAppender) Samples() []telemetry.Sample {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []telemetry.Sample
	for _, b := range m.batches {
		out = append(out, b.Samples...)
	}
	return out
}

// Events returns all stored events in arrival order.
func (m *MemAppender) Events() []telemetry.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []telemetry.Event
	for _, b := range m.batches {
		out = append(out, b.Events...)
	}
	return out
}

// Counts returns how many samples and events were stored and how many
// batches were skipped as duplicates.
func (m *MemAppender) Counts() (samples, events, duplicates int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.samples, m.events, m.dups
}

// Calls returns how many times Append was called, failures included.
func (m *MemAppender) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}
