package config

import (
	"strings"
	"testing"
)

// TestLoadNonIntegerRefused: a number with a fraction given to an
// integer field is an error at its value, not truncated (yaml.v3 decodes
// alerting.resolve_for: 1.5 as 1, and .for: 1.5 ran as 1); whole numbers
// written as floats still decode.
func TestLoadNonIntegerRefused(t *testing.T) {
	for _, tc := range []struct {
		name, yml string
		want      []string // the error's lines; none: no error
	}{
		{"resolve_for", "alerting:\n  resolve_for: 1.5\n", []string{"x.yml:2:16: alerting.resolve_for: 1.5 is not a whole number: want an integer"}},
		{"for and resolve_for", "alerting:\n  for: 2.5\n  resolve_for: 0.5\n", []string{
			"x.yml:2:8: alerting.for: 2.5 is not a whole number: want an integer",
			"x.yml:3:16: alerting.resolve_for: 0.5 is not a whole number: want an integer"}},
		{"remote_write", "remote_write:\n  max_decoded_bytes: 1e-3\n", []string{"x.yml:2:22: remote_write.max_decoded_bytes: 1e-3 is not a whole number: want an integer"}},
		{"minus infinity", "alerting:\n  for: -.inf\n", []string{"x.yml:2:8: alerting.for: -.inf is not a whole number: want an integer"}},
		{"whole float", "alerting:\n  for: 3.0\n  resolve_for: 2e0\n", nil},
		{"float field", "alerting:\n  critical_probability: 0.5\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load("x.yml", []byte(tc.yml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Load = %v, want no error", err)
				}
				if tc.name == "whole float" && (c.Alerting.For != 3 || c.Alerting.ResolveFor != 2) {
					t.Errorf("for %d, resolve_for %d: want 3, 2", c.Alerting.For, c.Alerting.ResolveFor)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded (for %d, resolve_for %d), want %q", c.Alerting.For, c.Alerting.ResolveFor, tc.want)
			}
			if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Load error:\n%v\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}
