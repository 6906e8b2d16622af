package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/telemetry"
)

// writeBenchStore writes a store of about 100 MB of records at dir and
// closes it: ingest batches (about 60 MB encoded: 1,200 batches of 100
// series × 80 samples), feature vectors of 30 features (200,000: 2,000
// entities × 100 steps), their predictions, and a 10 MB model.
func writeBenchStore(b *testing.B, dir string) {
	b.Helper()
	s, err := Open(Options{Path: dir, NoSync: true, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	const t0 = 1_700_000_000_000
	for i := range 1200 {
		if _, err := s.AppendBatches([]telemetry.Batch{makeBatch(rng, "bench", uint64(i+1), t0+int64(i)*1000, 100, 80)}); err != nil {
			b.Fatal(err)
		}
	}
	names := make([]string, 30)
	for i := range names {
		names[i] = fmt.Sprint("f", i)
	}
	if err := s.PutSchema(names, []string{"fail"}); err != nil {
		b.Fatal(err)
	}
	for e := range 2000 {
		id := fmt.Sprintf("ns-%d/app-%d", e%20, e)
		vs := make([]Vector, 100)
		ps := make([]Prediction, 100)
		for k := range vs {
			vals := make([]float64, len(names))
			for j := range vals {
				if j%3 == 0 {
					vals[j] = rng.Float64()
				} else {
					vals[j] = float64(rng.IntN(4))
				}
			}
			at := t0 + int64(k)*15000
			vs[k] = Vector{Entity: id, T: at, Values: vals, Failure: []bool{false}}
			ps[k] = Prediction{Entity: id, T: at, Prob: rng.Float64(), Anomaly: rng.Float64(), ModelVersion: "m1", Threshold: 0.5}
		}
		if err := s.PutVectors(vs); err != nil {
			b.Fatal(err)
		}
		if err := s.PutPredictions(ps); err != nil {
			b.Fatal(err)
		}
	}
	data := make([]byte, 10<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := s.PutModel("m1", data, ModelMeta{}); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}

// dirSize is the size of the files in dir.
func dirSize(b *testing.B, dir string) int64 {
	b.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += diskUsage(fi)
		}
	}
	return n
}

// BenchmarkBackupRestore backs up a store of about 100 MB (open, as the
// daemon's: Store.Backup) to a file, and restores that file into a new
// store (Restore, synced), reporting each one's throughput in MB of
// backup file per second (MB/s: b.SetBytes) and the sizes.
func BenchmarkBackupRestore(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "src")
	writeBenchStore(b, dir)
	s, err := Open(Options{Path: dir, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	file := filepath.Join(b.TempDir(), "bench.backup")
	backup := func() BackupInfo {
		f, err := os.Create(file)
		if err != nil {
			b.Fatal(err)
		}
		info, err := s.Backup(context.Background(), f, BackupOptions{})
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatal(err)
		}
		return info
	}
	info := backup()
	b.Logf("store %.1f MB on disk, backup %.1f MB, %d records", float64(dirSize(b, dir))/1e6, float64(info.Bytes)/1e6, info.Records)
	b.Run("backup", func(b *testing.B) {
		b.SetBytes(info.Bytes)
		for b.Loop() {
			backup()
		}
	})
	b.Run("restore", func(b *testing.B) {
		b.SetBytes(info.Bytes)
		parent := b.TempDir()
		i := 0
		for b.Loop() {
			f, err := os.Open(file)
			if err != nil {
				b.Fatal(err)
			}
			i++
			to := filepath.Join(parent, fmt.Sprint("r", i))
			if _, err := Restore(context.Background(), f, RestoreOptions{Path: to}); err != nil {
				b.Fatal(err)
			}
			_ = f.Close()
			b.StopTimer()
			if i == 1 {
				b.Logf("restored store %.1f MB on disk", float64(dirSize(b, to))/1e6)
			}
			_ = os.RemoveAll(to)
			b.StartTimer()
		}
	})
}
