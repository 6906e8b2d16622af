package store

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/badger/v4/y"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Path is the store's directory (Options.Path).
	Path string
	// SkipRecords checks the files only (the MANIFEST, the KEYREGISTRY,
	// every value-log file's header and every table's block checksums),
	// without reading the records.
	SkipRecords bool
	// Progress, when non-nil, is called on Verify's goroutine after each
	// table and every 16,384 records.
	Progress func(VerifyProgress)
	// Logger receives Badger's log lines. Default: discard.
	Logger *slog.Logger
}

// VerifyProgress is how far Verify has got.
type VerifyProgress struct {
	// Tables checked of TablesTotal, TableBytes of TableBytesTotal.
	Tables, TablesTotal         int
	TableBytes, TableBytesTotal int64
	// Records reached so far, their value read or not (they are read
	// once every table is checked), of about RecordsTotal (the tables'
	// key counts: their older versions and deletions count too, so more
	// than will be read).
	Records, RecordsTotal int64
}

// VerifyReport is what Verify checked and found.
type VerifyReport struct {
	// Tables the MANIFEST lists (all checked) and their bytes.
	Tables     int
	TableBytes int64
	// ValueLogFiles and ValueLogBytes: the value log (each file's header
	// is checked, its entries as the records' values are read), and the
	// disk space its files take (their allocated blocks: Badger makes the
	// file it writes to sparse, of twice the value-log file size, until
	// it closes the store).
	ValueLogFiles int
	ValueLogBytes int64
	// Records read and decoded, and the bytes of their keys and values.
	Records     int64
	RecordBytes int64
	// RecordsUnread counts the records whose value does not read (each
	// is damage), not counted in Records.
	RecordsUnread int64
	// RecordsSkipped says why the records were not read (empty: they
	// were): damaged files, VerifyOptions.SkipRecords, or a store that
	// Badger does not open read-only (a memtable log, holding records or
	// empty).
	RecordsSkipped string
	// Damaged lists what is damaged, in the order found: every damaged
	// file, and at most VerifyListedPerFile damaged records of each file
	// (of the records whose file is not known too).
	Damaged []Damage
	// Unlisted counts the damaged records Damaged does not list, by file
	// ("" for not known).
	Unlisted map[string]int64
}

// VerifyListedPerFile is how many damaged records of one file Verify
// lists in VerifyReport.Damaged: a value-log file cut short makes every
// record whose value it held damaged; the rest are counted.
const VerifyListedPerFile = 10

// DamagedCount is the number of damaged items, listed or not.
func (r *VerifyReport) DamagedCount() int64 {
	n := int64(len(r.Damaged))
	for _, c := range r.Unlisted {
		n += c
	}
	return n
}

// Damage is one damaged file or record.
type Damage struct {
	// File is the path of the damaged file, or of the file holding the
	// damaged record; empty when it is not known.
	File string
	// Record names the damaged record (its kind and key); empty for
	// damage to a file as a whole.
	Record string
	// What is what is wrong.
	What string
}

func (d Damage) String() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
	} else {
		b.WriteString("(file not known)")
	}
	if d.Record != "" {
		b.WriteString(": " + d.Record)
	}
	b.WriteString(": " + d.What)
	return b.String()
}

// verifyProgressEvery is how many records Verify reads between two
// Progress calls.
const verifyProgressEvery = 1 << 14

// verifyLocateMax is how many damaged records Verify looks up the table
// of (each look-up opens tables again): those whose file Badger's read
// error does not name (a record that reads but does not decode).
const verifyLocateMax = 20

