package app

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// TestBackupRunningDaemon backs up a running daemon's store through its
// API (POST /api/v1/store/backup) while it ingests, restores the backup
// into another storage path, and starts a daemon there: it scores with
// the model that was active, can roll back to the one before, and holds
// the feature history and the ingest log that were backed up.
func TestBackupRunningDaemon(t *testing.T) {
	ctx := context.Background()
	a := startApp(t, t.TempDir(), nil)
	c := &api.Client{URL: "http://" + a.Addr()}
	names := a.FeatureNames()
	if _, err := c.AddModel(ctx, modelFile(t, names, "vA", 1), api.AddOptions{Promote: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddModel(ctx, modelFile(t, names, "vB", 2), api.AddOptions{Promote: true}); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-4 * time.Minute).Truncate(5 * time.Second)
	var payloads [][]byte
	for r := range 40 {
		payloads = append(payloads, podLines(r, start.Add(time.Duration(r)*5*time.Second), 3))
	}
	publish(t, a.NATSURL(), "omen.metrics.influx", payloads...)
	waitFor(t, "feature vectors", 30*time.Second, func() bool {
		n, _ := countVectors(t, a.Store(), "shop/cart-1")
		return n > 0
	})

	var buf bytes.Buffer
	if _, err := c.Backup(ctx, &buf); err != nil {
		t.Fatalf("backup through the API: %v", err)
	}
	info, err := store.CheckBackup(ctx, bytes.NewReader(buf.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backup: %d records, %d bytes", info.Records, info.Bytes)

	dir := t.TempDir()
	bdir := filepath.Join(dir, "badger")
	if _, err := store.Restore(ctx, &buf, store.RestoreOptions{Path: bdir}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if rep, err := store.Verify(ctx, store.VerifyOptions{Path: bdir}); err != nil || rep.DamagedCount() > 0 || rep.RecordsSkipped != "" {
		t.Fatalf("verify the restored store: %+v, %v", rep, err)
	}
	b := startApp(t, dir, nil)
	if _, v := b.scorer.Model(); v != "vB" {
		t.Errorf("restored daemon scores with %q, want vB", v)
	}
	if n, _ := countVectors(t, b.Store(), "shop/cart-1"); n == 0 {
		t.Error("restored daemon holds no feature vectors of shop/cart-1")
	}
	if batches, _ := countBatches(t, b.Store()); batches == 0 {
		t.Error("restored daemon holds no ingest log")
	}
	bc := &api.Client{URL: "http://" + b.Addr()}
	var mv api.ModelVersion
	if _, err := bc.Do(ctx, "POST", api.RollbackPath, &mv); err != nil || mv.Version != "vA" {
		t.Errorf("roll back on the restored daemon: %+v, %v; want vA", mv, err)
	}
}

// TestBackupStopsWithDaemon: a daemon stopping stops a backup in flight
// (the client's copy is cut), where the HTTP server's shutdown waited for
// it to finish, holding Stop for up to ShutdownTimeout. The client reads
// a 40 MB backup slowly (about 6 s), and the daemon is stopped after its
// first MB: without the stop, the backup completes well within the
// shutdown timeout (20 s).
func TestBackupStopsWithDaemon(t *testing.T) {
	a := startApp(t, t.TempDir(), nil)
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 40<<20) // incompressible
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := a.Store().PutModel("big", data, store.ModelMeta{}); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Post("http://"+a.Addr()+api.BackupPath, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("backup: %s", resp.Status)
	}
	stopped := make(chan error, 1)
	var n int64
	buf := make([]byte, 64<<10)
	for {
		m, err := io.ReadFull(resp.Body, buf)
		n += int64(m)
		if err != nil { // the end, or the abort
			break
		}
		if n == 1<<20 {
			go func() { stopped <- a.Stop(context.Background()) }()
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := <-stopped; err != nil {
		t.Errorf("stop: %v", err)
	}
	if n >= int64(len(data)) {
		t.Errorf("read %d bytes of a backup of %d bytes of model data: want it cut", n, len(data))
	}
}
