package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/omen-sre/omen/telemetry"
)

// ErrTooLarge is returned (wrapped) for data that can never be stored
// because one indivisible item of it (a single sample or event of an
// ingest batch) encodes to more than the longest record the store writes
// (see Store.maxRecord). Retrying cannot help: the error is permanent. Its
// message names the size and the limit.
var ErrTooLarge = errors.New("too large to store")

// maxRecord is the longest ingest-log value the store writes: Badger
// refuses a value longer than a value-log file (in memory, longer than the
// value threshold) in any transaction, so a batch that encodes to more is
// stored as several records (see splitRecords). Half the value-log file
// keeps the files near their configured size.
func (s *Store) maxRecord() int {
	n := int(s.opts.ValueLogFileSize / 2)
	if s.opts.InMemory {
		n = min(n, s.valueThreshold)
	}
	return n
}

// ingestState orders and deduplicates appends. Its mutex is held while a
// call checks for duplicates, assigns log keys and hands its transactions
// to Badger (CommitWith), but not while they are fsync'd, so concurrent
// callers share fsyncs (group commit) while commits stay in call order.
type ingestState struct {
	mu        sync.Mutex
	lastT     int64  // arrival time of the newest log key, ms
	nextLocal uint64 // next local sequence number in log keys
	cp        map[string]uint64
	floor     map[string]uint64
	inflight  map[dedupID]*commitWait
}

type dedupID struct {
	source string
	seq    uint64
}

type commitWait struct {
	done chan struct{}
	err  error
}

func newCommitWait() *commitWait { return &commitWait{done: make(chan struct{})} }

func (w *commitWait) wait() error {
	<-w.done
	return w.err
}

func (g *ingestState) load(db *badger.DB) error {
	g.cp = make(map[string]uint64)
	g.floor = make(map[string]uint64)
	g.inflight = make(map[dedupID]*commitWait)
	return db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte{pLog}})
		defer it.Close()
		seek := []byte{pLog, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		it.Seek(seek)
		if !it.Valid() {
			return nil
		}
		t, local, ok := parseLogKey(it.Item().Key())
		if !ok {
			return fmt.Errorf("malformed ingest log key %x", it.Item().Key())
		}
		g.lastT, g.nextLocal = t, local+1
		return nil
	})
}

// logKey is pLog | sortable(arrival ms) | local sequence.
func logKey(t int64, local uint64) []byte {
	k := make([]byte, 0, 17)
	k = append(k, pLog)
	k = appendTime(k, t)
	return binary.BigEndian.AppendUint64(k, local)
}

func parseLogKey(k []byte) (t int64, local uint64, ok bool) {
	if len(k) != 17 || k[0] != pLog {
		return 0, 0, false
	}
	return unsortable(binary.BigEndian.Uint64(k[1:])), binary.BigEndian.Uint64(k[9:]), true
}

func dedupKey(source string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(namePrefix(pDedup, source), seq)
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func readU64(item *badger.Item) (uint64, error) {
	var out uint64
	err := item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("key %q: value of %d bytes, want 8", item.Key(), len(v))
		}
		out = binary.BigEndian.Uint64(v)
		return nil
	})
	return out, err
}

// getU64 reads an 8-byte big-endian value; a missing key reads as 0.
func getU64(txn *badger.Txn, key []byte) (uint64, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return readU64(item)
}

// AppendBatches durably appends bs to the ingest log and returns how many
// were stored. A batch with Seq != 0 whose (Source, Seq) is already stored
// (or is at or below the source's retention floor, see RunRetention) is
// skipped as a duplicate, as is a repeat within bs. Batches are keyed by the
// store's clock at the call (made monotonic), which is the time
// ReplayBatches' since and IngestLogRetention refer to; Received is kept as
// given.
//
// All batches of one call are written in one transaction together with the
// per-source checkpoints (highest Seq stored); a call too big for one
// Badger transaction is split into several, committed in order. A batch
// that encodes to more than the longest record the store writes (half
// Options.ValueLogFileSize) is stored as several records, each holding
// consecutive samples and events of it with its Source, Seq and Received,
// all in one transaction: ReplayBatches hands them back as several
// batches. A call holding a batch that cannot be split so (one sample or
// event alone is too long) is refused before anything is written, with an
// error wrapping ErrTooLarge; other calls are unaffected. The call
// returns after the data is fsync'd (unless Options.NoSync), so a caller may
// acknowledge the batches upstream once err is nil. On error some of the
// transactions may have been committed (stored counts them); retrying the
// call is safe for batches with Seq != 0. A duplicate that another call is
// still committing makes this call wait for (and fail with) that commit.
// The failure of a transaction packing parts of several calls together
// fails none of them: each part is then committed alone.
//
// Safe for concurrent use; concurrent calls share fsyncs. bs is not
// retained.
func (s *Store) AppendBatches(bs []telemetry.Batch) (stored int, err error) {
	keep, err := s.AppendNew(bs)
	return len(keep), err
}

