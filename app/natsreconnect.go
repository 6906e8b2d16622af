package app

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/omen-sre/omen/stream"
)

// natsReconnectOp is the operation natsReconnectLog logs.
const natsReconnectOp = "reconnect to NATS"

// natsReconnectLog logs why the NATS connection, once it has connected,
// cannot reconnect (see failureLog: a WARN when the attempts start
// failing and at the first failure of each other class, natsFailureClass:
// the dial a restarting server refuses, then the credentials it refuses
// once up; then at most once a minute with since when and how many),
// and the reconnect at INFO ("NATS reconnected", with how long the
// connection was down and, after failed attempts, since when and how
// many), for: a refused dial (nats.ReconnectErrHandler), a
// TLS handshake or credentials the server refuses. nats.go reports these
// two to no handler (the credentials only as an asynchronous error at
// each attempt, every natsReconnectWait): watch sees each failed
// handshake as a RECONNECTING status after a CONNECTING one, with the
// connection's LastError its cause, as stream.NATSConsumer's
// awaitConnection does. Attempts before the first connect are left to
// the start (its error) and to the consumer (which waits for a late
// server, warning while it does). Safe for concurrent use: nats.go's
// handlers and watch call it.
type natsReconnectLog struct {
	mu       sync.Mutex
	log      failureLog
	up       bool      // the connection has connected once
	down     time.Time // when the connection was lost, zero while up
	done     chan struct{}
	stopOnce sync.Once
}

func newNATSReconnectLog(logger *slog.Logger) *natsReconnectLog {
	return &natsReconnectLog{log: failureLog{logger: logger, now: time.Now, warn: true}, done: make(chan struct{})}
}

// connected marks the connection's first connect.
func (l *natsReconnectLog) connected() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up = true
}

// failed logs the failed reconnect attempt err.
func (l *natsReconnectLog) failed(err error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.up {
		l.log.failedClass(natsReconnectOp, natsFailureClass(err), err)
	}
}

// natsFailureClass returns the class of the reconnect failure err, for
// natsReconnectLog's WARN at each new one: the server refusing the
// credentials ("auth") or the TLS connection ("tls", see
// stream.ConnectRefused), a dial that failed ("dial": the server
// restarting), anything else ("other").
func natsFailureClass(err error) string {
	switch {
	case stream.AuthRefused(err):
		return "auth"
	case stream.ConnectRefused(err):
		return "tls"
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return "dial"
	}
	return "other"
}

// disconnected marks when the connection was lost, for reconnected's
// down_for (the first disconnect of an outage: nats.go reports one per
// lost connection).
func (l *natsReconnectLog) disconnected() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down.IsZero() {
		l.down = l.log.now()
	}
}

// reconnected logs the reconnect to url at INFO, in one record: how long
// the connection was down and, if attempts failed, the end of their run
// (failing_since, failed_for, failed_attempts; "reconnect to NATS works
// again" was a second record).
func (l *natsReconnectLog) reconnected(url string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	attrs := []any{"url", url}
	if !l.down.IsZero() {
		attrs = append(attrs, "down_for", l.log.now().Sub(l.down).Round(time.Millisecond))
		l.down = time.Time{}
	}
	l.log.logger.Info("NATS reconnected", append(attrs, l.log.end(natsReconnectOp)...)...)
}

// start starts watch for nc, until nc is closed (stop).
func (l *natsReconnectLog) start(nc *nats.Conn) {
	ch := nc.StatusChanged(nats.CONNECTING, nats.CONNECTED, nats.RECONNECTING)
	go l.watch(nc, ch)
}

// stop ends watch (the connection is closed).
func (l *natsReconnectLog) stop() { l.stopOnce.Do(func() { close(l.done) }) }

// watch reports each handshake that failed on nc: ch receives nc's
// CONNECTING (an attempt reached a server), CONNECTED and RECONNECTING
// statuses, and a RECONNECTING right after a CONNECTING is that
// attempt's failure, with
// its cause in nc.LastError until the next attempt (natsReconnectWait
// later).
func (l *natsReconnectLog) watch(nc *nats.Conn, ch chan nats.Status) {
	defer nc.RemoveStatusListener(ch)
	var attempt bool
	for {
		select {
		case <-l.done:
			return
		case s := <-ch:
			switch {
			case s == nats.CONNECTING:
				attempt = true
			case s == nats.RECONNECTING && attempt:
				attempt = false
				l.failed(nc.LastError())
			default:
				attempt = false
			}
		}
	}
}
