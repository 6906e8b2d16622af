package tty

import (
	"bytes"
	"os"
	"testing"
)

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	for _, tc := range []struct {
		name string
		w    interface{ Write([]byte) (int, error) }
	}{{"buffer", &bytes.Buffer{}}, {"file", f}} {
		if IsTerminal(tc.w) {
			t.Errorf("%s: IsTerminal true", tc.name)
		}
	}
}
