package store

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// cutNewestValueLog cuts the newest value-log file of
// the closed store at dir by n bytes (its last record, written last).
func cutNewestValueLog(t *testing.T, dir string, n int64) {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no value log (%v)", err)
	}
	slices.Sort(logs)
	last := logs[len(logs)-1]
	fi, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(last, fi.Size()-n); err != nil {
		t.Fatal(err)
	}
}

// TestOpenCorruptRegistry cuts the value log below the model registry's
// record (over 1 KiB, it lives there): Open failed ("load model
// registry: unexpected end of JSON input") and the store could not be
// opened at all. It now opens with an empty registry, warns naming what
// was lost and the registered versions, counts the record as corrupt, and
// a promotion works and lasts.
func TestOpenCorruptRegistry(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for i := range 30 {
		v := fmt.Sprintf("model-%02d-%s", i, strings.Repeat("x", 40))
		versions = append(versions, v)
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
	cutNewestValueLog(t, dir, 100)

	reopen := func() (*Store, *bytes.Buffer) {
		t.Helper()
		var logs bytes.Buffer
		s, err := Open(Options{Path: dir, Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatalf("Open with a corrupt registry record: %v", err)
		}
		return s, &logs
	}
	s, logs := reopen()
	if v, gen := s.ActiveVersion(); v != "" || gen == 0 {
		t.Errorf("active %q, generation %d; want none, above 0", v, gen)
	}
	if list, err := s.ListModels(); err != nil || len(list) != len(versions) {
		t.Errorf("ListModels: %d models, %v; want %d", len(list), err, len(versions))
	}
	for _, want := range []string{"level=WARN", "model registry reset", "active model", "omen model promote VERSION", versions[29]} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs, want)
		}
	}
	if got := testutil.ToFloat64(s.m.corrupt); got != 1 {
		t.Errorf("omen_store_corrupt_records_total %v, want 1", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The reset was written: the next open finds a sound, empty registry,
	// and a promotion lasts.
	s, logs = reopen()
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("second open warned: %s", logs)
	}
	if err := s.Promote(versions[3]); err != nil {
		t.Fatalf("Promote after the reset: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = reopen()
	defer s.Close() //nolint:errcheck // test
	if v, _ := s.ActiveVersion(); v != versions[3] {
		t.Errorf("active %q after reopening, want %q", v, versions[3])
	}
}

// TestListModelsCorruptMeta cuts the value log below a model's metadata
// record (over 1 KiB with its parameters): ListModels failed as a whole,
// hiding every model; it now lists the others, warns naming the version
// and counts the record, and DeleteModel removes it.
func TestListModelsCorruptMeta(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"v1", "v2"} {
		if err := s.PutModel(v, []byte(v), ModelMeta{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutModel("big", []byte("big"), ModelMeta{Params: map[string]string{"p": strings.Repeat("x", 2000)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cutNewestValueLog(t, dir, 100)

	var logs bytes.Buffer
	s = openTest(t, Options{Path: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	list, err := s.ListModels()
	if err != nil || len(list) != 2 || list[0].Version != "v1" || list[1].Version != "v2" {
		t.Fatalf("ListModels: %+v, %v; want v1 and v2", list, err)
	}
	if !strings.Contains(logs.String(), "model metadata record does not decode") || !strings.Contains(logs.String(), "version=big") {
		t.Errorf("log %q: want a warning naming version big", logs.String())
	}
	if got := testutil.ToFloat64(s.m.corrupt); got != 1 {
		t.Errorf("omen_store_corrupt_records_total %v, want 1", got)
	}
	if err := s.DeleteModel("big"); err != nil {
		t.Fatalf("DeleteModel of the corrupt version: %v", err)
	}
	logs.Reset()
	if list, err := s.ListModels(); err != nil || len(list) != 2 || logs.Len() != 0 {
		t.Errorf("after the delete: %+v, %v, log %q", list, err, logs.String())
	}
}
