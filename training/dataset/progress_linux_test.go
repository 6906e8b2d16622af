package dataset

import (
	"io"
	"os"
	"testing"

	"github.com/omen-sre/omen/internal/testenv"
)

// fdWriter wraps a writer and its Fd, as omen's CLI wraps stdout.
type fdWriter struct {
	io.Writer
	fd uintptr
}

func (w fdWriter) Fd() uintptr { return w.fd }

// TestQueryProgressTerminalThroughWrapper: the range queries' progress is
// redrawn on a terminal also through a writer wrapping it (it checked for
// an *os.File only: through omen's CLI it was never redrawn).
func TestQueryProgressTerminalThroughWrapper(t *testing.T) {
	pts := testenv.OpenPTY(t)
	if p := newQueryProgress(fdWriter{pts, pts.Fd()}, 1); !p.tty {
		t.Error("progress to a wrapped terminal is not redrawn")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if p := newQueryProgress(fdWriter{f, f.Fd()}, 1); p.tty {
		t.Error("progress to a wrapped file is redrawn")
	}
}
