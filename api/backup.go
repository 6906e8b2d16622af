package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
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
// connection is aborted, so that a client reading it (curl too) sees
// the transfer fail, and what it got lacks the trailer Restore checks.
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
	bw := &backupResponse{w: w, name: "omen-" + start.UTC().Format("20060102T150405Z") + ".backup"}
	info, err := a.opts.Backup.Backup(r.Context(), bw, store.BackupOptions{})
	if err != nil {
		if bw.n == 0 {
			a.backendError(w, r, fmt.Errorf("back up the store: %w", err))
			return
		}
		switch {
		case r.Context().Err() != nil:
			a.logger.Warn("store backup stopped: the client went away", "bytes", bw.n, "duration", time.Since(start).Round(time.Millisecond), "err", err)
		case errors.Is(err, context.Canceled):
			a.logger.Warn("store backup stopped; the response is cut (the client's copy lacks its trailer)", "bytes", bw.n, "err", err)
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

// backupResponse writes a backup to the response, setting its headers
// before the first byte.
type backupResponse struct {
	w    http.ResponseWriter
	name string
	n    int64
}

func (b *backupResponse) Write(p []byte) (int, error) {
	if b.n == 0 {
		h := b.w.Header()
		h.Set("Content-Type", BackupContentType)
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": b.name}))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
	}
	n, err := b.w.Write(p)
	b.n += int64(n)
	return n, err
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
		return 0, errorAnswer(resp, http.MethodPost, BackupPath)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("read the backup after %d bytes: %w (the connection was cut: the daemon's backup failed, or it stopped; see the daemon's log)", n, err)
	}
	return n, nil
}
