package training

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// progress reports training progress to a writer: a redrawn one-line bar
// on a terminal, plain log lines (one per epoch) otherwise.
type progress struct {
	w       io.Writer
	tty     bool
	label   string
	total   int // windows per epoch × epochs
	done    int
	start   time.Time
	lastOut time.Time
	now     func() time.Time
	lastVal float64 // validation score of the last finished epoch (NaN before)
	// open is set while the terminal's line holds the bar without a
	// newline after it: whatever is written next must finish it first.
	open bool
}

// newProgress reports to w, as a redrawn bar when terminal is set (w is
// a terminal).
func newProgress(w io.Writer, label string, total int, terminal bool) *progress {
	p := &progress{w: w, label: label, total: total, now: time.Now, lastVal: math.NaN(), tty: terminal}
	p.start = p.now()
	return p
}

// advance records n more windows processed in epoch (1-based) with the
// running loss; it redraws the bar at most 10 times a second.
func (p *progress) advance(n, epoch, epochs int, loss float64) {
	if p == nil || p.w == nil {
		return
	}
	p.done += n
	if !p.tty {
		return
	}
	now := p.now()
	if now.Sub(p.lastOut) < 100*time.Millisecond && p.done < p.total {
		return
	}
	p.lastOut = now
	frac := float64(p.done) / float64(max(p.total, 1))
	const width = 24
	bar := strings.Repeat("█", int(frac*width)) + strings.Repeat("░", width-int(frac*width))
	val := ""
	if !math.IsNaN(p.lastVal) {
		val = fmt.Sprintf(" val_score %.4f", p.lastVal)
	}
	// \033[K erases the rest of the line: a shorter redraw (a shorter
	// ETA) leaves none of the longer one's characters behind.
	fmt.Fprintf(p.w, "\r\033[K%s epoch %d/%d %s %3.0f%% loss %.4f%s %s", p.label, epoch, epochs, bar, 100*frac, loss, val, p.rate(now))
	p.open = true
}

func (p *progress) rate(now time.Time) string {
	el := now.Sub(p.start).Seconds()
	if el <= 0 || p.done == 0 {
		return ""
	}
	r := float64(p.done) / el
	eta := time.Duration(float64(p.total-p.done)/r) * time.Second
	return fmt.Sprintf("%.0f win/s ETA %s", r, eta.Round(time.Second))
}

// epoch reports the end of an epoch.
func (p *progress) epoch(epoch, epochs int, loss, valLoss, valScore float64, best bool) {
	if p == nil || p.w == nil {
		return
	}
	p.lastVal = valScore
	mark := ""
	if best {
		mark = " *"
	}
	now := p.now()
	line := fmt.Sprintf("%s epoch %d/%d loss %.4f val_loss %.4f val_score %.4f %s%s", p.label, epoch, epochs, loss, valLoss, valScore, p.rate(now), mark)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s\n", line)
		p.open = false
		return
	}
	fmt.Fprintln(p.w, line)
}

// finish notes that training ended early (after a reduced total).
func (p *progress) finish(msg string) {
	if p == nil || p.w == nil || msg == "" {
		return
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "%s %s\n", p.label, msg)
	p.open = false
}

// end finishes the bar's line, when one is drawn without a newline after
// it (training stopped within an epoch: an error, an interrupt), so that
// what is written next (the error) starts on a line of its own; the bar
// stays on screen as it was last drawn. Fit calls it on every return.
func (p *progress) end() {
	if p == nil || p.w == nil || !p.open {
		return
	}
	fmt.Fprintln(p.w)
	p.open = false
}
