package training

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/omen-sre/omen/internal/tty"
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
}

func newProgress(w io.Writer, label string, total int) *progress {
	p := &progress{w: w, label: label, total: total, now: time.Now, lastVal: math.NaN()}
	p.tty = tty.IsTerminal(w)
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
	fmt.Fprintf(p.w, "\r%s epoch %d/%d %s %3.0f%% loss %.4f%s %s", p.label, epoch, epochs, bar, 100*frac, loss, val, p.rate(now))
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
}