// AppendNew is AppendBatches returning the indexes (ascending) of the
// batches of bs that this call stored, so that the caller can apply exactly
// those (and not the duplicates) to its in-memory state. On error the
// returned indexes are the batches that were committed nonetheless.
func (s *Store) AppendNew(bs []telemetry.Batch) (storedIdx []int, err error) {
	if err := s.enterWrite("batch"); err != nil {
		return nil, err
	}
	defer s.exit()
	if len(bs) == 0 {
		return nil, nil
	}
	start := time.Now()
	for i := range bs {
		if bs[i].Seq != 0 {
			if err := validName("batch source", bs[i].Source); err != nil {
				return nil, fmt.Errorf("append batches: %w", err)
			}
		}
	}
	vals := s.encodeAll(bs)
	split, tooLarge := s.splitLarge(bs, vals)

	g := &s.ing
	g.mu.Lock()
	keep, waits, err := s.dedup(bs)
	if err != nil {
		g.mu.Unlock()
		return nil, fmt.Errorf("append batches: check duplicates: %w", err)
	}
	for _, i := range keep {
		if err := tooLarge[i]; err != nil {
			// Refused before any part is queued, so that the calls
			// whose parts would have shared a transaction are unaffected.
			g.mu.Unlock()
			return nil, fmt.Errorf("append batches: batch %d of %d (source %q, seq %d): %w", i, len(bs), bs[i].Source, bs[i].Seq, err)
		}
	}
	dups := len(bs) - len(keep)
	if s.testAfterDedup != nil {
		s.testAfterDedup(len(waits))
	}
	var parts []*part
	if len(keep) > 0 {
		// Parts fit in half a Badger transaction, so the group committer
		// can pack parts of concurrent calls together.
		maxSize, maxCount := s.db.MaxBatchSize()/2, s.db.MaxBatchCount()/2
		now := s.opts.Now().UnixMilli()
		if now < g.lastT {
			now = g.lastT
		}
		g.lastT = now
		cur := &part{w: newCommitWait()}
		curMax := make(map[string]uint64)
		finish := func() {
			for src, m := range curMax {
				if m > g.cp[src] {
					g.cp[src] = m
				}
				cur.add(kv{nameKey(pCheckpoint, src), u64(g.cp[src])}, 64)
				cur.srcs = append(cur.srcs, src)
			}
			clear(curMax)
			parts = append(parts, cur)
			cur = &part{w: newCommitWait()}
		}
		// A log record's cost: its 17-byte key, entry overhead, value.
		recCost := func(v []byte) int64 { return 17 + 32 + s.valueCost(len(v)) }
		for _, i := range keep {
			b := &bs[i]
			// A batch's records (several when split) and its dedup key
			// go into one part, so they are committed together.
			recs := vals[i : i+1]
			if r, ok := split[i]; ok {
				recs = r
			}
			var est int64
			for _, v := range recs {
				est += recCost(v)
			}
			var dk []byte
			var dkEst int64
			if b.Seq != 0 {
				dk = dedupKey(b.Source, b.Seq)
				dkEst = int64(len(dk)) + 48 + int64(len(b.Source)) + 64
			}
			if cur.count > 0 && (cur.size+est+dkEst > maxSize || cur.count+int64(len(recs))+2 > maxCount) {
				finish()
			}
			for _, v := range recs {
				lk := logKey(now, g.nextLocal)
				g.nextLocal++
				cur.add(kv{lk, v}, recCost(v))
			}
			if dk != nil {
				cur.add(kv{dk, u64(sortable(now))}, dkEst)
				id := dedupID{b.Source, b.Seq}
				g.inflight[id] = cur.w
				cur.ids = append(cur.ids, id)
				if b.Seq > curMax[b.Source] {
					curMax[b.Source] = b.Seq
				}
			}
			cur.count++ // the checkpoint entry
			cur.idx = append(cur.idx, i)
		}
		finish()
		s.gc.enqueue(parts)
	}
	g.mu.Unlock()
	s.gc.run(s.commitParts)

	var firstErr error
	for _, p := range parts {
		if err := p.w.wait(); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		storedIdx = append(storedIdx, p.idx...)
	}
	for _, w := range waits {
		if err := w.wait(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("duplicate of a batch whose commit failed: %w", err)
		}
	}
	g.mu.Lock()
	for _, p := range parts {
		for _, id := range p.ids {
			if g.inflight[id] == p.w {
				delete(g.inflight, id)
			}
		}
		if p.w.err != nil {
			// The cached checkpoint may be ahead of what is durable: reload.
			for _, src := range p.srcs {
				delete(g.cp, src)
			}
		}
	}
	g.mu.Unlock()

	if dups > 0 {
		s.m.dups.Add(float64(dups))
	}
	s.observe("batch", len(storedIdx), start)
	if firstErr != nil {
		return storedIdx, fmt.Errorf("append batches: commit: %w", firstErr)
	}
	return storedIdx, nil
}

