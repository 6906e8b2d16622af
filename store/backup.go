package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/ristretto/v2/z"
	"github.com/prometheus/common/version"
	"google.golang.org/protobuf/proto"

	"github.com/omen-sre/omen/internal/atomicfile"
)

// A backup file (Backup, BackupDir; read by Restore and CheckBackup) is
// omen's frame around Badger's backup stream:
//
//	magic                "OMENBKUP" (8 bytes)
//	format version       uint16 big-endian (BackupFormat)
//	header length n      uint32 big-endian (at most 64 KiB)
//	header               n bytes of JSON (BackupHeader)
//	header checksum      CRC-32C of the above, uint32 big-endian
//	body                 Badger's backup stream, as DB.Load reads it: lists of
//	                     records, each a uint64 little-endian length and a
//	                     protobuf pb.KVList (at most backupMaxList bytes)
//	end mark             uint64 little-endian 2^64-1 (no list is that long)
//	trailer              records uint64, body bytes uint64 (big-endian), and
//	                     the SHA-256 of everything before it (magic to the
//	                     trailer's counts)
//
// and nothing after it. A file cut short has no end mark; a changed byte
// fails the header's checksum or the SHA-256.
const (
	// BackupFormat is the backup file format version this omen writes
	// and reads.
	BackupFormat = 1
	// backupMagic starts every backup file.
	backupMagic = "OMENBKUP"
	// backupMaxHeader bounds the header's JSON.
	backupMaxHeader = 64 << 10
	// backupListTarget is the size at which Backup starts a new list.
	backupListTarget = 4 << 20
	// backupMaxList bounds a list's length when reading: a list holds
	// records up to backupListTarget, and one record over it alone (a
	// value is shorter than a value-log file, at most 2 GiB).
	backupMaxList = backupListTarget + 2<<30
	// backupEndMark is the end mark's length field.
	backupEndMark = ^uint64(0)
	// backupTrailerSize is the trailer's size after the end mark.
	backupTrailerSize = 8 + 8 + sha256.Size
)

// ErrBackupInvalid is returned (wrapped) by Restore and CheckBackup for
// a file that is not an intact omen backup: not one at all (another
// magic), of a format this omen does not read, cut short, or damaged
// (a checksum that does not match). The error says which.
var ErrBackupInvalid = errors.New("not an intact omen backup")

// BackupHeader is what a backup file says about itself before its
// records.
type BackupHeader struct {
	// OmenVersion is the version of the omen that wrote the backup.
	OmenVersion string `json:"omen_version"`
	// Created is when the backup started: the records are the store's
	// at one moment just after it.
	Created time.Time `json:"created"`
	// StoreFormat is the store's format version (its 'Z' record).
	StoreFormat int `json:"store_format"`
}

// BackupInfo describes a backup written or read.
type BackupInfo struct {
	Header BackupHeader
	// Records is the number of records (key-value pairs) the backup holds.
	Records int64
	// Bytes is the size of the backup file (of a backup that stopped
	// with an error: the bytes it wrote).
	Bytes int64
	// SHA256 is the hex SHA-256 the trailer holds.
	SHA256 string
}

// BackupProgress is how far a backup or restore has got.
type BackupProgress struct {
	// Records written (a restore does not count them: 0).
	Records int64
	// Bytes of the backup file written or read.
	Bytes int64
}

// BackupOptions configure Backup and BackupDir.
type BackupOptions struct {
	// OmenVersion is written in the header. Default: the build's version
	// (github.com/prometheus/common/version), else "unknown".
	OmenVersion string
	// Progress, when non-nil, is called after each list of records
	// written, from one goroutine at a time.
	Progress func(BackupProgress)
	// Now is the clock of the header's Created (default time.Now).
	Now func() time.Time
	// Logger receives Badger's log lines of BackupDir (Backup logs to the
	// store's). Default: discard.
	Logger *slog.Logger
}

