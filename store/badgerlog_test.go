package store

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestBadgerLoggerLevels: at omen's debug level Badger's info lines are
// logged and its debug lines are not (a "writeRequests called" line per
// write batch buried omen's own debug output); its warnings are warnings,
// but for the cache hit-ratio notes, which are debug.
func TestBadgerLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	l := badgerLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Debugf("writeRequests called. Writing to value log")
	l.Infof("Replaying file id: %d at offset: %d", 1, 0)
	l.Warningf("Block cache might be too small")
	l.Warningf("Value log %d is damaged", 3)
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="Replaying file id: 1 at offset: 0" component=badger`,
		`level=DEBUG msg="Block cache might be too small" component=badger`,
		`level=WARN msg="Value log 3 is damaged" component=badger`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "writeRequests") {
		t.Errorf("Badger's debug line logged at omen's debug level:\n%s", out)
	}
}
