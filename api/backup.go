package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/omen-sre/omen/store"
)

// StoreBackuper writes a backup of the daemon's store for the API's
// backup endpoint; *store.Store implements it. Backup writes the whole
// backup to w and stops when ctx ends or a write to w fails, returning
// the error (what it wrote then lacks the backup's trailer).
type StoreBackuper interface {
	Backup(ctx context.Context, w io.Writer, opts store.BackupOptions) (store.BackupInfo, error)
}

// BackupPath is the API path that streams a backup of the daemon's store
// (POST).
const BackupPath = "/api/v1/store/backup"

// BackupContentType is the content type of a backup.
const BackupContentType = "application/vnd.omen.backup"

// backupRetryAfter is the Retry-After of a backup refused because one
// is running.
const backupRetryAfter = "60"

func (a *API) backupRoutes() []route {
	if a.opts.Backup == nil {
		return nil
	}
	return []route{{[]string{"POST"}, BackupPath, "store_backup", a.storeBackup}}
}

// storeBackup streams a backup of the store, one at a time. Once the
// backup has begun (200 sent), a failure cannot be answered: the
// connection is aborted, so that a client reading it (curl too) sees the
// transfer fail, and what it got lacks the trailer Restore checks. The
// backup stops when the client goes away, when Options.Stop ends, or when
// a write waits Options.WriteTimeout on a client that reads nothing: a
// stalled client holds neither the store's read transaction nor the backup
// slot for longer, nor the daemon's stop.
func (a *API) storeBackup(w http.ResponseWriter, r *http.Request) {
	select {
	case a.backups <- struct{}{}:
		defer func() { <-a.backups }()
	default:
		w.Header().Set("Retry-After", backupRetryAfter)
		writeError(w, http.StatusServiceUnavailable, "busy", errors.New("a backup of the store is running: one runs at a time, retry once it is done"))
		return
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if a.opts.Stop != nil {
		defer context.AfterFunc(a.opts.Stop, cancel)()
	}
	bw := &backupResponse{w: w, rc: http.NewResponseController(w), timeout: a.opts.WriteTimeout,
		name: "omen-" + start.UTC().Format("20060102T150405Z") + ".backup", stopping: a.stopping}
	// The backup's context ending ends a write waiting on the client at
	// once (the store checks the context only between writes). Options.Stop
	// cancels ctx from a goroutine of its own, a little later: each write
	// checks the stop itself first (stopping), so that none begins after it.
	defer context.AfterFunc(ctx, bw.abort)()
	info, err := a.opts.Backup.Backup(ctx, bw, store.BackupOptions{})
	aborted := bw.close()
	if err != nil {
		// Canceled: the backup's context ended (the client went away, omen
		// is stopping), or the connection broke under a write (the
		// client went away); the store's error is then a context's.
		// Expected: one line at INFO. store.IsCanceled, as the store's
		// metric counts it.
		canceled := store.IsCanceled(err)
		if canceled {
			why := "the client went away"
			switch {
			case a.stopping():
				why = "omen is stopping"
			case errors.Is(err, context.DeadlineExceeded):
				why = "its deadline passed"
			}
			a.logger.Info("store backup canceled", "reason", why, "bytes", bw.n, "duration", time.Since(start).Round(time.Millisecond), "err", err)
		}
		if a.stopping() {
			err = fmt.Errorf("omen is stopping: %w (%w)", err, ErrUnavailable)
		}
		if bw.n == 0 {
			if aborted {
				_ = bw.rc.SetWriteDeadline(time.Now().Add(a.opts.WriteTimeout))
			}
			a.backendError(w, r, fmt.Errorf("back up the store: %w", err))
			return
		}
		switch {
		case canceled:
		case errors.Is(err, os.ErrDeadlineExceeded):
			a.logger.Warn("store backup stopped: the client read nothing for the write timeout; the response is cut", "bytes", bw.n,
				"write_timeout", a.opts.WriteTimeout, "duration", time.Since(start).Round(time.Millisecond), "err", err)
		default:
			a.logger.Error("store backup failed; the response is cut (the client's copy lacks its trailer)", "bytes", bw.n, "err", err)
		}
		// http.ErrAbortHandler is net/http's way to end a response
		// without terminating it: not a crash, and not logged.
		panic(http.ErrAbortHandler)
	}
	a.logger.Info("store backup sent", "records", info.Records, "bytes", info.Bytes, "sha256", info.SHA256,
		"duration", time.Since(start).Round(time.Millisecond))
}

// stopping reports whether Options.Stop has ended: the daemon stops.
func (a *API) stopping() bool { return a.opts.Stop != nil && a.opts.Stop.Err() != nil }

// backupResponse writes a backup to the response, setting its headers
// before the first byte and a write deadline (timeout) before each
// backupWriteChunk bytes. Abort ends a write in progress and fails those
// after it; mu orders it with the deadlines the writes set, so that none
// outlives it.
type backupResponse struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	timeout  time.Duration
	name     string
	stopping func() bool // omen stops: writes fail, as after abort
	n        int64

	mu        sync.Mutex
	aborted   bool      // abort ran: writes fail
	abortedAt time.Time // when abort ran
	closed    bool      // the backup returned: abort does nothing
}