func (o *BackupOptions) applyDefaults() {
	if o.OmenVersion == "" {
		o.OmenVersion = version.Version
	}
	if o.OmenVersion == "" {
		o.OmenVersion = "unknown"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Backup writes a backup of the store to w, while it is in use: every
// record (the newest version of each key, deleted and expired ones left
// out) as of one moment (one Badger read transaction, taken as it starts),
// so a write made while it runs is in it wholly or not at all. It stops
// when ctx ends or a write to w fails, returning the error; the bytes
// written so far then lack the trailer, so Restore and CheckBackup refuse
// them. The store's metrics count it (omen_store_backups_total): a backup
// whose error wraps context.Canceled or context.DeadlineExceeded (ctx
// ended, or w's error says its reader went away) is canceled, one with
// another error failed. Close waits for a backup in flight (CloseContext:
// until its context ends): give the backup a context that ends when the
// store is to close.
//
// The backup holds the store's records only: not the files beside its
// directory (the embedded NATS server's JetStream data under the storage
// path's nats directory).
func (s *Store) Backup(ctx context.Context, w io.Writer, opts BackupOptions) (BackupInfo, error) {
	if err := s.enter(); err != nil {
		return BackupInfo{}, err
	}
	defer s.exit()
	start := time.Now()
	info, err := backupDB(ctx, s.db, w, opts)
	s.observeBackup(info.Bytes, time.Since(start), err)
	if err != nil {
		return info, fmt.Errorf("back up store %q: %w", s.opts.Path, err)
	}
	return info, nil
}

// BackupDir writes a backup of the store at dir, which no omen holds,
// to w, as Backup does. It opens the store read-only, holding its
// directory with a shared lock as Verify does: it fails with an error
// wrapping ErrInUse while an omen holds the store (back up a running
// daemon's store through its API), and an omen starting meanwhile fails
// the same way. A store that was not closed cleanly (its memtable log
// holds records) is refused: opening it once with omen replays the log.
func BackupDir(ctx context.Context, dir string, w io.Writer, opts BackupOptions) (BackupInfo, error) {
	opts.applyDefaults()
	if _, err := os.Stat(filepath.Join(dir, badger.ManifestFilename)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return BackupInfo{}, fmt.Errorf("back up store %q: no %s there: not a store", dir, badger.ManifestFilename)
		}
		return BackupInfo{}, fmt.Errorf("back up store %q: %w", dir, err)
	}
	unlock, err := lockDirShared(dir)
	if err != nil {
		if errors.Is(err, ErrInUse) {
			return BackupInfo{}, fmt.Errorf("back up store %q: %w: another omen holds it (omen run, or omen model or omen train while they work); "+
				"back up a running daemon's store through its API (omen store backup --url), or stop it first", dir, ErrInUse)
		}
		return BackupInfo{}, fmt.Errorf("back up store %q: %w", dir, err)
	}
	defer unlock()
	bo := readOnlyOptions(dir, badgerLogger{opts.Logger})
	if err := checkFilesLocked(dir, bo); err != nil {
		return BackupInfo{}, fmt.Errorf("back up store %q: %w", dir, err)
	}
	if mems, empty := memLogs(dir); len(mems)+len(empty) > 0 {
		return BackupInfo{}, fmt.Errorf("back up store %q: it was not closed cleanly (omen was killed, or its machine stopped; or an omen's start failed): "+
			"its memtable log %s must be replayed first, which any omen opening the store does (omen model list --storage.path PATH), then back it up again",
			dir, strings.Join(append(mems, empty...), ", "))
	}
	db, err := badger.Open(bo)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("back up store %q: open read-only: %w", dir, err)
	}
	info, err := backupDB(ctx, db, w, opts)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		return info, fmt.Errorf("back up store %q: %w", dir, err)
	}
	return info, nil
}