// Verify checks the store at opts.Path without changing it: the MANIFEST
// and KEYREGISTRY decode, every value-log file holds its header (naming
// a data key the KEYREGISTRY holds), every table the MANIFEST lists
// reads and matches its block checksums (damage Open does not see: it
// reads only a table's index and last block), and then, unless
// opts.SkipRecords, every
// record reads (a value in the value log matches its checksum) and decodes
// as the store reads it: ingest batches, vectors, predictions, events,
// outbox items and alert states with the store's codecs, JSON records as
// JSON, and each registered model's data against the size and SHA-256 of
// its metadata. Damage does not stop it: every damaged file is reported,
// and every damaged record (the first VerifyListedPerFile of each file
// listed, the others counted): one whose value does not read with the
// value-log file holding it, one that does not decode with the table
// holding it (the first 20). Records are read only once every file is
// intact (Badger's reading of a damaged table may kill the process), and
// the store has no memtable log holding records (Badger opens it
// read-only only once the log is replayed, which any omen opening it
// does).
//
// Verify holds the store's directory with a shared lock while it runs,
// as Badger does when it opens a database read-only: it fails with an
// error wrapping ErrInUse while an omen holds the store (a running
// daemon compacts and deletes tables under a reader), and an omen
// starting meanwhile fails the same way. It returns an error when it
// cannot check (no store at the path, in use, a file it cannot read for
// another reason than damage, ctx ended); what it found damaged is in the
// report.
func Verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	dir := opts.Path
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	manifest := filepath.Join(dir, badger.ManifestFilename)
	if _, err := os.Stat(manifest); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return rep, fmt.Errorf("verify store %q: no %s there: not a store (an omen store's directory holds one from its first open)", dir, badger.ManifestFilename)
		}
		return rep, fmt.Errorf("verify store %q: %w", dir, err)
	}
	unlock, err := lockDirShared(dir)
	if err != nil {
		if errors.Is(err, ErrInUse) {
			return rep, fmt.Errorf("verify store %q: %w: another omen holds it (omen run, or omen model or omen train while they work); "+
				"stop it first: a running omen changes the store's files as they are read", dir, ErrInUse)
		}
		return rep, fmt.Errorf("verify store %q: %w", dir, err)
	}
	defer unlock()
	rep.ValueLogFiles, rep.ValueLogBytes = filesOf(dir, ".vlog")
	rep.Unlisted = map[string]int64{}

	tables, keys, err := verifyFiles(ctx, dir, &rep, opts.Progress)
	switch {
	case err != nil:
		return rep, fmt.Errorf("verify store %q: %w", dir, err)
	case len(rep.Damaged) > 0:
		rep.RecordsSkipped = "damaged files (listed) keep them from being read"
		return rep, nil
	case opts.SkipRecords:
		rep.RecordsSkipped = "not asked for (VerifyOptions.SkipRecords)"
		return rep, nil
	}
	if err := verifyRecords(ctx, dir, tables, keys, &rep, opts); err != nil {
		return rep, fmt.Errorf("verify store %q: %w", dir, err)
	}
	return rep, nil
}

// verifyTable is a table the MANIFEST lists.
type verifyTable struct {
	id   uint64
	name string
	tm   badger.TableManifest
}

// verifyFiles checks the MANIFEST, the KEYREGISTRY, the header of every
// value-log file and the block checksums of every table the MANIFEST
// lists, adding what is damaged to rep. It returns the tables, newest data first (level 0 newest table
// first, then the levels down), and their key count.
func verifyFiles(ctx context.Context, dir string, rep *VerifyReport, progress func(VerifyProgress)) ([]verifyTable, int64, error) {
	bo := badger.DefaultOptions(dir)
	manifest := filepath.Join(dir, badger.ManifestFilename)
	f, err := os.Open(manifest)
	if err != nil {
		return nil, 0, err
	}
	m, _, err := badger.ReplayManifestFile(f, bo.ExternalMagicVersion, bo)
	_ = f.Close()
	if err != nil {
		rep.Damaged = append(rep.Damaged, Damage{File: manifest, What: fmt.Sprintf("does not decode (%v)", err)})
		return nil, 0, nil
	}
	kr, err := badger.OpenKeyRegistry(badger.KeyRegistryOptions{Dir: dir, ReadOnly: true})
	if err != nil {
		rep.Damaged = append(rep.Damaged, Damage{File: filepath.Join(dir, badger.KeyRegistryFileName), What: fmt.Sprintf("does not decode (%v)", err)})
		kr = nil
	}
	vlogs, err := checkValueLogs(dir, kr)
	if kr != nil {
		_ = kr.Close()
	}
	if err != nil {
		return nil, 0, err
	}
	for _, d := range vlogs {
		d.What = "value-log file " + d.What
		rep.Damaged = append(rep.Damaged, d)
	}
	tables := make([]verifyTable, 0, len(m.Tables))
	for id, tm := range m.Tables {
		tables = append(tables, verifyTable{id: id, name: table.NewFilename(id, dir), tm: tm})
	}
	slices.SortFunc(tables, func(a, b verifyTable) int {
		if a.tm.Level != b.tm.Level {
			return int(a.tm.Level) - int(b.tm.Level)
		}
		if a.tm.Level == 0 { // overlapping: the newest holds a key's newest version
			return cmp.Compare(b.id, a.id)
		}
		return cmp.Compare(a.id, b.id)
	})
	p := VerifyProgress{TablesTotal: len(tables)}
	sizes := make([]int64, len(tables))
	for i, t := range tables {
		if fi, err := os.Stat(t.name); err == nil {
			sizes[i] = fi.Size()
			p.TableBytesTotal += fi.Size()
		}
	}
	rep.Tables, rep.TableBytes = len(tables), p.TableBytesTotal
	for i, t := range tables {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		verify := func(tb *table.Table) error {
			p.RecordsTotal += int64(tb.KeyCount())
			if err := tb.VerifyChecksum(); err != nil {
				return fmt.Errorf("does not match its checksums: %w", err)
			}
			return nil
		}
		if err := withTable(t.name, t.tm, int(bo.BlockSize), verify); err != nil {
			// Badger's message names the file again.
			what := strings.ReplaceAll(err.Error(), "checksum validation failed for table: "+t.name+", ", "")
			rep.Damaged = append(rep.Damaged, Damage{File: t.name, What: fmt.Sprintf("level-%d table %s", t.tm.Level, what)})
		}
		p.Tables++
		p.TableBytes += sizes[i]
		if progress != nil {
			progress(p)
		}
	}
	return tables, p.RecordsTotal, nil
}