// errBackupAborted is a write's error once the backup's context ended:
// the backup was canceled.
var errBackupAborted = fmt.Errorf("the backup's response was aborted: %w", context.Canceled)

// errClientGone wraps the error of a write that found the connection
// closed or reset by the client: the backup was canceled.
var errClientGone = fmt.Errorf("the client went away: %w", context.Canceled)

// backupWriteChunk is the most a backup's write gives the connection
// under one deadline: the store writes a list of records (4 MiB, or one
// model's data, far more) at once, and a client reading slowly but
// steadily must not have it cut.
const backupWriteChunk = 64 << 10

func (b *backupResponse) Write(p []byte) (int, error) {
	if b.n == 0 {
		h := b.w.Header()
		h.Set("Content-Type", BackupContentType)
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": b.name}))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
	}
	written := 0
	for len(p) > 0 {
		b.mu.Lock()
		if b.aborted || b.stopping != nil && b.stopping() {
			b.mu.Unlock()
			return written, errBackupAborted
		}
		deadline := time.Now().Add(b.timeout)
		_ = b.rc.SetWriteDeadline(deadline)
		b.mu.Unlock()
		n, err := b.w.Write(p[:min(len(p), backupWriteChunk)])
		b.n += int64(n)
		written += n
		p = p[n:]
		if err != nil {
			return written, b.writeError(err, deadline)
		}
	}
	return written, nil
}

// writeError is the error of a write under deadline that failed with err:
// one that abort ended (it ran before the deadline), or that found the
// connection closed or reset by the client, wraps context.Canceled (the
// backup was canceled); a write that waited until the deadline (the
// client reads nothing) and any other error are err. (Not the request
// context's state: net/http cancels it at any failed write.)
func (b *backupResponse) writeError(err error, deadline time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.aborted && b.abortedAt.Before(deadline):
		return fmt.Errorf("%w (%w)", errBackupAborted, err)
	case errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("%w: %w", errClientGone, err)
	}
	return err
}

// abort ends a write waiting on the client (its deadline now) and fails
// the writes after it, unless the backup has returned.
func (b *backupResponse) abort() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.aborted, b.abortedAt = true, time.Now()
	_ = b.rc.SetWriteDeadline(b.abortedAt)
}

// close makes abort do nothing from now on and reports whether it ran
// (the connection's write deadline is then past).
func (b *backupResponse) close() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.aborted
}

// Backup streams a backup of the daemon's store (POST BackupPath) to w,
// returning the bytes written. The response is copied as it comes: the
// caller checks it (store.CheckBackup: its trailer says it is whole).
// An error answer of the API is an *Error.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, http.MethodPost, BackupPath, "", nil)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, fmt.Errorf("%w: the daemon closed the connection without an answer (its backup failed as it began: see the daemon's log)", err)
		}
		return 0, err
	}
	defer resp.Body.Close()
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || ct != BackupContentType {
		return 0, c.decodeError(resp, http.MethodPost, BackupPath)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("read the backup after %d bytes: %w (the connection was cut: the daemon's backup failed, or it stopped; see the daemon's log)", n, err)
	}
	return n, nil
}