// observeBackup counts a backup of the store that took d, wrote n bytes
// and returned err: one whose error is a context's is canceled (its
// client went away, or omen is stopping), not failed.
func (s *Store) observeBackup(n int64, d time.Duration, err error) {
	s.m.backupBytes.Add(float64(n))
	switch {
	case err == nil:
		s.m.backups.WithLabelValues("success").Inc()
		s.recordBackup(s.opts.Now().UnixMilli())
		s.m.backupSeconds.Observe(d.Seconds())
	case IsCanceled(err):
		s.m.backups.WithLabelValues("canceled").Inc()
	default:
		s.m.backups.WithLabelValues("failed").Inc()
		s.m.backupLastBad.Set(float64(s.opts.Now().UnixNano()) / 1e9)
	}
}

// backupDB writes the backup of db to w. On an error, info.Bytes is the
// bytes written.
func backupDB(ctx context.Context, db *badger.DB, w io.Writer, opts BackupOptions) (info BackupInfo, err error) {
	opts.applyDefaults()
	info = BackupInfo{Header: BackupHeader{OmenVersion: opts.OmenVersion, Created: opts.Now().UTC(), StoreFormat: formatVersion}}
	bw := &backupWriter{ctx: ctx, w: w, h: sha256.New()}
	defer func() {
		if err != nil {
			info.Bytes = bw.n
		}
	}()
	head, err := encodeBackupHeader(info.Header)
	if err != nil {
		return info, err
	}
	if _, err := bw.Write(head); err != nil {
		return info, err
	}
	bodyStart := bw.n

	// One goroutine, so one read transaction: Badger's Stream opens one
	// per goroutine (DB.Backup's two, with the store's NumGoroutines,
	// could see a write between them in one range and not in another).
	stream := db.NewStream()
	stream.NumGo = 1
	stream.LogPrefix = "omen store backup"
	// firstErr is the first error of a value read (KeyToList) or of a
	// write (Send): Orchestrate may return instead the context error of
	// the goroutines Send's error stopped.
	var (
		mu       sync.Mutex
		firstErr error
	)
	failed := func() error {
		mu.Lock()
		defer mu.Unlock()
		return firstErr
	}
	fail := func(err error) error {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
		return err
	}
	// Badger's Stream logs a KeyToList error and goes on without the
	// key: it is kept, and stops the backup at the next list.
	stream.KeyToList = func(key []byte, itr *badger.Iterator) (*pb.KVList, error) {
		item := itr.Item() // the key's newest version at the read time
		if item.IsDeletedOrExpired() {
			return nil, nil
		}
		kv := &pb.KV{Key: key, UserMeta: []byte{item.UserMeta()}, Version: item.Version(), ExpiresAt: item.ExpiresAt()}
		var err error
		kv.Value, err = item.ValueCopy(nil)
		if err != nil {
			return nil, fail(fmt.Errorf("read the value of %s: %w", describeKey(key), err))
		}
		return &pb.KVList{Kv: []*pb.KV{kv}}, nil
	}
	var list pb.KVList
	size := 0
	flush := func() error {
		if len(list.Kv) == 0 {
			return nil
		}
		b, err := proto.Marshal(&list)
		if err != nil {
			return fmt.Errorf("encode records: %w", err)
		}
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		if _, err := bw.Write(n[:]); err != nil {
			return err
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
		info.Records += int64(len(list.Kv))
		list.Kv, size = list.Kv[:0], 0
		if opts.Progress != nil {
			opts.Progress(BackupProgress{Records: info.Records, Bytes: bw.n})
		}
		return nil
	}
	send := func(buf *z.Buffer) error {
		kvs, err := badger.BufferToKVList(buf)
		if err != nil {
			return fmt.Errorf("decode Badger's records: %w", err)
		}
		for _, kv := range kvs.Kv {
			if kv.StreamDone {
				continue
			}
			kv.StreamId = 0
			list.Kv = append(list.Kv, kv)
			size += len(kv.Key) + len(kv.Value) + 16
			if size >= backupListTarget {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	}
	stream.Send = func(buf *z.Buffer) error {
		if err := failed(); err != nil {
			return err
		}
		if err := send(buf); err != nil {
			return fail(err)
		}
		return nil
	}
	oerr := stream.Orchestrate(ctx)
	if err := failed(); err != nil {
		return info, err
	}
	if oerr != nil {
		return info, oerr
	}
	if err := ctx.Err(); err != nil {
		return info, err
	}
	var end [8 + 16]byte
	binary.LittleEndian.PutUint64(end[:8], backupEndMark)
	binary.BigEndian.PutUint64(end[8:16], uint64(info.Records))
	binary.BigEndian.PutUint64(end[16:], uint64(bw.n-bodyStart))
	if _, err := bw.Write(end[:]); err != nil {
		return info, err
	}
	sum := bw.h.Sum(nil)
	if _, err := bw.Write(sum); err != nil {
		return info, err
	}
	info.Bytes, info.SHA256 = bw.n, hex.EncodeToString(sum)
	return info, nil
}

// IsCanceled reports whether err is a context's error (wraps
// context.Canceled or context.DeadlineExceeded): that of a backup's
// context that ended, or of its writer saying its reader went away.
func IsCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// backupWriter writes to w, hashing and counting what it writes, and
// fails once ctx has ended.
type backupWriter struct {
	ctx context.Context
	w   io.Writer
	h   hash.Hash
	n   int64
}

func (b *backupWriter) Write(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := b.w.Write(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("write backup: %w", err)
	}
	return n, nil
}

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// encodeBackupHeader encodes a backup file's header: magic, format,
// length, JSON and checksum.
func encodeBackupHeader(h BackupHeader) ([]byte, error) {
	doc, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode backup header: %w", err)
	}
	if len(doc) > backupMaxHeader {
		return nil, fmt.Errorf("encode backup header: %d bytes, over %d", len(doc), backupMaxHeader)
	}
	b := make([]byte, 0, len(backupMagic)+2+4+len(doc)+4)
	b = append(b, backupMagic...)
	b = binary.BigEndian.AppendUint16(b, BackupFormat)
	b = binary.BigEndian.AppendUint32(b, uint32(len(doc)))
	b = append(b, doc...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32c)), nil
}

// ReadBackupHeader reads a backup file's header from r, checking its
// magic, format and checksum; errors wrap ErrBackupInvalid (but r's own).
// It reads nothing past the header.
func ReadBackupHeader(r io.Reader) (BackupHeader, error) {
	h, _, err := readBackupHeader(r)
	return h, err
}

// readBackupHeader is ReadBackupHeader that also returns the header's
// bytes.
func readBackupHeader(r io.Reader) (BackupHeader, []byte, error) {
	var h BackupHeader
	fixed := make([]byte, len(backupMagic)+2+4)
	if n, err := io.ReadFull(r, fixed); err != nil {
		switch {
		case n >= len(backupMagic) && string(fixed[:len(backupMagic)]) != backupMagic:
			return h, nil, notBackup(fixed[:n])
		case n == 0 && errors.Is(err, io.EOF):
			return h, nil, fmt.Errorf("%w: the file is empty", ErrBackupInvalid)
		case errors.Is(err, io.ErrUnexpectedEOF):
			if !strings.HasPrefix(backupMagic, string(fixed[:min(n, len(backupMagic))])) {
				return h, nil, notBackup(fixed[:n])
			}
			return h, nil, fmt.Errorf("%w: cut short in its header (%d bytes)", ErrBackupInvalid, n)
		}
		return h, nil, fmt.Errorf("read backup header: %w", err)
	}
	if string(fixed[:len(backupMagic)]) != backupMagic {
		return h, nil, notBackup(fixed)
	}
	if f := binary.BigEndian.Uint16(fixed[len(backupMagic):]); f != BackupFormat {
		return h, nil, fmt.Errorf("%w: backup format %d: this omen reads format %d (a newer omen wrote it?)", ErrBackupInvalid, f, BackupFormat)
	}
	n := binary.BigEndian.Uint32(fixed[len(backupMagic)+2:])
	if n > backupMaxHeader {
		return h, nil, fmt.Errorf("%w: its header is damaged (a length of %d bytes, over %d)", ErrBackupInvalid, n, backupMaxHeader)
	}
	rest := make([]byte, int(n)+4)
	if _, err := io.ReadFull(r, rest); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return h, nil, fmt.Errorf("%w: cut short in its header", ErrBackupInvalid)
		}
		return h, nil, fmt.Errorf("read backup header: %w", err)
	}
	head := append(fixed, rest...)
	body := head[:len(head)-4]
	if crc32.Checksum(body, crc32c) != binary.BigEndian.Uint32(head[len(head)-4:]) {
		return h, nil, fmt.Errorf("%w: its header is damaged (its checksum does not match)", ErrBackupInvalid)
	}
	if err := json.Unmarshal(body[len(fixed):], &h); err != nil {
		return h, nil, fmt.Errorf("%w: its header does not decode: %w", ErrBackupInvalid, err)
	}
	return h, head, nil
}