// filesOf counts the files in dir named *ext and the disk space they
// take (diskUsage: a sparse file's allocated blocks).
func filesOf(dir, ext string) (n int, size int64) {
	names, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
	for _, name := range names {
		if fi, err := os.Stat(name); err == nil {
			n++
			size += diskUsage(fi)
		}
	}
	return n, size
}

// memLogs returns the memtable logs (.mem) in dir, those holding records
// and those whose first entry is empty: an omen start that failed after
// Badger made its memtable log (a damaged value-log file) leaves one, as
// does one killed before it wrote anything. Neither is a crash's
// unfinished writes, but Badger opens the store read-only only once
// either is gone (replayed, or deleted for empty), which a read-write
// open does.
func memLogs(dir string) (records, empty []string) {
	names, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	for _, name := range names {
		if memLogEmpty(name) {
			empty = append(empty, name)
		} else {
			records = append(records, name)
		}
	}
	return records, empty
}

// memLogEmpty reports whether the memtable log name has an empty first
// entry after its header: Badger zeroes the header of the entry it
// writes next (its 22 bytes at most).
func memLogEmpty(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	var b [vlogHeaderSize + 22]byte
	n, err := io.ReadFull(f, b[:])
	if n < vlogHeaderSize || err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false
	}
	for _, c := range b[vlogHeaderSize:n] {
		if c != 0 {
			return false
		}
	}
	return true
}

// openedFile finds the file of the store a Badger error names
// ("Open existing file: \"/data/badger/000001.vlog\"", "While opening
// memtable: /data/badger/00003.mem").
var openedFile = regexp.MustCompile(`(\d+\.(?:vlog|mem|sst))\b`)

