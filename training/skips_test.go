package training

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/omen-sre/omen/training/dataset"
)

// TestSplitWindowsCapsSkipLogs: training logs the first few skipped
// entities one by one and the rest in one line counting them by reason.
// Against a daemon holding 10,050 one-step entities omen train printed a
// "skipping entity" line for each before its summary.
func TestSplitWindowsCapsSkipLogs(t *testing.T) {
	var series []*dataset.Series
	add := func(name string, n int) {
		s := &dataset.Series{Entity: name, Features: []string{"x"}, Values: make([]float64, n), Labels: make([]bool, n)}
		series = append(series, s)
	}
	for i := range 30 {
		add(fmt.Sprintf("n/one-%02d", i), 1) // too short to split
	}
	for i := range 4 {
		add(fmt.Sprintf("n/short-%d", i), 20) // splits, too short for a window
	}
	add("n/long", 400)
	var b strings.Builder
	o := TrainOptions{Source: memSource(series), Window: 6, Horizon: 2, Hidden: 4, Epochs: 1, Seed: 1, ValSplit: "time", ValFraction: 0.2,
		Logger: slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	trs, _, _, err := splitWindows(series, o, "time")
	if err != nil || len(trs) != 1 {
		t.Fatalf("splitWindows = %d training window sets, %v; want the long entity's", len(trs), err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != maxSkipLogs+1 {
		t.Fatalf("%d log lines, want %d one by one and a count:\n%s", len(lines), maxSkipLogs+1, b.String())
	}
	for _, l := range lines[:maxSkipLogs] {
		if !strings.Contains(l, `msg="skipping entity"`) {
			t.Errorf("line %q, want a skipped entity", l)
		}
	}
	want := `msg="skipping more entities" count=29 reasons="too short for a window: 4, too short to split: 25"`
	if !strings.Contains(lines[maxSkipLogs], want) {
		t.Errorf("last line %q, want %q", lines[maxSkipLogs], want)
	}
}
