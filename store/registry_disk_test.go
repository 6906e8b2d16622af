package store

import (
	"errors"
	"testing"
	"time"
)

// lowDiskStore opens a store on a fake disk with a 100 MiB reserve and
// 1 GiB free; set disk.free to simulate a full disk.
func lowDiskStore(t *testing.T) (*Store, *fakeDisk) {
	t.Helper()
	disk := &fakeDisk{}
	disk.free.Store(1 << 30)
	s := openTest(t, Options{Path: t.TempDir(), NoSync: true, DiskReserve: 100 << 20, DiskFree: disk.DiskFree, diskInterval: time.Hour})
	return s, disk
}

// TestPutSchemaUnchangedBelowReserve: putting the current schema again
// writes nothing, so it succeeds below the disk reserve (a configuration
// reload that does not change the features); a new schema is refused.
// Before, PutSchema checked the disk first and a reload changing nothing
// failed with ErrDiskFull.
func TestPutSchemaUnchangedBelowReserve(t *testing.T) {
	s, disk := lowDiskStore(t)
	if err := s.PutSchema([]string{"f"}, []string{"l"}); err != nil {
		t.Fatal(err)
	}
	disk.free.Store(99 << 20)
	s.checkDisk()
	if err := s.PutSchema([]string{"f"}, []string{"l"}); err != nil {
		t.Errorf("the same schema below the reserve: %v, want nil (nothing to write)", err)
	}
	if err := s.PutSchema([]string{"f", "g"}, []string{"l"}); !errors.Is(err, ErrDiskFull) {
		t.Errorf("a new schema below the reserve: %v, want ErrDiskFull", err)
	}
	if cur, err := s.Schema(); err != nil || cur.Version != 1 {
		t.Errorf("schema %+v, %v; want version 1 unchanged", cur, err)
	}
}