func notBackup(start []byte) error {
	return fmt.Errorf("%w: not an omen backup (it starts with %q, not %q)", ErrBackupInvalid, start[:min(len(start), len(backupMagic))], backupMagic)
}

// backupReader reads a backup file after its header, giving Badger's
// stream (DB.Load's input): it checks each list's length, and at the end
// mark the trailer (its counts and SHA-256) and that nothing follows,
// before it returns io.EOF. An error wraps ErrBackupInvalid for a file
// cut short or damaged, or is ctx's or the reader's.
type backupReader struct {
	ctx      context.Context
	r        *bufio.Reader
	h        hash.Hash
	n        int64 // bytes of the file read
	body     int64 // bytes of the body read
	left     int64 // bytes of the current list not yet returned
	pending  []byte
	lenBuf   [8]byte
	done     bool
	trailer  bool  // the end mark was read: what is left is the trailer
	err      error // the last error Read returned, but io.EOF
	info     BackupInfo
	progress func(BackupProgress)
}

// newBackupReader reads the header from r and returns the reader of the
// body.
func newBackupReader(ctx context.Context, r io.Reader, progress func(BackupProgress)) (*backupReader, error) {
	br := &backupReader{ctx: ctx, r: bufio.NewReaderSize(r, 1<<20), h: sha256.New(), progress: progress}
	h, head, err := readBackupHeader(br.r)
	if err != nil {
		return nil, err
	}
	br.h.Write(head)
	br.n = int64(len(head))
	br.info.Header = h
	return br, nil
}

