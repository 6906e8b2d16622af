package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// ErrDamaged is returned (wrapped) by Open and OpenRegistry when a file of
// the store's database does not read: a table (.sst) that is truncated or
// damaged, a MANIFEST or KEYREGISTRY that does not decode, a value-log
// file (.vlog) shorter than its header or whose header is damaged. The error names
// the file and what to do. Open reads a table's index and last block
// only, not its other blocks: Verify checks those too.
var ErrDamaged = errors.New("damaged")

// ErrInUse is returned (wrapped) by Open and OpenRegistry when another
// process holds the store's directory (another omen run, model or train,
// or omen store verify).
var ErrInUse = errors.New("in use by another process")

// damagedRemedy is what an error wrapping ErrDamaged tells the operator.
func damagedRemedy(dir string) string {
	return fmt.Sprintf("restore %q from a backup (omen store restore) or a copy taken while omen was stopped (what was stored since is lost), "+
		"or move it away to start with an empty store (everything it held is lost; register and promote a model again with omen model add and promote)", dir)
}

// checkFiles reads what badger.Open reads of an existing database at
// dir before handing it the directory: Badger opens the MANIFEST's tables
// in goroutines of its own, where a truncated or damaged table panics
// (slice bounds out of range) and kills the process with a stack trace
// instead of an error. checkFiles opens each table the MANIFEST lists as
// Badger does (its footer, index and last block: the same reads, so about
// the same time again) under a recover, decodes the MANIFEST and
// KEYREGISTRY, and checks each value-log file's header (checkValueLogs),
// so that a damaged file gives an error wrapping ErrDamaged naming it. It holds the directory lock while it reads (a running omen
// compacts and deletes tables), and returns an error wrapping ErrInUse
// when another process holds it. A directory without a MANIFEST is a new
// store: nothing to check.
func checkFiles(dir string, bo badger.Options) error {
	manifest := filepath.Join(dir, badger.ManifestFilename)
	if _, err := os.Stat(manifest); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	return checkFilesLocked(dir, bo)
}

// checkFilesLocked is checkFiles for a caller holding dir's lock
// (BackupDir holds it shared).
func checkFilesLocked(dir string, bo badger.Options) error {
	manifest := filepath.Join(dir, badger.ManifestFilename)
	f, err := os.Open(manifest)
	if err != nil {
		return err // Badger would fail the same way; not damage
	}
	m, _, err := badger.ReplayManifestFile(f, bo.ExternalMagicVersion, bo)
	_ = f.Close()
	if err != nil {
		return fmt.Errorf("%w: %s does not decode (%w); %s", ErrDamaged, manifest, err, damagedRemedy(dir))
	}
	kr, err := badger.OpenKeyRegistry(badger.KeyRegistryOptions{Dir: dir, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%w: %s does not decode (%w); %s", ErrDamaged, filepath.Join(dir, badger.KeyRegistryFileName), err, damagedRemedy(dir))
	}
	damaged, err := checkValueLogs(dir, kr)
	_ = kr.Close()
	if err != nil {
		return err // Badger would fail the same way; not damage
	}
	if len(damaged) > 0 {
		return fmt.Errorf("%w: value-log file %s %s; %s", ErrDamaged, damaged[0].File, damaged[0].What, damagedRemedy(dir))
	}
	for id, tm := range m.Tables {
		name := table.NewFilename(id, dir)
		if err := checkTable(name, tm, bo.BlockSize); err != nil {
			return fmt.Errorf("%w: table %s %w; %s", ErrDamaged, name, err, damagedRemedy(dir))
		}
	}
	return nil
}

// vlogHeaderSize is the size of a value-log file's header: the ID of the
// KEYREGISTRY's data key its values are encrypted with (8 bytes, 0
// without encryption) and an IV (12 bytes).
const vlogHeaderSize = 20

// checkValueLogs checks the header of every value-log file (.vlog) in
// dir: Badger fails to open a file shorter than its header read-only
// ("truncate: invalid argument"), and grows an empty one to its full
// size with a new header when it opens it to write (its values lost
// without a word, the next start succeeding), and a header naming a data
// key the KEYREGISTRY does not hold fails its start ("Invalid datakey
// id"), naming neither the damage nor the remedy. kr is the store's
// KEYREGISTRY (nil when it does not decode: the sizes are checked). The
// damage found is returned, each with the file and what is wrong; the
// error is for a file that does not read for another reason.
func checkValueLogs(dir string, kr *badger.KeyRegistry) ([]Damage, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		return nil, err
	}
	// names are sorted: the last is the newest file (%06d.vlog).
	var damaged []Damage
	for i, name := range names {
		what, err := checkValueLog(name, kr, i == len(names)-1)
		if err != nil {
			return damaged, err
		}
		if what != "" {
			damaged = append(damaged, Damage{File: name, What: what})
		}
	}
	return damaged, nil
}