// part is a slice of one AppendBatches call that fits in half a Badger
// transaction: log entries, dedup keys and checkpoints.
type part struct {
	w           *commitWait
	entries     []kv
	size, count int64
	idx         []int // indexes into the caller's batches
	ids         []dedupID
	srcs        []string
}

func (p *part) add(e kv, est int64) {
	p.entries = append(p.entries, e)
	p.size += est
	p.count++
}

// groupCommitter commits the parts of concurrent AppendBatches calls
// together, leader/follower style: whichever caller finds no commit running
// becomes the leader and commits everything queued, in queue order, until
// the queue is empty; the others just wait for their parts. Badger fsyncs
// once per transaction, so this turns N concurrent calls into about one
// fsync per group (Badger's own grouping fsyncs its WAL once per request).
type groupCommitter struct {
	mu      sync.Mutex
	queue   []*part
	leading bool
}

// enqueue adds parts; callers hold the ingest lock, so queue order is
// dedup/key-assignment order.
func (gc *groupCommitter) enqueue(parts []*part) {
	gc.mu.Lock()
	gc.queue = append(gc.queue, parts...)
	gc.mu.Unlock()
}

func (gc *groupCommitter) run(commit func([]*part)) {
	gc.mu.Lock()
	for !gc.leading && len(gc.queue) > 0 {
		gc.leading = true
		q := gc.queue
		gc.queue = nil
		gc.mu.Unlock()
		commit(q)
		gc.mu.Lock()
		gc.leading = false
	}
	gc.mu.Unlock()
}

// commitParts writes q in as few transactions as fit, committed in order,
// and completes every part's commitWait. Badger fsyncs each commit (unless
// NoSync).
func (s *Store) commitParts(q []*part) {
	maxSize, maxCount := s.db.MaxBatchSize()-(1<<10), s.db.MaxBatchCount()-8
	for len(q) > 0 {
		var size, count int64
		n := 0
		for n < len(q) && (n == 0 || (size+q[n].size <= maxSize && count+q[n].count <= maxCount)) {
			size += q[n].size
			count += q[n].count
			n++
		}
		group := q[:n]
		q = q[n:]
		err := s.commitGroup(group)
		if err == nil {
			s.m.commits.Inc()
		}
		if err != nil && len(group) > 1 {
			// One part's failure must not fail the parts of other calls
			// packed with it: commit each alone, in order. (A failed
			// Badger commit wrote nothing visible; the keys are the same.)
			for _, p := range group {
				p.w.err = s.commitGroup([]*part{p})
				if p.w.err == nil {
					s.m.commits.Inc()
				}
				close(p.w.done)
			}
			continue
		}
		for _, p := range group {
			p.w.err = err
			close(p.w.done)
		}
	}
}

func (s *Store) commitGroup(group []*part) error {
	if s.testCommitHook != nil {
		if err := s.testCommitHook(group); err != nil {
			return err
		}
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, p := range group {
		for _, e := range p.entries {
			if err := txn.Set(e.k, e.v); err != nil {
				return firstLine{err}
			}
		}
	}
	if err := txn.Commit(); err != nil {
		return firstLine{err}
	}
	return nil
}

// firstLine is err with only the first line of its text: Badger appends a
// hex dump of the offending key or value to some errors (a kilobyte of
// it), which must reach neither clients nor logs.
type firstLine struct{ err error }

func (e firstLine) Error() string {
	msg := e.err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = strings.TrimSuffix(strings.TrimSpace(msg[:i]), ":") + " (dump omitted)"
	}
	return msg
}

func (e firstLine) Unwrap() error { return e.err }

// valueCost mirrors Badger's transaction size estimate: values above the
// value threshold cost a pointer.
func (s *Store) valueCost(n int) int64 {
	if n >= s.valueThreshold && !s.opts.InMemory {
		return 12
	}
	return int64(n)
}

