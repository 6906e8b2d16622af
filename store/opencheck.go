package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// ErrDamaged is returned (wrapped) by Open and OpenRegistry when a file of
// the store's database does not read: a table (.sst) that is truncated or
// damaged, a MANIFEST or KEYREGISTRY that does not decode. The error names
// the file and what to do. Open reads a table's index and last block
// only, not its other blocks: Verify checks those too.
var ErrDamaged = errors.New("damaged")

// ErrInUse is returned (wrapped) by Open and OpenRegistry when another
// process holds the store's directory (another omen run, model or train).
var ErrInUse = errors.New("in use by another process")

// damagedRemedy is what an error wrapping ErrDamaged tells the operator.
func damagedRemedy(dir string) string {
	return fmt.Sprintf("restore %q from a copy taken while omen was stopped (what was stored since that copy is lost), "+
		"or move it away to start with an empty store (everything it held is lost; register and promote a model again with omen model add and promote)", dir)
}

// checkFiles reads what badger.Open reads of an existing database at
// dir before handing it the directory: Badger opens the MANIFEST's tables
// in goroutines of its own, where a truncated or damaged table panics
// (slice bounds out of range) and kills the process with a stack trace
// instead of an error. checkFiles opens each table the MANIFEST lists as
// Badger does (its footer, index and last block: the same reads, so about
// the same time again) under a recover, and decodes the MANIFEST and
// KEYREGISTRY, so that a damaged file gives an error wrapping ErrDamaged
// naming it. It holds the directory lock while it reads (a running omen
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
	_ = kr.Close()
	for id, tm := range m.Tables {
		name := table.NewFilename(id, dir)
		if err := checkTable(name, tm, bo.BlockSize); err != nil {
			return fmt.Errorf("%w: table %s %w; %s", ErrDamaged, name, err, damagedRemedy(dir))
		}
	}
	return nil
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