// checkValueLog checks the header of the value-log file name, returning
// what is wrong with it ("" when nothing). newest says name is the
// store's newest value-log file, which an omen stopped while Badger
// created it leaves empty.
func checkValueLog(name string, kr *badger.KeyRegistry, newest bool) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("open value-log file %q: %w", name, err)
	}
	defer func() { _ = f.Close() }()
	var h [vlogHeaderSize]byte
	n, err := io.ReadFull(f, h[:])
	switch {
	case n == 0 && newest && errors.Is(err, io.EOF):
		return emptyNewestValueLog(name), nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("is %d bytes, less than its %d-byte header (emptied or cut short: the values it held are lost)", n, vlogHeaderSize), nil
	case err != nil:
		return "", fmt.Errorf("read value-log file %q: %w", name, err)
	}
	if kr == nil {
		return "", nil
	}
	if id := binary.BigEndian.Uint64(h[:8]); id != 0 {
		if _, err := kr.DataKey(id); err != nil {
			return fmt.Sprintf("has a damaged header: it names encryption key %d, which the KEYREGISTRY does not hold (the store is not encrypted)", id), nil
		}
	}
	return "", nil
}

// emptyNewestValueLog is what is wrong with the store's newest value-log
// file name, empty. An omen killed while Badger created it (at a
// value-log rotation), or a machine that stopped before the file's size
// reached the disk, leaves it so, holding no value; one emptied otherwise
// lost the values it held, which records may still point to. Nothing in
// the directory tells the two apart before a read-write open (the
// memtable log such a stop leaves is replayed only by one), so the start
// stops here. Deleting the file, the obvious fix, is not safe: Badger
// then gives the next value-log file its number, and a record whose value
// the emptied file held reads whatever new value lies at its offset as
// its own (TestEmptyNewestValueLogRemedy). A file with its 20-byte header
// (zero: the store is not encrypted, and Badger's own new files start so)
// is one Badger opens and writes no more (it starts the next file): a
// record whose value it held fails to read, and omen store verify names
// it with the file.
func emptyNewestValueLog(name string) string {
	return fmt.Sprintf("is empty (0 bytes). It is the newest value-log file: an omen killed while Badger created it (at a value-log rotation), "+
		"or a machine that stopped before the file's size reached the disk, leaves it so, holding no value; one emptied otherwise lost the values it held. "+
		"Do not delete it (Badger would give its number to the next value-log file, and the records whose values it held would read new values as theirs): "+
		"give it its %d-byte header (truncate -s %d %s), open the store once (omen model list --storage.path PATH), "+
		"then omen store verify --storage.path PATH lists the records whose values it held (none: nothing was lost)",
		vlogHeaderSize, vlogHeaderSize, name)
}

// checkTable opens the table file name as Badger's Open does, turning a
// panic into an error; the error reads after the file's name.
func checkTable(name string, tm badger.TableManifest, blockSize int) error {
	return withTable(name, tm, blockSize, nil)
}

// withTable opens the table file name as Badger's Open does and calls fn
// (if non-nil) on it, turning a panic in either into an error; the error
// reads after the file's name. The table is closed when it returns (not
// deleted).
func withTable(name string, tm badger.TableManifest, blockSize int, fn func(*table.Table) error) (err error) {
	mf, err := z.OpenMmapFile(name, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errors.New("is missing")
		}
		return fmt.Errorf("does not open (%w)", err)
	}
	var t *table.Table
	defer func() {
		// Badger's panic value is a dump of the table's footer or a
		// slice's bounds, no use to an operator.
		if r := recover(); r != nil {
			err = errors.New("is truncated or damaged (Badger panics reading it)")
			if t != nil {
				_ = t.Close(-1)
			} else {
				_ = mf.Close(-1)
			}
		}
	}()
	t, err = table.OpenTable(mf, table.Options{Compression: tm.Compression, BlockSize: blockSize})
	if err != nil {
		// OpenTable closed mf, but for a damaged index (Badger leaves it
		// mapped: a few pages until the process ends).
		t = nil
		return fmt.Errorf("is damaged (%w)", err)
	}
	if fn != nil {
		if err := fn(t); err != nil {
			_ = t.Close(-1)
			return err
		}
	}
	return t.Close(-1) // not DecrRef: that deletes the file
}