func (b *backupReader) truncated() error {
	if b.trailer {
		return fmt.Errorf("%w: cut short after %d bytes, in its trailer (its end mark was read: a copy that lost its last bytes)", ErrBackupInvalid, b.n)
	}
	return fmt.Errorf("%w: cut short after %d bytes, before its end mark (a backup that did not finish, a copy cut short, or a damaged list length)", ErrBackupInvalid, b.n)
}

// readFull reads len(p) bytes, hashing them.
func (b *backupReader) readFull(p []byte) error {
	n, err := io.ReadFull(b.r, p)
	b.h.Write(p[:n])
	b.n += int64(n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return b.truncated()
	}
	if err != nil {
		return fmt.Errorf("read backup: %w", err)
	}
	return nil
}

func (b *backupReader) Read(p []byte) (int, error) {
	n, err := b.read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

func (b *backupReader) read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	for {
		switch {
		case b.done:
			return 0, io.EOF
		case len(b.pending) > 0:
			n := copy(p, b.pending)
			b.pending = b.pending[n:]
			return n, nil
		case b.left > 0:
			q := p[:min(int64(len(p)), b.left)]
			n, err := b.r.Read(q)
			b.h.Write(q[:n])
			b.n += int64(n)
			b.body += int64(n)
			b.left -= int64(n)
			if errors.Is(err, io.EOF) {
				return n, b.truncated()
			}
			if err != nil {
				return n, fmt.Errorf("read backup: %w", err)
			}
			if b.left == 0 && b.progress != nil {
				b.progress(BackupProgress{Bytes: b.n})
			}
			return n, nil
		}
		if err := b.readFull(b.lenBuf[:]); err != nil {
			return 0, err
		}
		size := binary.LittleEndian.Uint64(b.lenBuf[:])
		if size == backupEndMark {
			return 0, b.finish()
		}
		if size == 0 || size > backupMaxList {
			return 0, fmt.Errorf("%w: damaged at byte %d: a list of records of %d bytes (a backup writes 1 to %d)", ErrBackupInvalid, b.n-8, size, uint64(backupMaxList))
		}
		b.body += 8
		b.left = int64(size)
		b.pending = b.lenBuf[:]
	}
}

