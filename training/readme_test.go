package training

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestReadmeQuickStartHistory: the history the README's quick start says
// training needs is what Train requires with its defaults (window 32,
// horizon 10, the last 20 % for validation) at the daemon's 15 s step:
// MinTimeSplitSteps for every pod, and MinHistorySteps for one, two and
// three pods of equal length and for as many as make it
// MinTimeSplitSteps. The quick start said 168 steps of a pod (42
// minutes), while one pod alone needs 258.
func TestReadmeQuickStartHistory(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, quick, ok := strings.Cut(string(b), "\n## Quick start\n")
	if !ok {
		t.Fatal("README.md has no quick start")
	}
	quick, _, _ = strings.Cut(quick, "\n## ")
	var o TrainOptions
	o.Source = memSource{}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	const step = 15 * time.Second
	minutes := func(steps int) string {
		return fmt.Sprintf("%g minutes", (time.Duration(steps) * step).Minutes())
	}
	each := MinTimeSplitSteps(o.Window, o.Horizon, o.ValFraction)
	steps := func(pods int) int { return MinHistorySteps(o.Window, o.Horizon, o.ValFraction, pods) }
	many := 1
	for steps(many) > each {
		many++
	}
	want := fmt.Sprintf("(window %d, horizon %d, the last %g %% for validation, a %g s step): every pod trained on needs at least %d steps (%s), "+
		"and the pods' validation parts together %d windows: one pod alone needs %d steps (%s), 2 pods %d each (%s), 3 pods %d (%s), %d pods or more %d.",
		o.Window, o.Horizon, o.ValFraction*100, step.Seconds(), each, minutes(each),
		MinValWindows, steps(1), minutes(steps(1)), steps(2), minutes(steps(2)), steps(3), minutes(steps(3)), many, each)
	if got := strings.Join(strings.Fields(quick), " "); !strings.Contains(got, want) {
		t.Errorf("the README's quick start does not say\n%s", want)
	}
}