// dedup returns the indexes of bs to store and the in-flight commits of
// duplicates. Called with s.ing.mu held; it loads checkpoint and floor
// caches for the sources it sees.
func (s *Store) dedup(bs []telemetry.Batch) (keep []int, waits []*commitWait, err error) {
	g := &s.ing
	keep = make([]int, 0, len(bs))
	seen := make(map[dedupID]struct{})
	err = s.db.View(func(txn *badger.Txn) error {
		for i := range bs {
			b := &bs[i]
			if b.Seq == 0 {
				keep = append(keep, i)
				continue
			}
			if _, ok := g.cp[b.Source]; !ok {
				cp, err := getU64(txn, nameKey(pCheckpoint, b.Source))
				if err != nil {
					return err
				}
				fl, err := getU64(txn, nameKey(pFloor, b.Source))
				if err != nil {
					return err
				}
				g.cp[b.Source], g.floor[b.Source] = cp, fl
			}
			id := dedupID{b.Source, b.Seq}
			if _, ok := seen[id]; ok {
				continue
			}
			seen[id] = struct{}{}
			if w := g.inflight[id]; w != nil {
				waits = append(waits, w)
				continue
			}
			if b.Seq <= g.floor[b.Source] {
				continue
			}
			_, err := txn.Get(dedupKey(b.Source, b.Seq))
			if err == nil {
				continue
			}
			if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			keep = append(keep, i)
		}
		return nil
	})
	return keep, waits, err
}

// Seen reports, for each of seqs, whether AppendNew would skip a batch of
// source with that Seq as a duplicate, and why: its (source, Seq) is
// stored (telemetry.SeenStored), or it is at or below the source's retention floor
// without being stored (telemetry.SeenBelowFloor). Seq 0 is never seen, nor is one
// that a call still in flight is committing (that call may fail). It lets
// a source skip decoding a redelivered message whose batch is stored
// already.
func (s *Store) Seen(source string, seqs []uint64) ([]telemetry.SeenState, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	out := make([]telemetry.SeenState, len(seqs))
	// The ingest lock only for the cached floor: the lookups run beside
	// the appends (a batch committed meanwhile reads as not seen, which
	// only costs decoding it).
	g := &s.ing
	g.mu.Lock()
	_, cached := g.cp[source]
	floor := g.floor[source]
	g.mu.Unlock()
	err := s.db.View(func(txn *badger.Txn) error {
		if !cached {
			fl, err := getU64(txn, nameKey(pFloor, source))
			if err != nil {
				return err
			}
			floor = fl
		}
		for i, seq := range seqs {
			if seq == 0 {
				continue
			}
			_, err := txn.Get(dedupKey(source, seq))
			switch {
			case err == nil:
				out[i] = telemetry.SeenStored
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			case seq <= floor:
				out[i] = telemetry.SeenBelowFloor
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look up stored batches of %q: %w", source, err)
	}
	return out, nil
}

// ReplayBatches calls fn for every batch in the ingest log that arrived at
// or after since (ms, the store's clock at AppendBatches), in arrival order,
// from a consistent snapshot. fn owns the batch it is given. An error from
// fn stops the replay and is returned wrapped. A record that does not
// decode (corruption) is logged, counted in
// omen_store_corrupt_records_total and skipped, so that one bad record
// cannot keep the daemon from starting.
func (s *Store) ReplayBatches(since int64, fn func(telemetry.Batch) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 32, Prefix: []byte{pLog}})
		defer it.Close()
		for it.Seek(appendTime([]byte{pLog}, since)); it.Valid(); it.Next() {
			item := it.Item()
			var b telemetry.Batch
			var decErr error
			if err := item.Value(func(v []byte) error {
				b, decErr = decodeBatch(v)
				return nil
			}); err != nil {
				return fmt.Errorf("read batch %x: %w", item.Key(), err)
			}
			if decErr != nil {
				s.m.corrupt.Inc()
				s.logger.Error("skipping undecodable ingest-log batch", "key", fmt.Sprintf("%x", item.Key()), "err", decErr)
				continue
			}
			if err := fn(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replay batches since %d: %w", since, err)
	}
	return nil
}

// Checkpoint returns the highest Seq durably stored for source, or 0 if
// none.
func (s *Store) Checkpoint(source string) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.exit()
	var cp uint64
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		cp, err = getU64(txn, nameKey(pCheckpoint, source))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read checkpoint of %q: %w", source, err)
	}
	return cp, nil
}

// deleteKeys deletes keys in as few transactions as Badger allows.
func (s *Store) deleteKeys(keys [][]byte) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return 0, err
		}
	}
	if err := wb.Flush(); err != nil {
		return 0, err
	}
	return len(keys), nil
}

