package config

import "testing"

// TestRemediationErrorsPlaced: a remediation the alert pipeline refuses
// fails the load at its line and column, as other configuration errors
// do (the pattern's; a missing cause's or action's entry); omen check
// config said "alerting.remediations[0]: cause pattern ..." without a
// position.
func TestRemediationErrorsPlaced(t *testing.T) {
	for _, tc := range []struct {
		name, yml, want string
	}{
		{"bad pattern", "alerting:\n  remediations:\n    - cause: '[bad'\n      action: a\n",
			`x.yml:3:14: alerting.remediations[0]: cause pattern "[bad": syntax error in pattern`},
		{"no action", "alerting:\n  remediations:\n    - {cause: x, action: a}\n    - {cause: restarts_10m}\n",
			`x.yml:4:7: alerting.remediations[1]: cause and action are required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("x.yml", []byte(tc.yml))
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
