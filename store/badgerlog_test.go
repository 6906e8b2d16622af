package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestBadgerLoggerLevels: at omen's debug level Badger's info lines are
// logged and its debug lines are not (a "writeRequests called" line per
// write batch buried omen's own debug output); its warnings are warnings,
// but for the cache hit-ratio notes, and a backup's Send error that is a
// context's (a backup canceled: Backup's caller logs it), which are debug.
func TestBadgerLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	l := badgerLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Debugf("writeRequests called. Writing to value log")
	l.Infof("Replaying file id: %d at offset: %d", 1, 0)
	l.Warningf("Block cache might be too small")
	l.Warningf("Value log %d is damaged", 3)
	l.Warningf("Error while sending: %v\n", fmt.Errorf("write backup: %w", context.Canceled))
	l.Warningf("Error while sending: %v\n", errors.New("write backup: disk full"))
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="Replaying file id: 1 at offset: 0" component=badger`,
		`level=DEBUG msg="Block cache might be too small" component=badger`,
		`level=WARN msg="Value log 3 is damaged" component=badger`,
		`level=DEBUG msg="Error while sending: write backup: context canceled" component=badger`,
		`level=WARN msg="Error while sending: write backup: disk full" component=badger`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "writeRequests") {
		t.Errorf("Badger's debug line logged at omen's debug level:\n%s", out)
	}
}