// splitLarge splits the batches of bs whose encoding (vals[i]) is longer
// than s.maxRecord() into several records (split[i], vals[i] dropped), or
// reports why it cannot (tooLarge[i], wrapping ErrTooLarge). Both maps are
// nil when no batch is that long, as is the rule.
func (s *Store) splitLarge(bs []telemetry.Batch, vals [][]byte) (split map[int][][]byte, tooLarge map[int]error) {
	limit := s.maxRecord()
	compress := !s.opts.DisableIngestCompression
	for i, v := range vals {
		if len(v) <= limit {
			continue
		}
		recs, err := splitRecords(&bs[i], len(v), limit, compress)
		if err == nil {
			err = s.fitsOneTxn(recs)
		}
		if err != nil {
			if tooLarge == nil {
				tooLarge = make(map[int]error)
			}
			tooLarge[i] = err
			continue
		}
		if split == nil {
			split = make(map[int][][]byte)
		}
		split[i] = recs
		vals[i] = nil
	}
	return split, tooLarge
}

// fitsOneTxn fails with an error wrapping ErrTooLarge when the records
// of one split batch cannot be committed in one Badger transaction (with
// room to spare for the batch's other keys): an in-memory store keeps
// the values in the transaction (on disk they go to the value log, and
// each record costs its key and a value pointer).
func (s *Store) fitsOneTxn(recs [][]byte) error {
	size := int64(0)
	for _, r := range recs {
		size += 64 // key, value pointer or meta
		if s.opts.InMemory {
			size += int64(len(r))
		}
	}
	if maxSize, maxCount := s.db.MaxBatchSize()-(64<<10), s.db.MaxBatchCount()-16; size > maxSize || int64(len(recs)) > maxCount {
		return fmt.Errorf("%w: a batch split into %d records of %d bytes in all, above what one transaction holds (%d bytes, %d entries)", ErrTooLarge, len(recs), size, maxSize, maxCount)
	}
	return nil
}

// splitRecords encodes b, whose whole encoding is size bytes (more than
// limit), as records of at most limit bytes each: b's samples, then its
// events, cut into consecutive pieces that keep b's Source, Seq and
// Received. It fails with an error wrapping ErrTooLarge when a single
// sample or event encodes to more than limit.
func splitRecords(b *telemetry.Batch, size, limit int, compress bool) ([][]byte, error) {
	n := b.Len()
	if n <= 1 {
		what := "sample"
		if len(b.Events) > 0 {
			what = "event"
		}
		return nil, fmt.Errorf("%w: one %s encodes to %d bytes, above the store's record limit of %d bytes (half the value-log file size)", ErrTooLarge, what, size, limit)
	}
	// Aim at three quarters of the limit, so that most pieces fit at once.
	k := min(n, max(2, (size+limit*3/4-1)/(limit*3/4)))
	ns := len(b.Samples)
	var recs [][]byte
	for j := range k {
		lo, hi := j*n/k, (j+1)*n/k
		piece := telemetry.Batch{Source: b.Source, Seq: b.Seq, Received: b.Received}
		if lo < ns {
			piece.Samples = b.Samples[lo:min(hi, ns)]
		}
		if hi > ns {
			piece.Events = b.Events[max(lo-ns, 0) : hi-ns]
		}
		v := encodeBatch(nil, &piece, compress)
		if len(v) <= limit {
			recs = append(recs, v)
			continue
		}
		sub, err := splitRecords(&piece, len(v), limit, compress)
		if err != nil {
			return nil, err
		}
		recs = append(recs, sub...)
	}
	return recs, nil
}

// parallelEncodeMin is the number of samples and events of a call above
// which its batches are encoded on several goroutines.
const parallelEncodeMin = 8192

// encodeAll encodes bs, on up to GOMAXPROCS goroutines when the call is
// large: the caller (a source's commit stage) waits for the store, so
// encoding in parallel takes the encoding off its critical path.
func (s *Store) encodeAll(bs []telemetry.Batch) [][]byte {
	vals := make([][]byte, len(bs))
	compress := !s.opts.DisableIngestCompression
	n := 0
	for i := range bs {
		n += bs[i].Len()
	}
	workers := min(runtime.GOMAXPROCS(0), len(bs))
	if n < parallelEncodeMin || workers < 2 {
		for i := range bs {
			vals[i] = encodeBatch(nil, &bs[i], compress)
		}
		return vals
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bs) {
					return
				}
				vals[i] = encodeBatch(nil, &bs[i], compress)
			}
		})
	}
	wg.Wait()
	return vals
}
