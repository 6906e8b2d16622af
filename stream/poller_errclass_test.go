package stream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
)

// brokenServer listens on a random loopback port and handles each
// connection with handle, on its own goroutine; the listener and the
// connections are closed, and the goroutines waited for, at t's end.
func brokenServer(t *testing.T, handle func(c net.Conn, stop <-chan struct{})) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c, stop)
			}()
		}
	}()
	t.Cleanup(func() {
		close(stop)
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// A Prometheus URL whose connections are reset, or whose queries time
// out, at every poll is one warning, then debug records: each reset's
// error names the client's new ephemeral port
// (read tcp 127.0.0.1:39472->127.0.0.1:46635: read: connection reset by
// peer), which made every poll's error differ from the last, a warning
// each.
func TestPollerTransportErrorLogsOnce(t *testing.T) {
	verifyNoLeaks(t)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		handle  func(c net.Conn, stop <-chan struct{})
	}{
		{name: "connection reset", handle: func(c net.Conn, _ <-chan struct{}) {
			_, _ = http.ReadRequest(bufio.NewReader(c))
			_ = c.(*net.TCPConn).SetLinger(0) // close with a RST
			_ = c.Close()
		}},
		{name: "timeout", timeout: 20 * time.Millisecond, handle: func(c net.Conn, stop <-chan struct{}) {
			_, _ = http.ReadRequest(bufio.NewReader(c))
			<-stop // never answers
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := brokenServer(t, tc.handle)
			h := newCaptureHandler()
			reg := prometheus.NewRegistry()
			const step = 40 * time.Millisecond
			p, err := NewPoller(&MemAppender{}, PollerOptions{
				URL: u, Queries: map[string]string{"q": "vector(1)"}, Step: step,
				Timeout: tc.timeout, RoundTripper: newCountingTransport(t),
				MaxRetries: 1, RetryBackoff: time.Millisecond,
			}, reg, slog.New(h))
			if err != nil {
				t.Fatal(err)
			}
			runPoller(t, p)
			waitFor(t, "6 failed polls", func() bool {
				return counterValue(t, reg, "omen_prometheus_queries_total", "outcome", "error") >= 6
			})
			recs := h.byQuery("q")
			var errs []string
			for _, r := range append(recs[slog.LevelWarn], recs[slog.LevelDebug]...) {
				r.Attrs(func(a slog.Attr) bool {
					if a.Key == "err" {
						errs = append(errs, a.Value.String())
					}
					return true
				})
			}
			if n := len(recs[slog.LevelWarn]); n != 1 {
				t.Fatalf("%d warnings, want 1; errors logged: %q", n, errs)
			}
			still := 0
			for _, r := range recs[slog.LevelDebug] {
				if r.Message == "query still failing" {
					still++
				}
			}
			if still < 4 {
				t.Errorf("%d debug records of the failure, want at least 4; errors logged: %q", still, errs)
			}
			for _, e := range errs {
				if e == "" {
					t.Errorf("a record without the error's text: %q", errs)
				}
			}
		})
	}
}

// errorClass drops what changes from attempt to attempt (ports, URLs)
// and keeps what tells causes apart.
func TestErrorClass(t *testing.T) {
	reset := func(port int) error {
		return &url.Error{Op: "Post", URL: "http://127.0.0.1:9090/api/v1/query", Err: &net.OpError{
			Op: "read", Net: "tcp",
			Source: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port},
			Addr:   &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9090},
			Err:    os.NewSyscallError("read", syscall.ECONNRESET),
		}}
	}
	refused := &url.Error{Op: "Post", URL: "http://127.0.0.1:9090/api/v1/query", Err: &net.OpError{
		Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9090},
		Err: os.NewSyscallError("connect", syscall.ECONNREFUSED),
	}}
	get := func(ts string) error {
		return &url.Error{Op: "Get", URL: "http://127.0.0.1:9090/api/v1/query?time=" + ts, Err: errors.New("EOF")}
	}
	api := func(typ v1.ErrorType, msg string) error {
		return fmt.Errorf("prometheus http://127.0.0.1:9090: %w", &v1.Error{Type: typ, Msg: msg, Detail: "body " + msg})
	}
	for _, tc := range []struct {
		name       string
		a, b       error
		sameClass  bool
		wantClassA string
	}{
		{name: "resets from two ports", a: fmt.Errorf("prometheus x: %w", reset(39472)), b: reset(39474), sameClass: true, wantClassA: "net read: connection reset by peer"},
		{name: "reset and refused", a: reset(1), b: refused, wantClassA: "net read: connection reset by peer"},
		{name: "GETs of two times", a: get("1700000000"), b: get("1700000015"), sameClass: true, wantClassA: "http Get: EOF"},
		{name: "client deadline and net timeout", a: &url.Error{Op: "Post", URL: "u", Err: context.DeadlineExceeded}, b: context.DeadlineExceeded, sameClass: true, wantClassA: "timeout"},
		{name: "API errors alike", a: api(v1.ErrServer, "server error: 503"), b: api(v1.ErrServer, "server error: 503"), sameClass: true, wantClassA: "api server_error: server error: 503"},
		// An answer without Prometheus's JSON (a proxy's): the status is
		// the cause; all were "client error: _" or "server error: _", a
		// change of cause logged at debug level.
		{name: "404 and 429", a: api(v1.ErrClient, "client error: 404"), b: api(v1.ErrClient, "client error: 429"), wantClassA: "api client_error: client error: 404"},
		{name: "502 and 503", a: api(v1.ErrServer, "server error: 502"), b: api(v1.ErrServer, "server error: 503")},
		{name: "API errors of two messages", a: api(v1.ErrBadData, "parse error: unexpected end of input"), b: api(v1.ErrBadData, `parse error: unexpected character: '"'`)},
		// The series Prometheus names change as pods come and go.
		{name: "duplicate series of two pods", a: api(v1.ErrExec, `found duplicate series for the match group {pod="a"} on the right hand-side of the operation: [{pod="a", x="1"}, {pod="a", x="2"}];many-to-many matching not allowed: matching labels must be unique on one side`),
			b: api(v1.ErrExec, `found duplicate series for the match group {pod="b"} on the right hand-side of the operation: [{pod="b", x="1"}, {pod="b", x="3"}];many-to-many matching not allowed: matching labels must be unique on one side`), sameClass: true},
		{name: "API error and transport error", a: api(v1.ErrServer, "server error: 502"), b: reset(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := errorClass(tc.a), errorClass(tc.b)
			if (ca == cb) != tc.sameClass {
				t.Errorf("classes %q and %q: same %v, want %v", ca, cb, ca == cb, tc.sameClass)
			}
			if tc.wantClassA != "" && ca != tc.wantClassA {
				t.Errorf("class %q, want %q", ca, tc.wantClassA)
			}
		})
	}
}
