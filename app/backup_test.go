package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/internal/testenv"
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
	size := putBigModel(t, a)
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
	if n >= size {
		t.Errorf("read %d bytes of a backup of %d bytes of model data: want it cut", n, size)
	}
}

// putBigModel registers a model of 40 MB of incompressible data in a's
// store (its backup is more than a connection's buffers hold) and
// returns its size.
func putBigModel(t *testing.T, a *App) int64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 40<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := a.Store().PutModel("big", data, store.ModelMeta{}); err != nil {
		t.Fatal(err)
	}
	return int64(len(data))
}

// TestBackupStalledClientStop: a backup client that stops reading (its
// connection open, the daemon's write to it blocked) does not hold up
// Stop: the daemon stopping ends that write at once, so that the HTTP
// server's shutdown finishes and Stop returns without error, well within
// the shutdown timeout. Without it, the shutdown waited the whole
// timeout for the handler, and Stop failed ("components still running
// after the shutdown timeout").
func TestBackupStalledClientStop(t *testing.T) {
	const shutdownTimeout = 10 * time.Second
	a := startApp(t, t.TempDir(), func(o *Options) { o.ShutdownTimeout = shutdownTimeout })
	putBigModel(t, a)
	conn := testenv.DialStalling(t, a.Addr())
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", api.BackupPath)
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("backup: %s", resp.Status)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 64<<10); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing more: the daemon fills the connection's
	// buffers and blocks in a write (it is blocked by the time Stop is
	// called on any machine that runs this test in time; if it were not,
	// the backup would stop at its next write and the test pass anyway).
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if err := a.Stop(context.Background()); err != nil {
		t.Errorf("Stop with a stalled backup client: %v (after %v; shutdown timeout %v)", err, time.Since(start).Round(time.Millisecond), shutdownTimeout)
	}
	t.Logf("Stop took %v with a stalled backup client", time.Since(start).Round(time.Millisecond))
}

// scrapeGauge reads the value of the unlabelled gauge name from the
// daemon's /metrics, as Prometheus scrapes it.
func scrapeGauge(t *testing.T, a *App, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + a.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v float64
		if _, err := fmt.Sscanf(sc.Text(), name+" %g", &v); err == nil {
			return v
		}
	}
	t.Fatalf("/metrics has no %s (%v)", name, sc.Err())
	return 0
}

// TestBackupTimeAfterRestart: a daemon restarted on its store exports
// the last successful backup's time and the store's creation time from
// its start (the success gauge was 0 until the first backup since the
// start, so OmenBackupStale started its grace over at each restart).
func TestBackupTimeAfterRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := startApp(t, dir, nil)
	created := scrapeGauge(t, a, "omen_store_created_timestamp_seconds")
	if ok := scrapeGauge(t, a, "omen_store_backup_last_success_timestamp_seconds"); ok != 0 || created == 0 {
		t.Fatalf("new store: last success %v, created %v; want 0 and its creation", ok, created)
	}
	if _, err := (&api.Client{URL: "http://" + a.Addr()}).Backup(ctx, io.Discard); err != nil {
		t.Fatal(err)
	}
	last := scrapeGauge(t, a, "omen_store_backup_last_success_timestamp_seconds")
	if last < created {
		t.Fatalf("after a backup: last success %v, created %v", last, created)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	b := startApp(t, dir, nil)
	if ok, c := scrapeGauge(t, b, "omen_store_backup_last_success_timestamp_seconds"), scrapeGauge(t, b, "omen_store_created_timestamp_seconds"); ok != last || c != created {
		t.Errorf("restarted: last success %v, created %v; want %v and %v", ok, c, last, created)
	}
}