// verifyRecords opens the database read-only and reads and decodes every
// record, adding what is damaged to rep.
func verifyRecords(ctx context.Context, dir string, tables []verifyTable, keys int64, rep *VerifyReport, opts VerifyOptions) error {
	// A memtable log is left by a crash (a clean close flushes the
	// memtable to a table and deletes its log): Badger opens the database
	// read-only only once the log's unfinished tail is cut, which a
	// read-write open does (and its failed read-only Open leaves its
	// goroutines running).
	switch mems, empty := memLogs(dir); {
	case len(mems) > 0:
		rep.RecordsSkipped = fmt.Sprintf("the store was not closed cleanly (omen was killed, or its machine stopped): its memtable log %s "+
			"must be replayed first, which any omen opening the store does (omen model list --storage.path PATH), then verify again", strings.Join(mems, ", "))
		return nil
	case len(empty) > 0:
		rep.RecordsSkipped = fmt.Sprintf("the store has an empty memtable log %s (left by an omen whose start failed, or that was stopped before it stored anything: "+
			"no records are lost), which Badger reads the store past only once it is deleted, as any omen opening the store does "+
			"(omen model list --storage.path PATH), then verify again", strings.Join(empty, ", "))
		return nil
	}
	vl := &verifyLogger{badgerLogger: badgerLogger{opts.Logger}}
	db, err := badger.Open(readOnlyOptions(dir, vl).WithVerifyValueChecksum(true))
	if err != nil {
		if m := openedFile.FindStringSubmatch(err.Error()); m != nil {
			rep.Damaged = append(rep.Damaged, Damage{File: filepath.Join(dir, m[1]), What: fmt.Sprintf("does not open (%v)", err)})
			rep.RecordsSkipped = "a damaged file (listed) keeps them from being read"
			return nil
		}
		return fmt.Errorf("open read-only: %w", err)
	}
	v := recordVerifier{models: map[string]modelSum{}, log: vl, rep: rep, listed: map[string]int{}}
	err = v.scan(ctx, db, keys, opts.Progress)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		return err
	}
	v.finishModels()
	for _, d := range v.pending {
		d.File = locateKey(dir, tables, d.key, d.version)
		v.add(d.Damage)
	}
	return nil
}

// readOnlyOptions are the Badger options that open the store at dir,
// which no omen holds, read-only to read every record once (Verify,
// BackupDir): no caches, one goroutine.
func readOnlyOptions(dir string, logger badger.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithReadOnly(true).
		WithLogger(logger).
		WithMetricsEnabled(false).
		WithNumGoroutines(1).
		WithCompression(options.None).
		WithMemTableSize(DefaultMemTableSize).
		WithValueLogFileSize(DefaultValueLogFileSize).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0)
}

// recordVerifier decodes the records of a scan.
type recordVerifier struct {
	rep *VerifyReport
	// listed counts the damaged records rep.Damaged lists, by file.
	listed map[string]int
	// pending are damaged records whose file is looked up after the scan
	// (verifyLocateMax at most).
	pending []pendingDamage
	// models are the registered models' metadata, by version; cur sums
	// the data chunks of the version being read.
	models map[string]modelSum
	cur    *modelData
	log    *verifyLogger // what Badger says of the value read last
}

type pendingDamage struct {
	Damage
	key     []byte
	version uint64
}

// modelSum is what a model's metadata says of its data.
type modelSum struct {
	size int64
	sum  string
	seen bool // data chunks were read
}

// modelData sums the data chunks of one version as the scan reads them.
type modelData struct {
	version string
	h       hash.Hash
	size    int64
	next    uint32 // the chunk index expected next
	gap     string // what is wrong with the chunks' order
}

// verifyLogger is Badger's logger for Verify: Badger reads a value that
// does not match its checksum (or does not read) as empty and only logs
// the error (Item.Value returns none), then each version of its key with
// its value pointer, so verifyLogger keeps that error, and the value-log
// file of each version, for Verify to report, instead of logging them.
type verifyLogger struct {
	badgerLogger
	mu  sync.Mutex
	err error // the last value read error, until readErr takes it
	// fids are the value-log file IDs of the versions of the key whose
	// value read last, by version.
	fids map[uint64]uint64
}

// badgerReadError is the format of the line Badger logs when a value
// does not read (Item.yieldItemValue); its last argument is the error.
// The lines Badger logs after it list the key's versions
// (badgerVersionLine).
const badgerReadError = "Unable to read: Key:"

// badgerVersionLine is the format of the lines Badger logs after a value
// read error, one for each version of the key, with its value pointer.
const badgerVersionLine = "Key: %v, Version"

