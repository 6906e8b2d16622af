package api

import (
	"bytes"
	"errors"
	"net/http"
	"testing"
	"time"
)

// deadlineWriter is a response writer recording the write deadlines set
// on its connection (through http.ResponseController) and its writes.
type deadlineWriter struct {
	header    http.Header
	deadline  time.Time
	deadlines int // SetWriteDeadline calls
	writes    []deadlineWrite
	body      bytes.Buffer
}

type deadlineWrite struct {
	size      int
	deadlines int // SetWriteDeadline calls before it
}

func (d *deadlineWriter) Header() http.Header { return d.header }
func (d *deadlineWriter) WriteHeader(int)     {}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.writes = append(d.writes, deadlineWrite{len(p), d.deadlines})
	return d.body.Write(p)
}

func (d *deadlineWriter) SetWriteDeadline(t time.Time) error {
	d.deadline = t
	d.deadlines++
	return nil
}

// TestBackupResponseDeadlines: a backup's write reaches the connection
// in pieces of at most backupWriteChunk, each under a deadline set anew
// (the store writes a list of records, 4 MiB or more, at once: a client
// reading slowly but steadily must not have it cut by one deadline);
// abort sets the deadline to now and fails the writes after it; after
// close, abort does nothing.
func TestBackupResponseDeadlines(t *testing.T) {
	d := &deadlineWriter{header: http.Header{}}
	b := &backupResponse{w: d, rc: http.NewResponseController(d), timeout: time.Minute, name: "x.backup"}
	p := bytes.Repeat([]byte{7}, 4*backupWriteChunk+5)
	before := time.Now()
	if n, err := b.Write(p); n != len(p) || err != nil {
		t.Fatalf("Write: %d, %v; want %d, nil", n, err, len(p))
	}
	if !bytes.Equal(d.body.Bytes(), p) || b.n != int64(len(p)) {
		t.Fatalf("wrote %d bytes (counted %d), want the %d given", d.body.Len(), b.n, len(p))
	}
	for i, w := range d.writes {
		if w.size > backupWriteChunk || w.deadlines != i+1 {
			t.Errorf("write %d: %d bytes after %d deadlines; want at most %d after %d", i, w.size, w.deadlines, backupWriteChunk, i+1)
		}
	}
	if d.deadline.Before(before.Add(time.Minute)) {
		t.Errorf("write deadline %v, want a minute after the write", d.deadline)
	}
	if d.header.Get("Content-Type") != BackupContentType {
		t.Errorf("Content-Type %q", d.header.Get("Content-Type"))
	}

	b.abort()
	if d.deadline.After(time.Now()) {
		t.Errorf("write deadline %v after abort, want it past", d.deadline)
	}
	writes := len(d.writes)
	if n, err := b.Write(p); n != 0 || !errors.Is(err, errBackupAborted) || len(d.writes) != writes {
		t.Errorf("Write after abort: %d, %v (%d writes more); want 0, errBackupAborted, none", n, err, len(d.writes)-writes)
	}
	if !b.close() {
		t.Error("close after abort reports no abort")
	}

	d = &deadlineWriter{header: http.Header{}}
	b = &backupResponse{w: d, rc: http.NewResponseController(d), timeout: time.Minute}
	if b.close() {
		t.Error("close reports an abort that did not run")
	}
	b.abort()
	if d.deadlines != 0 {
		t.Error("abort after close set a write deadline")
	}
}
