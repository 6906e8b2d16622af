package store

import (
	"errors"
	"strings"
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

// TestRegistryChangesBelowReserve: promotions, rollbacks and deletes (one
// small record each) go on below the disk reserve down to half of it, so
// that an operator short of space can back out of a bad model; uploads
// are refused below the reserve. Before, promotions and rollbacks were
// refused below the reserve (507).
func TestRegistryChangesBelowReserve(t *testing.T) {
	s, disk := lowDiskStore(t)
	for _, v := range []string{"v1", "v2", "v3"} {
		if err := s.PutModel(v, []byte(v), ModelMeta{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Promote(v); err != nil {
			t.Fatal(err)
		}
	}
	disk.free.Store(99 << 20) // reserve 100 MiB
	s.checkDisk()
	for _, step := range []struct {
		name string
		do   func() error
	}{
		{"roll back to v2", s.Rollback},
		{"promote v3", func() error { return s.Promote("v3") }},
		{"delete v2", func() error { return s.DeleteModel("v2") }},
		{"roll back to v1", s.Rollback},
	} {
		if err := step.do(); err != nil {
			t.Errorf("%s with 99 MiB free, 100 MiB reserve: %v", step.name, err)
		}
	}
	if a, _ := s.ActiveVersion(); a != "v1" {
		t.Errorf("active %q, want v1", a)
	}
	if err := s.PutModel("v4", []byte("v4"), ModelMeta{}); !errors.Is(err, ErrDiskFull) {
		t.Errorf("upload with 99 MiB free: %v, want ErrDiskFull", err)
	}
	disk.free.Store(49 << 20) // below half the reserve
	if err := s.Promote("v3"); !errors.Is(err, ErrDiskFull) {
		t.Errorf("promote with 49 MiB free: %v, want ErrDiskFull", err)
	}
	if err := s.Rollback(); !errors.Is(err, ErrDiskFull) {
		t.Errorf("roll back with 49 MiB free: %v, want ErrDiskFull", err)
	}
}

// TestOpenRegistryBelowReserve: below the disk reserve Open refuses, but
// OpenRegistry opens down to half of it, for the registry's maintenance
// (before, an offline omen model list or delete could not open the
// store below the reserve): it lists, rolls back and deletes, refuses an
// upload, and refuses to open below half the reserve.
func TestOpenRegistryBelowReserve(t *testing.T) {
	dir := t.TempDir()
	disk := &fakeDisk{}
	disk.free.Store(1 << 30)
	opts := Options{Path: dir, NoSync: true, DiskReserve: 100 << 20, DiskFree: disk.DiskFree}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		if err := s.PutModel(v, []byte(v), ModelMeta{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Promote(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	disk.free.Store(60 << 20)
	if _, err := Open(opts); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Open with 60 MiB free, 100 MiB reserve: %v, want ErrDiskFull", err)
	}
	s = openRegistry(t, opts)
	if ms, err := s.ListModels(); err != nil || len(ms) != 3 {
		t.Errorf("list: %d models, %v; want 3", len(ms), err)
	}
	if err := s.Rollback(); err != nil {
		t.Errorf("roll back: %v", err)
	}
	if err := s.DeleteModel("v3"); err != nil {
		t.Errorf("delete v3: %v", err)
	}
	if err := s.PutModel("v4", []byte("v4"), ModelMeta{}); !errors.Is(err, ErrDiskFull) {
		t.Errorf("upload: %v, want ErrDiskFull", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	disk.free.Store(40 << 20)
	_, err = OpenRegistry(opts)
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "half the reserve") {
		t.Fatalf("OpenRegistry with 40 MiB free, 100 MiB reserve: %v, want ErrDiskFull naming half the reserve", err)
	}
	if strings.Count(err.Error(), "open store") != 1 {
		t.Errorf("error %q says 'open store' more than once", err)
	}
	disk.free.Store(1 << 30)
	s = openRegistry(t, opts)
	if a, _ := s.ActiveVersion(); a != "v2" {
		t.Errorf("active after reopening: %q, want v2", a)
	}
}

func openRegistry(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := OpenRegistry(opts)
	if err != nil {
		t.Fatalf("OpenRegistry: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
