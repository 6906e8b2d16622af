package training

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// screen is what a terminal shows after out: its lines, interpreting
// "\r" (back to the line's start), "\n" (a new line) and "\033[K" (erase
// to the end of the line); characters overwrite those under the cursor.
func screen(out string) []string {
	lines := [][]rune{nil}
	col := 0
	for rs := []rune(out); len(rs) > 0; rs = rs[1:] {
		cur := len(lines) - 1
		switch {
		case rs[0] == '\r':
			col = 0
		case rs[0] == '\n':
			lines = append(lines, nil)
			col = 0
		case strings.HasPrefix(string(rs), "\033[K"):
			lines[cur] = lines[cur][:col]
			rs = rs[2:]
		default:
			if col < len(lines[cur]) {
				lines[cur][col] = rs[0]
			} else {
				lines[cur] = append(lines[cur], rs[0])
			}
			col++
		}
	}
	out2 := make([]string, len(lines))
	for i, l := range lines {
		out2[i] = string(l)
	}
	return out2
}

// TestProgressRedrawErasesLine: on a terminal, a redraw of the bar shorter
// than the one before (the ETA from 45s down to 5s) leaves none of the
// longer one's characters behind. Before, the redraw only returned to the
// line's start ("ETA 5ss", reviewer's finding).
func TestProgressRedrawErasesLine(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "train", 100, true)
	now := p.start
	p.now = func() time.Time { return now }
	// 10 windows in 5 s: 2 win/s, 90 left, ETA 45s.
	now = now.Add(5 * time.Second)
	p.advance(10, 1, 1, 0.5)
	first := screen(buf.String())
	if len(first) != 1 || !strings.HasSuffix(first[0], "ETA 45s") {
		t.Fatalf("first bar %q, want one line ending in ETA 45s", first)
	}
	// 80 more in 40 s: 2 win/s, 10 left, ETA 5s.
	now = now.Add(40 * time.Second)
	p.advance(80, 1, 1, 0.5)
	got := screen(buf.String())
	if len(got) != 1 || !strings.HasSuffix(got[0], "ETA 5s") {
		t.Errorf("terminal after the shorter redraw %q, want one line ending in ETA 5s; written %q", got, buf.String())
	}
}

// stepErrLearner is a fakeLearner whose third step fails.
type stepErrLearner struct{ fakeLearner }

func (f *stepErrLearner) Step(x, next, label []float32, n int) (float64, float64, float64, error) {
	if f.steps++; f.steps == 3 {
		return 0, 0, 0, errors.New("device lost")
	}
	return 1, 1, 0, nil
}

// TestFitEndsBarLine: a training that ends within an epoch (an interrupt,
// a failed step) leaves the terminal on a fresh line, the bar as last
// drawn above it: the message the caller writes next stands on its own
// line. Before, it was glued onto the bar ("…ETA 26somen train: training
// interrupted…", reviewer's finding).
func TestFitEndsBarLine(t *testing.T) {
	w, _ := MakeWindows(series(200, 2, ""), WindowOptions{Window: 3})
	for _, tc := range []struct {
		name string
		l    func(cancel func()) Learner
		want error
	}{
		{"interrupt", func(cancel func()) Learner {
			return &fakeLearner{valLoss: []float64{1}, cancel: cancel}
		}, context.Canceled},
		{"failed step", func(func()) Learner { return &stepErrLearner{fakeLearner{valLoss: []float64{1}}} }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			var buf bytes.Buffer
			_, err := fit(ctx, tc.l(cancel), w, nil, LoopOptions{Epochs: 3, BatchSize: 4, Progress: &buf, Label: "train"}, true)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(buf.String(), "\r") {
				t.Fatalf("no bar drawn: %q", buf.String())
			}
			buf.WriteString("omen train: " + err.Error() + "\n")
			lines := screen(buf.String())
			// The bar, the message, and the fresh line after it.
			if len(lines) != 3 || !strings.HasPrefix(lines[0], "train epoch 1/3 ") || lines[1] != "omen train: "+err.Error() || lines[2] != "" {
				t.Errorf("terminal shows %q, want the bar, then the error on a line of its own", lines)
			}
		})
	}
}