// finish reads the trailer after the end mark and checks it.
func (b *backupReader) finish() error {
	b.trailer = true
	var counts [16]byte
	if err := b.readFull(counts[:]); err != nil {
		return err
	}
	want := b.h.Sum(nil) // readFull hashes the SHA-256 read too, after this
	got := make([]byte, sha256.Size)
	if err := b.readFull(got); err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: damaged: its SHA-256 is %x, its trailer says %x (a byte changed since it was written)", ErrBackupInvalid, want, got)
	}
	if body := binary.BigEndian.Uint64(counts[8:]); body != uint64(b.body) {
		return fmt.Errorf("%w: damaged: its trailer says %d bytes of records, it holds %d", ErrBackupInvalid, body, b.body)
	}
	if _, err := b.r.ReadByte(); err == nil {
		return fmt.Errorf("%w: data follows its trailer (at byte %d)", ErrBackupInvalid, b.n)
	} else if !errors.Is(err, io.EOF) {
		return fmt.Errorf("read backup: %w", err)
	}
	b.done = true
	b.info.Records = int64(binary.BigEndian.Uint64(counts[:8]))
	b.info.Bytes, b.info.SHA256 = b.n, hex.EncodeToString(got)
	if b.progress != nil {
		b.progress(BackupProgress{Bytes: b.n})
	}
	return io.EOF
}

// CheckBackup reads a backup file from r to its end, checking it as
// Restore does (header, lists' lengths, trailer and SHA-256) without
// restoring anything. Errors wrap ErrBackupInvalid for a file that is
// not an intact backup, or are ctx's or r's. Progress, when non-nil, is
// called after each list of records read.
func CheckBackup(ctx context.Context, r io.Reader, progress func(BackupProgress)) (BackupInfo, error) {
	br, err := newBackupReader(ctx, r, progress)
	if err != nil {
		return BackupInfo{}, err
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return br.info, err
	}
	return br.info, nil
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Path is the store's directory to create. It must not exist, or be
	// an empty directory; its parent must exist.
	Path string
	// Store sizes the restored store's Badger files as Open would
	// (MemTableSize, ValueLogFileSize, …: give the options the daemon
	// opens it with). Its Path is ignored.
	Store Options
	// Size is the backup's size in bytes, when known (a file's): Restore
	// refuses to start unless its filesystem has that much free space
	// and the store's disk reserve besides (Options.DiskReserve; a
	// restored store takes about the backup's size). 0: only the reserve
	// is checked.
	Size int64
	// Progress, when non-nil, is called after each list of records read.
	Progress func(BackupProgress)
}

