package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
)

// cliLogger is the logger the commands give the components they run (the
// stores they open, the evaluation): their warnings (such as a store
// format upgrade, after which an older omen cannot open it) go to w as the
// command's own messages ("omen model list: warning: …", see cliHandler).
func cliLogger(w io.Writer, command string) *slog.Logger {
	return slog.New(&cliHandler{w: w, mu: new(sync.Mutex), command: command})
}

// cliHandler is a slog.Handler that prints records at warn level and
// above as the commands print their own messages, one line each:
// `omen model list: warning: MSG (key=value, group.key="a value")`. Values
// with white space, commas, parentheses, '=' or quotes are quoted. It is
// safe for concurrent use (Badger logs from its goroutines).
type cliHandler struct {
	w       io.Writer
	mu      *sync.Mutex // shared by the handlers derived from one
	command string      // "omen model list"
	attrs   []string    // formatted by WithAttrs
	group   string      // key prefix of WithGroup: "g." (nested "g.h.")
}

func (h *cliHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *cliHandler) Handle(_ context.Context, r slog.Record) error {
	level := "warning"
	if r.Level >= slog.LevelError {
		level = "error"
	}
	// Clipped: appending must copy, as the handler's attrs are shared by
	// every goroutine logging through it.
	attrs := slices.Clip(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		attrs = appendAttr(attrs, h.group, a)
		return true
	})
	line := h.command + ": " + level + ": " + r.Message
	if len(attrs) > 0 {
		line += " (" + strings.Join(attrs, ", ") + ")"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, line+"\n")
	return err
}

func (h *cliHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = slices.Clip(h.attrs)
	for _, a := range as {
		c.attrs = appendAttr(c.attrs, h.group, a)
	}
	return &c
}

func (h *cliHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group += name + "."
	return &c
}

// appendAttr appends a as key=value to attrs, its key prefixed with group;
// a group's attributes are appended one by one (an empty one: nothing).
func appendAttr(attrs []string, group string, a slog.Attr) []string {
	a.Value = a.Value.Resolve()
	switch {
	case a.Equal(slog.Attr{}):
		return attrs
	case a.Value.Kind() == slog.KindGroup:
		if a.Key != "" {
			group += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			attrs = appendAttr(attrs, group, g)
		}
		return attrs
	}
	var v string
	switch a.Value.Kind() {
	case slog.KindTime:
		v = a.Value.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			v = err.Error()
		} else {
			v = a.Value.String()
		}
	default:
		v = a.Value.String()
	}
	if v == "" || strings.ContainsFunc(v, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r) || strings.ContainsRune(`,()="`, r)
	}) {
		v = strconv.Quote(v)
	}
	return append(attrs, group+a.Key+"="+v)
}

// stopSignals are the signals that stop a command cleanly: Ctrl-C,
// SIGTERM, and a closed terminal (SIGHUP) unless it is ignored (nohup:
// notifying it would undo that and stop the run).
func stopSignals() []os.Signal {
	sigs := []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}
