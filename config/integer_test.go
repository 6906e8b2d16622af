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
		// Aliases and "<<" merge keys are checked as yaml.v3 decodes
		// them: for: 1.5 merged in ran as 1, for: *r of 0.95 as 0 (then
		// the default 2), resolve_for: *r of 0.5 as 1.
		{"merged", "alerting:\n  <<: {for: 1.5}\n  resolve_for: 2\n", []string{"x.yml:2:13: alerting.for: 1.5 is not a whole number: want an integer"}},
		{"alias", "alerting:\n  critical_probability: &r 0.95\n  for: *r\n", []string{"x.yml:3:8: alerting.for: 0.95 (the alias *r) is not a whole number: want an integer"}},
		{"alias resolve_for", "alerting:\n  resolve_ratio: &r 0.5\n  resolve_for: *r\n", []string{"x.yml:3:16: alerting.resolve_for: 0.5 (the alias *r) is not a whole number: want an integer"}},
		{"merged sequence", "alerting:\n  <<: [{resolve_for: 3}, {for: 2.5}]\n", []string{"x.yml:2:32: alerting.for: 2.5 is not a whole number: want an integer"}},
		{"merged in a merge", "alerting:\n  <<: {<<: {resolve_for: 1.5}}\n", []string{"x.yml:2:26: alerting.resolve_for: 1.5 is not a whole number: want an integer"}},
		{"merged alias", "nats: &l {max_labels: 1.5}\nremote_write: {<<: [*l]}\n", []string{
			"x.yml:1:23: nats.max_labels: 1.5 is not a whole number: want an integer",
			"x.yml:1:23: remote_write.max_labels: 1.5 is not a whole number: want an integer"}},
		{"mapping alias", "nats: &l {max_labels: 1.5}\nremote_write: *l\n", []string{
			"x.yml:1:23: nats.max_labels: 1.5 is not a whole number: want an integer",
			"x.yml:1:23: remote_write.max_labels: 1.5 is not a whole number: want an integer"}},
		// A merged value that a key of the mapping, or an earlier merged
		// mapping, overrides is not decoded.
		{"merged overridden", "alerting:\n  <<: {for: 1.5}\n  for: 3\n  resolve_for: 2\n", nil},
		{"merged sequence first wins", "alerting:\n  <<: [{for: 3}, {for: 1.5, resolve_for: 2}]\n", nil},
		{"valid alias", "alerting:\n  for: &n 3\n  resolve_for: *n\n", nil},
		{"valid merge", "alerting:\n  <<: {for: 3}\n  resolve_for: 2\n", nil},
		{"valid mapping alias", "nats: &l {max_labels: 7}\nremote_write: {<<: *l, max_label_value_length: 9}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load("x.yml", []byte(tc.yml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Load = %v, want no error", err)
				}
				switch tc.name {
				case "whole float", "merged overridden", "merged sequence first wins", "valid merge":
					if c.Alerting.For != 3 || c.Alerting.ResolveFor != 2 {
						t.Errorf("for %d, resolve_for %d: want 3, 2", c.Alerting.For, c.Alerting.ResolveFor)
					}
				case "valid alias":
					if c.Alerting.For != 3 || c.Alerting.ResolveFor != 3 {
						t.Errorf("for %d, resolve_for %d: want 3, 3", c.Alerting.For, c.Alerting.ResolveFor)
					}
				case "valid mapping alias":
					if c.NATS.MaxLabels != 7 || c.RemoteWrite.MaxLabels != 7 || c.RemoteWrite.MaxLabelValueLength != 9 {
						t.Errorf("nats.max_labels %d, remote_write.max_labels %d, .max_label_value_length %d: want 7, 7, 9",
							c.NATS.MaxLabels, c.RemoteWrite.MaxLabels, c.RemoteWrite.MaxLabelValueLength)
					}
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