func (l *verifyLogger) Errorf(f string, v ...any) {
	switch {
	case strings.HasPrefix(f, badgerReadError):
		if err, ok := v[len(v)-1].(error); ok {
			l.mu.Lock()
			l.err = err
			l.fids = nil
			l.mu.Unlock()
		}
	case strings.HasPrefix(f, badgerVersionLine):
		// Key, version, meta, user meta, value pointer
		// ({Fid:1 Len:1054 Offset:20}).
		if len(v) < 5 {
			return
		}
		version, ok := v[1].(uint64)
		m := vlogFid.FindStringSubmatch(fmt.Sprintf("%+v", v[len(v)-1]))
		if !ok || m == nil {
			return
		}
		fid, _ := strconv.ParseUint(m[1], 10, 32)
		l.mu.Lock()
		if l.fids == nil {
			l.fids = map[uint64]uint64{}
		}
		l.fids[version] = fid
		l.mu.Unlock()
	default:
		l.badgerLogger.Errorf(f, v...)
	}
}

// readErr returns and forgets the last value read error, and the
// value-log file IDs of its key's versions.
func (l *verifyLogger) readErr() (map[uint64]uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err, fids := l.err, l.fids
	l.err, l.fids = nil, nil
	return fids, err
}

// vlogFid finds the value-log file id in Badger's value pointers, as its
// value read errors show them ("value corrupted for vp: {Fid:1 Len:…
// Offset:…}"), and in its error for a missing file ("file with ID: 1 not
// found").
var vlogFid = regexp.MustCompile(`(?:Fid:|file with ID: )(\d+)`)

// add adds d to the report: listed, or counted when VerifyListedPerFile
// records of its file are listed already.
func (v *recordVerifier) add(d Damage) {
	if v.listed[d.File] >= VerifyListedPerFile {
		v.rep.Unlisted[d.File]++
		return
	}
	v.listed[d.File]++
	v.rep.Damaged = append(v.rep.Damaged, d)
}

// addRecord adds the damaged record key at version, whose file is not
// known: looked up after the scan for the first verifyLocateMax.
func (v *recordVerifier) addRecord(d Damage, key []byte, version uint64) {
	if len(v.pending) < verifyLocateMax {
		v.pending = append(v.pending, pendingDamage{Damage: d, key: key, version: version})
		return
	}
	v.add(d)
}

func (v *recordVerifier) scan(ctx context.Context, db *badger.DB, keys int64, progress func(VerifyProgress)) (err error) {
	rep := v.rep
	txn := db.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{})
	defer it.Close()
	var last []byte
	defer func() {
		// Badger panics on some damage its checksums do not cover.
		if r := recover(); r != nil {
			v.rep.Damaged = append(v.rep.Damaged, Damage{What: fmt.Sprintf("Badger panics reading the record after %s (%v); the records after it are not checked", describeKey(last), r)})
			err = nil
		}
	}()
	p := VerifyProgress{Tables: rep.Tables, TablesTotal: rep.Tables, TableBytes: rep.TableBytes, TableBytesTotal: rep.TableBytes, RecordsTotal: keys}
	var reached int64
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		key := item.KeyCopy(nil)
		last = key
		reached++
		if reached%verifyProgressEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if progress != nil {
				p.Records = reached
				progress(p)
			}
		}
		var what string
		var fids map[uint64]uint64
		_, _ = v.log.readErr() // one logged before this read is not this value's
		verr := item.Value(func(val []byte) error {
			var verr error
			if fids, verr = v.log.readErr(); verr != nil {
				return verr
			}
			rep.RecordBytes += int64(len(key) + len(val))
			what = v.check(key, val)
			return nil
		})
		switch {
		case verr != nil:
			rep.RecordsUnread++
			d := Damage{Record: describeKey(key), What: fmt.Sprintf("its value does not read (%v)", verr)}
			if errors.Is(verr, y.ErrEOF) {
				d.What = "its value does not read: its value-log file ends before it (cut short)"
			}
			fid, ok := fids[item.Version()]
			if m := vlogFid.FindStringSubmatch(verr.Error()); !ok && m != nil {
				fid, _ = strconv.ParseUint(m[1], 10, 32)
				ok = true
			}
			if ok {
				d.File = filepath.Join(db.Opts().ValueDir, fmt.Sprintf("%06d.vlog", fid))
				v.add(d)
			} else {
				v.addRecord(d, key, item.Version())
			}
			continue
		case what != "":
			v.addRecord(Damage{Record: describeKey(key), What: what}, key, item.Version())
		}
		rep.Records++
	}
	if progress != nil {
		p.Records = reached
		progress(p)
	}
	return nil
}

