package api_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
)

// backupClient is an API client with a transport of its own, its idle
// connections closed in t.Cleanup (goleak).
func backupClient(t *testing.T, url, token string) *api.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &api.Client{URL: url, Token: token, HTTPClient: &http.Client{Transport: tr}}
}

// TestBackupEndpoint backs up a store through the API: behind the
// token, POST only (a browser's cross-site POST refused), and the
// backup restores into a store holding the model registered.
func TestBackupEndpoint(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.PutModel("m1", []byte("model data"), store.ModelMeta{}); err != nil {
		t.Fatal(err)
	}
	if err := st.Promote("m1"); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, &api.MemBackend{}, api.Options{Backup: st, Token: "secret"})

	if _, err := backupClient(t, srv.URL, "").Backup(t.Context(), io.Discard); !strings.Contains(fmtErr(err), "401") {
		t.Errorf("backup without the token: %v; want 401", err)
	}
	if code, _ := get(t, http.MethodGet, srv.URL+api.BackupPath, "secret"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", code)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+api.BackupPath, nil)
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	c := backupClient(t, srv.URL, "secret")
	if resp, err := c.HTTPClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %v, %v; want 403", resp, err)
	} else {
		_ = resp.Body.Close()
	}

	var buf bytes.Buffer
	n, err := c.Backup(t.Context(), &buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup: %d bytes, %v", n, err)
	}
	info, err := store.CheckBackup(t.Context(), bytes.NewReader(buf.Bytes()), nil)
	if err != nil || info.Records < 3 {
		t.Fatalf("CheckBackup: %+v, %v", info, err)
	}
	dir := filepath.Join(t.TempDir(), "badger")
	if _, err := store.Restore(t.Context(), &buf, store.RestoreOptions{Path: dir, Store: store.Options{NoSync: true}}); err != nil {
		t.Fatal(err)
	}
	restored, err := store.Open(store.Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if v, _ := restored.ActiveVersion(); v != "m1" {
		t.Errorf("restored active model %q, want m1", v)
	}

	// A daemon without the endpoint: the client says the route is not
	// there.
	none := newServer(t, &api.MemBackend{}, api.Options{})
	if _, err := backupClient(t, none.URL, "").Backup(t.Context(), io.Discard); !errors.Is(err, api.ErrNoRoute) {
		t.Errorf("backup of an omen without the endpoint: %v; want ErrNoRoute", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// blockingBackup writes part of a backup, then waits for release (or
// its context), then fails or finishes.
type blockingBackup struct {
	started chan struct{}
	release chan struct{}
	fail    error
}

func (b blockingBackup) Backup(ctx context.Context, w io.Writer, _ store.BackupOptions) (store.BackupInfo, error) {
	if _, err := w.Write([]byte("OMENBKUP partial")); err != nil {
		return store.BackupInfo{}, err
	}
	close(b.started)
	select {
	case <-b.release:
	case <-ctx.Done():
		return store.BackupInfo{}, ctx.Err()
	}
	return store.BackupInfo{}, b.fail
}

// TestBackupOneAtATime: a backup asked for while one runs is refused,
// 503 busy with a Retry-After; and a backup that fails once begun
// aborts the connection, so that the client sees an error, not an end.
func TestBackupOneAtATime(t *testing.T) {
	b := blockingBackup{started: make(chan struct{}), release: make(chan struct{}), fail: errors.New("value log damaged")}
	srv := newServer(t, &api.MemBackend{}, api.Options{Backup: b})
	c := backupClient(t, srv.URL, "")
	done := make(chan error, 1)
	go func() {
		_, err := c.Backup(context.Background(), io.Discard)
		done <- err
	}()
	<-b.started
	resp, err := c.HTTPClient.Post(srv.URL+api.BackupPath, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"busy"`) {
		t.Errorf("second backup: %d, Retry-After %q, %s; want 503 busy with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	close(b.release)
	if err := <-done; err == nil {
		t.Error("Backup of a backup that failed mid-stream: no error")
	}
}

// recordingBackup is a store's backup that reports how it ended.
type recordingBackup struct {
	st    *store.Store
	ended chan error
}

func (r recordingBackup) Backup(ctx context.Context, w io.Writer, opts store.BackupOptions) (store.BackupInfo, error) {
	info, err := r.st.Backup(ctx, w, opts)
	r.ended <- err
	return info, err
}

// TestBackupClientGone: a client that goes away mid-stream ends the
// server's backup (it returns an error, long before it could have
// finished: the client read 1 KiB of about 40 MB, more than the
// connection's buffers hold), and no goroutine is left (goleak). The
// backup is canceled, an expected end: it counts as canceled, not
// failed, and is logged in one line at INFO, with no warning (Badger's
// "Error while sending: context canceled" was one) or error.
func TestBackupClientGone(t *testing.T) {
	var logs testenv.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	reg := prometheus.NewRegistry()
	rb := recordingBackup{st: bigModelStore(t, 40<<20, store.Options{Logger: logger, Registerer: reg}), ended: make(chan error, 1)}
	srv := newServer(t, &api.MemBackend{}, api.Options{Backup: rb, Logger: logger})
	c := backupClient(t, srv.URL, "")
	ctx, cancel := context.WithCancel(t.Context())
	r, w := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := c.Backup(ctx, w)
		w.CloseWithError(err)
	}()
	if _, err := io.ReadFull(r, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	cancel()
	_ = r.Close()
	wg.Wait()
	select {
	case err := <-rb.ended:
		if err == nil {
			t.Error("the server's backup finished; want it stopped by the client going away")
		}
	case <-time.After(time.Minute):
		t.Fatal("the server's backup still runs a minute after its client went away")
	}
	srv.Close() // the handler has returned: its line is logged
	checkBackupResults(t, reg, map[string]float64{"success": 0, "failed": 0, "canceled": 1})
	out := logs.String()
	if n := strings.Count(out, "\n"); n != 1 || !strings.Contains(out, `level=INFO msg="store backup canceled" reason="the client went away"`) {
		t.Errorf("log of a backup whose client went away: want one line at INFO, store backup canceled:\n%s", out)
	}
}

// checkBackupResults checks omen_store_backups_total by result.
func checkBackupResults(t *testing.T, reg *prometheus.Registry, want map[string]float64) {
	t.Helper()
	got := map[string]float64{}
	for r := range want {
		got[r] = counterValue(t, reg, "omen_store_backups_total", map[string]string{"result": r})
	}
	if !maps.Equal(got, want) {
		t.Errorf("omen_store_backups_total by result: %v; want %v", got, want)
	}
}

// counterValue is the value of the counter name{labels} that reg
// gathers (0: none).
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			if maps.Equal(have, labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// waitingBackup is a store's backup that writes nothing until its
// context ends, then returns its error.
type waitingBackup struct{ started chan struct{} }

func (b waitingBackup) Backup(ctx context.Context, _ io.Writer, _ store.BackupOptions) (store.BackupInfo, error) {
	close(b.started)
	<-ctx.Done()
	return store.BackupInfo{}, fmt.Errorf("back up store: %w", ctx.Err())
}

// TestBackupCanceledBeforeFirstByte: a backup canceled before its first
// byte answers 503 unavailable when omen stops (Options.Stop), 499
// when the client went away (which no one reads: the requests metric
// counts it), and is logged in one line at INFO saying why.
func TestBackupCanceledBeforeFirstByte(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stop     bool // omen stops, else the client goes away
		code     string
		wantBody string
		wantLog  string
	}{
		{"omen stopping", true, "503", `"unavailable"`, `level=INFO msg="store backup canceled" reason="omen is stopping"`},
		{"client gone", false, "499", "", `level=INFO msg="store backup canceled" reason="the client went away"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs testenv.SyncBuffer
			reg := prometheus.NewRegistry()
			stop, stopNow := context.WithCancel(t.Context())
			defer stopNow()
			b := waitingBackup{started: make(chan struct{})}
			srv := newServer(t, &api.MemBackend{}, api.Options{Backup: b, Stop: stop, Registerer: reg,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			c := backupClient(t, srv.URL, "")
			ctx, leave := context.WithCancel(t.Context())
			defer leave()
			done := make(chan error, 1)
			go func() {
				_, err := c.Backup(ctx, io.Discard)
				done <- err
			}()
			<-b.started
			if tc.stop {
				stopNow()
			} else {
				leave()
			}
			err := <-done
			if tc.wantBody != "" {
				if ae := (*api.Error)(nil); !errors.As(err, &ae) || ae.StatusCode != 503 || ae.Type != "unavailable" {
					t.Errorf("backup: %v; want 503 unavailable", err)
				}
			}
			srv.Close() // waits for the handler
			if n := counterValue(t, reg, "omen_api_requests_total", map[string]string{"handler": "store_backup", "code": tc.code}); n != 1 {
				t.Errorf("omen_api_requests_total{handler=store_backup,code=%s} = %v; want 1", tc.code, n)
			}
			out := logs.String()
			if strings.Count(out, "\n") != 1 || !strings.Contains(out, tc.wantLog) {
				t.Errorf("log: want one line, %s:\n%s", tc.wantLog, out)
			}
		})
	}
}

// stopWaitingBackup is a store's backup that writes a byte, signals
// started, waits for stopped to close, then writes a byte at a time (up
// to 1000) until a write fails, counting those that do not in after.
type stopWaitingBackup struct {
	started chan struct{}
	stopped <-chan struct{}
	after   *atomic.Int64
}

func (b stopWaitingBackup) Backup(_ context.Context, w io.Writer, _ store.BackupOptions) (store.BackupInfo, error) {
	if _, err := w.Write([]byte{1}); err != nil {
		return store.BackupInfo{}, err
	}
	close(b.started)
	<-b.stopped
	for range 1000 {
		if _, err := w.Write([]byte{1}); err != nil {
			return store.BackupInfo{}, fmt.Errorf("back up store: %w", err)
		}
		b.after.Add(1)
	}
	return store.BackupInfo{}, nil
}

// TestBackupStopsWhenOmenStops: omen stopping (Options.Stop) fails a
// backup's next write at once, and the client's copy is cut. Options.Stop
// cancels the backup's context from a goroutine of its own, a little
// later (heldStop holds that gap open): the writes in the gap went to
// the client, the whole backup when held.
func TestBackupStopsWhenOmenStops(t *testing.T) {
	stop, stopNow, _ := newHeldStop(t)
	var after atomic.Int64
	b := stopWaitingBackup{started: make(chan struct{}), stopped: stop.Context.Done(), after: &after}
	srv := newServer(t, &api.MemBackend{}, api.Options{Backup: b, Stop: stop,
		Logger: slog.New(slog.DiscardHandler)})
	c := backupClient(t, srv.URL, "")
	done := make(chan error, 1)
	go func() {
		_, err := c.Backup(t.Context(), io.Discard)
		done <- err
	}()
	<-b.started
	stopNow()
	if err := <-done; err == nil {
		t.Error("backup: nil error; want its copy cut")
	}
	srv.Close() // waits for the handler
	if n := after.Load(); n != 0 {
		t.Errorf("%d writes of the backup went on after omen stopped, want 0", n)
	}
}

// deadlineBackup is a store's backup that writes a byte, then returns
// a context's deadline error, as the store's when its context's
// deadline passes.
type deadlineBackup struct{}

func (deadlineBackup) Backup(_ context.Context, w io.Writer, _ store.BackupOptions) (store.BackupInfo, error) {
	if _, err := w.Write([]byte{1}); err != nil {
		return store.BackupInfo{}, err
	}
	return store.BackupInfo{}, fmt.Errorf("back up store: %w", context.DeadlineExceeded)
}

// TestBackupDeadlineCanceled: a backup that ends on its context's
// deadline is canceled, as the store's metric counts it
// (store.IsCanceled): logged in one line at INFO, not as a failure at
// ERROR, and the client's copy is cut.
func TestBackupDeadlineCanceled(t *testing.T) {
	var logs testenv.SyncBuffer
	srv := newServer(t, &api.MemBackend{}, api.Options{Backup: deadlineBackup{},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if _, err := backupClient(t, srv.URL, "").Backup(t.Context(), io.Discard); err == nil {
		t.Error("backup: nil error; want its copy cut")
	}
	srv.Close() // waits for the handler
	out := logs.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, `level=INFO msg="store backup canceled" reason="its deadline passed"`) {
		t.Errorf("log of a backup whose deadline passed: want one line at INFO, store backup canceled:\n%s", out)
	}
}

// bigModelStore is a store on disk holding a model of size bytes of
// incompressible data (40 MB: its backup is more than a connection's
// buffers hold).
func bigModelStore(t *testing.T, size int, opts store.Options) *store.Store {
	t.Helper()
	opts.Path, opts.NoSync = t.TempDir(), true
	st, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := st.PutModel("big", data, store.ModelMeta{}); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestBackupStalledClient: a client that stops reading a backup (its
// connection open, its receive buffer full) has it cut after the write
// timeout: the store's backup returns (its read transaction ends, a
// write deadline's error), and the slot is free for the next backup,
// which another client then takes whole. Without a write deadline the
// backup waited on that client for ever, and every other got 503. The
// stalled backup failed (it is no cancellation, though net/http cancels
// the request's context as the write fails): it counts as failed and
// omen warns that the client read nothing.
//
// The next backup is of the store without its big model (deleted once
// the stalled backup ended): a few KiB, which the connection's buffers
// take whole, so that no write of it waits on its client. The write
// timeout of 200ms holds for it too, and a backup of 40 MB to a client
// that reads it, but not in time (one paused 200ms as its buffer grew
// from 16 to 32 MB, under -race on a loaded machine), was cut as well.
func TestBackupStalledClient(t *testing.T) {
	var logs testenv.SyncBuffer
	reg := prometheus.NewRegistry()
	st := bigModelStore(t, 40<<20, store.Options{Registerer: reg})
	rb := recordingBackup{st: st, ended: make(chan error, 1)}
	srv := newServer(t, &api.MemBackend{}, api.Options{Backup: rb, WriteTimeout: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	conn := testenv.DialStalling(t, srv.Listener.Addr().String())
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", api.BackupPath)
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("backup: %s", resp.Status)
	}
	// The client reads nothing more.
	select {
	case err := <-rb.ended:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the server's backup ended with %v; want a write deadline's error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server's backup still runs 30 s after its client stopped reading (write timeout 200ms)")
	}
	if err := st.DeleteModel("big"); err != nil {
		t.Fatal(err)
	}
	// The handler frees the slot just after the store's backup returned:
	// a backup asked for at once may still find it busy.
	var buf bytes.Buffer
	c := backupClient(t, srv.URL, "")
	for deadline := time.Now().Add(30 * time.Second); ; {
		buf.Reset()
		_, err := c.Backup(t.Context(), &buf)
		if ae := (*api.Error)(nil); errors.As(err, &ae) && ae.Type == "busy" && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("a backup after the stalled one: %v", err)
		}
		break
	}
	<-rb.ended
	if n := buf.Len(); n > 16<<10 {
		t.Errorf("the backup after the stalled one: %d bytes; want at most 16 KiB, which no write waits on the client for", n)
	}
	if _, err := store.CheckBackup(t.Context(), &buf, nil); err != nil {
		t.Errorf("the backup after the stalled one: %v", err)
	}
	checkBackupResults(t, reg, map[string]float64{"success": 1, "failed": 1, "canceled": 0})
	if out := logs.String(); !strings.Contains(out, `level=WARN msg="store backup stopped: the client read nothing for the write timeout`) {
		t.Errorf("log of a stalled client's backup: want its warning:\n%s", out)
	}
}