// Restore writes the backup read from r into a new store at opts.Path,
// refusing a path that holds anything (it never overwrites). It reads
// and checks the header before it creates anything; the records go into
// a new directory beside opts.Path, which is opened as Open does once
// they are all in and the trailer's SHA-256 matches, then renamed to
// opts.Path. On any failure (a file cut short or damaged: an error
// wrapping ErrBackupInvalid; ctx ended; a disk error) it removes that
// directory, leaving nothing.
func Restore(ctx context.Context, r io.Reader, opts RestoreOptions) (BackupInfo, error) {
	if opts.Path == "" {
		return BackupInfo{}, errors.New("restore store: no path")
	}
	dir := filepath.Clean(opts.Path)
	if err := restoreTarget(dir); err != nil {
		return BackupInfo{}, err
	}
	br, err := newBackupReader(ctx, r, opts.Progress)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("restore store %q: %w", dir, err)
	}
	// Badger writes through memory-mapped files: on a full filesystem
	// the process dies of SIGBUS, leaving the new directory behind.
	so := opts.Store
	so.Path, so.InMemory = dir, false
	so.applyDefaults()
	if so.DiskReserve >= 0 && so.DiskFree != nil {
		if free, err := so.DiskFree(existingDir(filepath.Dir(dir))); err == nil && int64(free) < opts.Size+so.DiskReserve {
			return br.info, fmt.Errorf("restore store %q: %w: %d bytes (%.0f MiB) free on its filesystem, less than the backup's %d bytes and the store's disk reserve of %d bytes (%.0f MiB, storage.disk_reserve) besides",
				dir, ErrDiskFull, free, mib(int64(free)), opts.Size, so.DiskReserve, mib(so.DiskReserve))
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".restore-")
	if err != nil {
		return br.info, fmt.Errorf("restore store %q: %w", dir, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := restoreInto(tmp, br, so); err != nil {
		return br.info, fmt.Errorf("restore store %q: %w", dir, err)
	}
	if err := restoreTarget(dir); err != nil { // made meanwhile?
		return br.info, err
	}
	// os.Rename does not replace a directory, even empty.
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return br.info, fmt.Errorf("restore store %q: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return br.info, fmt.Errorf("restore store %q: %w", dir, err)
	}
	ok = true
	if err := atomicfile.SyncDir(filepath.Dir(dir)); err != nil {
		return br.info, fmt.Errorf("restore store %q: %w", dir, err)
	}
	return br.info, nil
}

// restoreTarget refuses a restore into dir when it is anything but a
// missing path or an empty directory.
func restoreTarget(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("restore store %q: %w", dir, err)
	case len(ents) > 0:
		return fmt.Errorf("restore store %q: %w: it holds %d files already (a store?): restore only into a new or empty directory (move this one away first)", dir, ErrExists, len(ents))
	}
	return nil
}

// restoreInto loads the records of br into a new Badger database at dir,
// syncs its files, and opens it as a store (and closes it) to check it.
func restoreInto(dir string, br *backupReader, so Options) error {
	so.Path = dir // Restore applied so's defaults, for the target
	if err := so.validate(); err != nil {
		return fmt.Errorf("invalid options: %w", err)
	}
	// Synced once at the end, not each batch.
	db, err := badger.Open(badgerOptions(so).WithSyncWrites(false))
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	err = db.Load(br, 16)
	switch {
	case err == nil && !br.done:
		err = br.truncated() // Load stops at the end of a list
	case err != nil && br.err == nil:
		// Load's own (a list that does not decode, a write that
		// failed): a damaged file is told by reading it to its end.
		if _, cerr := io.Copy(io.Discard, br); cerr != nil {
			err = cerr
		}
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		return err
	}
	if err := syncFiles(dir); err != nil {
		return err
	}
	so.Registerer = nil
	s, err := Open(so)
	if err != nil {
		return fmt.Errorf("open the restored store: %w", err)
	}
	err = s.markRestored(br.info.Header.Created)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncFiles fsyncs every file in dir, and dir.
func syncFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, e.Name()), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sync %s: %w", e.Name(), err)
		}
	}
	return atomicfile.SyncDir(dir)
}