// check decodes the record key = val as the store reads it, returning
// what is wrong ("" when it decodes).
func (v *recordVerifier) check(key, val []byte) string {
	if len(key) == 0 {
		return "empty key"
	}
	if key[0] != pModelData {
		v.endModel()
	}
	var err error
	switch key[0] {
	case pFormat:
		if len(key) != 1 || len(val) != 1 || (val[0] != 1 && val[0] != formatVersion) {
			return fmt.Sprintf("format record %x, want 1 or %d", val, formatVersion)
		}
	case pLog:
		if _, _, ok := parseLogKey(key); !ok {
			return "malformed key"
		}
		_, err = decodeBatch(val)
	case pDedup, pOutPending:
		if _, rest, ok := splitNameKey(key); !ok || len(rest) != 8 {
			return "malformed key"
		}
		if key[0] == pDedup && len(val) != 8 {
			return fmt.Sprintf("value of %d bytes, want 8", len(val))
		}
	case pCheckpoint, pFloor, pOutSeq:
		if len(val) != 8 {
			return fmt.Sprintf("value of %d bytes, want 8", len(val))
		}
	case pOutItem:
		if len(key) != 9 {
			return "malformed key"
		}
		_, err = decodeOutboxItem(val)
	case pSchema:
		if len(key) != 5 {
			return "malformed key"
		}
		err = json.Unmarshal(val, &Schema{})
	case pVector, pPred, pEvent:
		name, rest, ok := splitNameKey(key)
		t, tok := keyTime(rest)
		if !ok || !tok || (key[0] == pEvent && len(rest) != 16) || (key[0] != pEvent && len(rest) != 8) {
			return "malformed key"
		}
		switch key[0] {
		case pVector:
			_, err = decodeVector(val)
		case pPred:
			_, err = decodePredictionAt(val, string(name), t)
		default:
			_, err = decodeEvent(val)
		}
	case pEntity:
		_, err = decodeEntity(val)
	case pLatest:
		_, err = decodePrediction(val)
	case pExpl:
		if len(val) < 8 {
			return fmt.Sprintf("explanation of %d bytes, want its 8-byte time and a JSON document", len(val))
		}
		if !json.Valid(val[8:]) {
			return "explanation document is not JSON"
		}
	case pAlert:
		_, err = decodeAlertState(val)
	case pModelMeta:
		var m ModelMeta
		if err = decodeModelMeta(val, &m); err == nil {
			v.models[string(key[1:])] = modelSum{size: m.Size, sum: m.SHA256}
		}
	case pModelData:
		return v.modelChunk(key, val)
	case pRegistry:
		err = json.Unmarshal(val, &registryState{})
	case pLastBackup, pCreated:
		if len(key) != 1 {
			return "malformed key"
		}
		_, err = decodeTimeRecord(val)
	case pStepCursor:
		if len(val) != 9 || val[0] != stepCursorVersion {
			return fmt.Sprintf("step cursor %x, want version %d and 8 bytes", val, stepCursorVersion)
		}
	default:
		return fmt.Sprintf("unknown record kind %q", key[0])
	}
	if err != nil {
		return fmt.Sprintf("does not decode (%v)", err)
	}
	return ""
}

// modelChunk adds a model data chunk to its version's sum.
func (v *recordVerifier) modelChunk(key, val []byte) string {
	name, rest, ok := splitNameKey(key)
	if !ok || len(rest) != 4 {
		return "malformed key"
	}
	if v.cur == nil || v.cur.version != string(name) {
		v.endModel()
		v.cur = &modelData{version: string(name), h: sha256.New()}
	}
	if i := binary.BigEndian.Uint32(rest); i != v.cur.next && v.cur.gap == "" {
		v.cur.gap = fmt.Sprintf("chunk %d follows chunk %d", i, int64(v.cur.next)-1)
	}
	v.cur.next++
	v.cur.size += int64(len(val))
	v.cur.h.Write(val)
	return ""
}

