package alert

import (
	"strings"
	"testing"
)

// TestBuiltinActionsStateNoMeasurement: a built-in action matches a cause
// by the feature's name (a glob), not by its value, so it must not state
// a measurement omen never checked ("CPU is saturated (over 80% for 5
// minutes)" on a process CPU rate of 0.0002): no figure in any of them.
func TestBuiltinActionsStateNoMeasurement(t *testing.T) {
	for _, r := range DefaultRemediations() {
		if strings.ContainsAny(r.Action, "0123456789") {
			t.Errorf("built-in action for %q states a figure: %q", r.Cause, r.Action)
		}
	}
}
