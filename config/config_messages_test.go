package config

import (
	"strings"
	"testing"
)

// TestLoadEventMessages: an event feature's or label's message patterns
// load, and an invalid one fails the load at its own line, the error
// naming its key path down to the reason
// (event_features[0].messages.BackOff).
func TestLoadEventMessages(t *testing.T) {
	const ok = `event_features:
  - name: crash
    reasons: [BackOff, CrashLoopBackOff]
    messages:
      BackOff: Back-off restarting failed container
labels:
  - name: config
    reasons: [Failed]
    messages: {Failed: 'Error: configmap "[^"]*" not found'}
`
	c, err := Load("x.yml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.EventFeatures[0].Messages["BackOff"]; got != "Back-off restarting failed container" {
		t.Errorf("messages.BackOff %q", got)
	}
	tests := []struct {
		name, yml, want string
	}{
		{name: "invalid pattern",
			yml:  "event_features:\n  - name: crash\n    reasons: [BackOff]\n    messages:\n      BackOff: 'restarting (failed'\n",
			want: `x.yml:5:16: event_features[0].messages.BackOff: event feature "crash": message pattern "restarting (failed" for reason "BackOff" is not a valid regular expression (RE2 syntax): error parsing regexp: missing closing ): ` + "`restarting (failed`"},
		{name: "reason not in reasons",
			yml:  "event_features:\n  - name: e\n    reasons: [x]\nlabels:\n  - name: l\n    reasons: [Failed]\n    messages: {BackOff: x}\n",
			want: `x.yml:7:25: labels[0].messages.BackOff: label "l": reason "BackOff" is not in reasons`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("x.yml", []byte(tt.yml))
			if err == nil {
				t.Fatalf("loaded, want %q", tt.want)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(line, tt.want) {
					return
				}
			}
			t.Fatalf("error\n%v\nhas no line starting %q", err, tt.want)
		})
	}
}