// endModel checks the data of the version whose chunks were read last
// against its metadata (data without metadata is an upload cut short:
// not visible, not damage).
func (v *recordVerifier) endModel() {
	c := v.cur
	if c == nil {
		return
	}
	v.cur = nil
	m, ok := v.models[c.version]
	if !ok {
		return
	}
	m.seen = true
	v.models[c.version] = m
	sum := hex.EncodeToString(c.h.Sum(nil))
	var what string
	switch {
	case c.gap != "":
		what = "data chunks missing: " + c.gap
	case c.size != m.size || sum != m.sum:
		what = fmt.Sprintf("data (%d bytes, sha256 %s) does not match its metadata (%d bytes, sha256 %s)", c.size, sum, m.size, m.sum)
	default:
		return
	}
	// The chunks are spread over tables and value-log files: no one file.
	v.add(Damage{Record: fmt.Sprintf("model %q", c.version), What: what})
}

// finishModels checks the last model read, and that every model whose
// metadata says it has data has some.
func (v *recordVerifier) finishModels() {
	v.endModel()
	versions := make([]string, 0, len(v.models))
	for ver, m := range v.models {
		if !m.seen && m.size > 0 {
			versions = append(versions, ver)
		}
	}
	slices.Sort(versions)
	for _, ver := range versions {
		v.add(Damage{Record: fmt.Sprintf("model %q", ver),
			What: fmt.Sprintf("its data is missing (its metadata says %d bytes)", v.models[ver].size)})
	}
}

// recordKinds names the record kinds by key prefix.
var recordKinds = map[byte]string{
	pFormat: "format version", pLog: "ingest log batch", pDedup: "dedup index", pCheckpoint: "checkpoint",
	pFloor: "dedup floor", pSchema: "vector schema", pVector: "feature vector", pEntity: "entity",
	pEvent: "event", pPred: "prediction", pLatest: "latest prediction", pExpl: "explanation",
	pOutItem: "outbox item", pOutPending: "outbox pending marker", pOutSeq: "outbox sequence",
	pAlert: "alert state", pModelMeta: "model metadata", pModelData: "model data chunk",
	pRegistry: "model registry", pStepCursor: "step cursor", pLastBackup: "last backup time", pCreated: "creation time",
}

// describeKey names a record for an operator: its kind, the name its key
// holds (entity, source, target, version, prediction id), its time, and
// the key in hex.
func describeKey(key []byte) string {
	if len(key) == 0 {
		return "the first record"
	}
	kind, ok := recordKinds[key[0]]
	if !ok {
		kind = fmt.Sprintf("record of kind %q", key[0])
	}
	var parts []string
	switch key[0] {
	case pLog:
		if t, _, ok := parseLogKey(key); ok {
			parts = append(parts, "stored "+time.UnixMilli(t).UTC().Format(time.RFC3339Nano))
		}
	case pDedup, pVector, pEvent, pPred, pOutPending, pModelData:
		if name, rest, ok := splitNameKey(key); ok {
			parts = append(parts, strconv.Quote(string(name)))
			if t, ok := keyTime(rest); ok && key[0] != pDedup && key[0] != pOutPending && key[0] != pModelData {
				parts = append(parts, "at "+time.UnixMilli(t).UTC().Format(time.RFC3339Nano))
			}
		}
	case pCheckpoint, pFloor, pEntity, pLatest, pExpl, pAlert, pModelMeta:
		parts = append(parts, strconv.Quote(string(key[1:])))
	}
	parts = append(parts, fmt.Sprintf("key %x", key))
	return kind + " " + strings.Join(parts, " ")
}

// locateKey returns the table holding key at version (tables newest
// data first, as verifyFiles returns them), or names the memtable logs
// when no table holds it.
func locateKey(dir string, tables []verifyTable, key []byte, version uint64) string {
	if key == nil {
		return ""
	}
	want := y.KeyWithTs(key, version)
	bs := int(badger.DefaultOptions(dir).BlockSize)
	for _, t := range tables {
		found := false
		err := withTable(t.name, t.tm, bs, func(tb *table.Table) error {
			if tb.DoesNotHave(y.Hash(key)) {
				return nil
			}
			it := tb.NewIterator(0)
			defer func() { _ = it.Close() }()
			it.Seek(want)
			found = it.Valid() && bytes.Equal(it.Key(), want)
			return nil
		})
		if err == nil && found {
			return t.name
		}
	}
	if mems, _ := filepath.Glob(filepath.Join(dir, "*.mem")); len(mems) > 0 {
		return strings.Join(mems, ", ") + " (memtable log)"
	}
	return ""
}
