// Package store is omen's durable state, kept in Badger
// (github.com/dgraph-io/badger/v4): the ingest log of decoded batches (so a
// restart rebuilds the in-memory PromQL window and nothing acknowledged is
// lost), per-source stream checkpoints, feature vectors and their schema,
// entities, predictions and their explanations, the alerts outbox and alert
// states, and the model registry.
//
// Kubernetes events are not stored as records of their own by the daemon:
// they arrive inside ingest batches and live only in the ingest log, for
// Options.IngestLogRetention. PutEvents and Events (key prefix 'E') store
// and read events per entity for callers that want them kept for
// Options.Retention; the daemon does not call them.
//
// # Contract
//
// A *Store is safe for concurrent use by any number of goroutines. Times are
// milliseconds since the Unix epoch unless a name says otherwise; ranges
// (from, to) are inclusive at both ends. Slices passed in are not retained;
// everything returned or passed to a callback is owned by the receiver.
// Writes are durable (fsync'd) when the method returns, unless
// Options.NoSync; concurrent AppendBatches calls share transactions and
// fsyncs (group commit). Close waits for calls in flight (CloseContext:
// until its context ends, the last call then closing the database); calls
// made once Close has started fail with ErrClosed at once. Errors are
// wrapped with
// context; missing records are reported with errors wrapping ErrNotFound.
// Identifiers embedded in keys (entity, source, target, fingerprint, model
// version) must not contain NUL bytes.
//
// # Key layout
//
// Every key starts with one prefix byte naming the record kind. Names
// (entity ids, sources, targets) inside composite keys end with a 0x00 byte
// so that one name is never a prefix of another's keys. Times in keys are
// int64 ms XOR 1<<63, big-endian ("sortable"), so range scans run in time
// order, negative times included. Integers in keys are big-endian.
//
//	'Z'                                    format version (1 byte, currently 1)
//	'L' | t | local u64                    ingest log: one encoded batch, or a piece of one (below); t = store clock at append (monotonic), local = store sequence
//	'D' | source | 0 | seq u64             dedup index: (source, seq) stored; value = sortable arrival t
//	'C' | source                           checkpoint: highest Seq stored (u64)
//	'F' | source                           dedup floor: highest Seq whose dedup key retention dropped (u64)
//	'S' | version u32                      vector schema (JSON)
//	'V' | entity | 0 | t                   feature vector
//	'N' | entity                           entity info (labels, first/last seen)
//	'E' | entity | 0 | t | hash u64        event (PutEvents; unused by the daemon); hash = FNV-64a(source, reason, uid, message), so redelivery overwrites
//	'P' | entity | 0 | t                   prediction
//	'p' | entity                           the entity's latest prediction
//	'X' | prediction id                    explanation: sortable put time + JSON document
//	'O' | id u64                           outbox item
//	'o' | target | 0 | id u64              outbox item pending for target (empty value)
//	'Q'                                    last outbox id (u64)
//	'A' | fingerprint                      alert state
//	'M' | version                          model metadata (JSON)
//	'm' | version | 0 | chunk u32          model data, 1 MiB chunks
//	'R'                                    registry: generation and promotion history (JSON)
//	'T'                                    step cursor: the last step the evaluator evaluated (version byte, sortable t)
//	'B'                                    when the last successful Backup finished (version byte, sortable t)
//	'I'                                    when the store was created (version byte, sortable t)
//
// # Encodings
//
// Values start with a version byte (1; feature vectors 2). Hot records are
// binary: varints, fixed big- or little-endian floats, strings as uvarint
// length + bytes. A feature vector (version 2) writes each value's 8 bytes
// with its leading and trailing zero bytes dropped behind a tag byte (0 is
// one byte, small integers 2–3), since most Kubernetes features are event
// counts and flags (in `omen bench ingest`, 100,000 series, the store's
// files shrank by 15 MB); version-1 vectors are still read. A prediction
// history record ('P', version 2) leaves out the entity and time its key
// holds (184 → 133 bytes on disk per prediction, BenchmarkDiskPerRecord);
// version-1 history records are still read. The latest-prediction record
// ('p') stays version 1, as its key has no time. The store's format
// version ('Z') is 2 since then: opening a format-1 store upgrades it in
// place (a warning is logged), and an older omen refuses a format-2 store at
// Open ("unsupported store format"): keep a copy to downgrade.
// A batch (see codec.go) writes each distinct label set once (strings equal
// to the previous set's at the same position as one 0 byte) and samples as
// (set index, delta-varint time, value XOR-ed with the previous value of the
// same set with zero bytes trimmed); the body is snappy-compressed when
// larger than 512 bytes. A realistic 1000-sample batch of 100 series with
// 10 labels takes about 7.5 bytes per sample. A batch encoding to more
// than half Options.ValueLogFileSize (Badger refuses a value longer than a
// value-log file) is written as several 'L' records in one transaction,
// each an encoded batch of consecutive samples and events of it with its
// Source, Seq and Received (no format change: any omen replays them, as
// several batches); one sample or event alone that long is refused with
// ErrTooLarge. Schemas, model
// metadata, the registry and explanations are JSON.
//
// # Retention
//
// RunRetention deletes records older than Options.Retention (the ingest log:
// Options.IngestLogRetention) and runs value-log garbage collection; the
// daemon calls it periodically. Schemas and models are kept until deleted
// explicitly. A record that does not decode is counted in
// omen_store_corrupt_records_total, logged and kept; it does not stop the
// other records or steps. Runs are counted in
// omen_store_retention_runs_total{result} and deletes in
// omen_store_retention_deleted_total{kind}. A run stops early when its
// context ends (between steps, every 1024 keys of a step's scan, between
// GC passes), so that it does not hold a shutdown's Close off.
//
// # Backup
//
// Backup writes a backup of the open store (BackupDir: of a store no
// omen holds, opened read-only) to an io.Writer: the newest version of
// every live key as of one Badger read transaction, framed by omen's
// header (magic, format, omen version, time, store format; CRC-32C) and
// trailer (record and byte counts, SHA-256 of everything before it): see
// backup.go. Restore loads one into a new directory (never over a store),
// refusing a file cut short or damaged (ErrBackupInvalid) and leaving
// nothing then; CheckBackup checks one without restoring. A backup holds
// the store only: the embedded NATS server keeps its JetStream data
// beside the store's directory (the storage path's nats directory), not
// in it, and that is not backed up.
//
// A successful Backup records when it finished ('B'), and Open records
// when the store was created ('I': at its first open; a store an older
// omen made gets the time this omen first opened it): they are exported
// from Open on as omen_store_backup_last_success_timestamp_seconds (0:
// none ever) and omen_store_created_timestamp_seconds, so that a restart
// of omen does not start them over. A restored store's last backup is the
// one it came from, at its header's time (its records hold the source's
// previous one); its creation time is the source's, or that time if the
// source had none. BackupDir, read-only, records nothing.
//
// # Disk space
//
// Badger writes its memtable logs, value log and tables through
// memory-mapped files sized ahead of the data without reserving disk
// blocks, so on a full filesystem a write does not fail: the process dies
// of SIGBUS. The store therefore reads the free space of its filesystem
// (statfs; Linux only) at Open, every 2 seconds on a goroutine it owns
// (stopped by Close), and in a write whose last read is over 100 ms old
// (a fast writer fills 100 MB in 2 s), and while it is below Options.DiskReserve (default:
// two value-log files, two memtables and 64 MiB, 352 MiB with the default
// sizes) every write fails with an error wrapping ErrDiskFull and counted
// in omen_store_writes_refused_total{kind} (every kind at 0 from Open);
// reads keep working, and
// writes resume as soon as space is freed. Open fails below the reserve
// (OpenRegistry, which opens a store to manage its model registry, below
// half of it).
// RunRetention, the alert pipeline's small writes (outbox items and
// acknowledgements, alert states: alerts still reach Alertmanager) and the
// model registry's changes (promote, rollback, delete: an operator backs
// out of a bad model or frees space) keep running down to half the
// reserve; model uploads do not. Gauges:
// omen_store_disk_free_bytes, omen_store_disk_reserve_bytes, and
// omen_store_size_bytes{kind} (sst, vlog, mem, other: blocks allocated to
// the store's files, recomputed at most every 30 s). See the Disk section
// of docs/PERFORMANCE.md for sizes per record.
package store
