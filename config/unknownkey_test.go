package config

import (
	"testing"
)

// TestUnknownKeys: a key the configuration does not take is named with
// its section and the nearest key the section takes, at its line and
// column, not as yaml.v3's "field lookbak not found in type
// config.Config"; and the file's other errors are reported with it (an
// unknown key hid them: a bad expression went unseen until the key was
// fixed).
func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name, yml, want string
	}{
		{"top level", "step: 15s\nlookbak: 5m\n",
			`x.yml:2:1: unknown key "lookbak" in the top level (did you mean "lookback"?)`},
		{"a section", "alerting:\n  fro: 3\n",
			`x.yml:2:3: unknown key "fro" in alerting (did you mean "for"?)`},
		{"a list's entry", "prometheus:\n  - url: http://p:9090\n    tls_confg: {ca_file: /ca.pem}\n",
			`x.yml:3:5: unknown key "tls_confg" in prometheus[0] (did you mean "tls_config"?)`},
		{"nothing near", "zzzzzzzzzz: 1\n",
			`x.yml:1:1: unknown key "zzzzzzzzzz" in the top level`},
		{"in a merged mapping", "base: &b\nalerting:\n  <<: {fro: 3}\n",
			"x.yml:1:1: unknown key \"base\" in the top level\nx.yml:3:8: unknown key \"fro\" in alerting (did you mean \"for\"?)"},
		{"with other errors", "lookbak: 5m\nfeatures:\n  - name: x\n    expr: 'sum(rate(foo[5m])'\nalerting:\n  resolve_ratio: 2\n",
			"x.yml:1:1: unknown key \"lookbak\" in the top level (did you mean \"lookback\"?)\n" +
				"x.yml:4:11: features[0].expr: feature \"x\": parse \"sum(rate(foo[5m])\": 1:18: parse error: unclosed left parenthesis\n" +
				"x.yml:6:18: alerting.resolve_ratio must be in (0, 1], got 2"},
		{"with a type error", "lookbak: 5m\nstep: many\n",
			"x.yml:1:1: unknown key \"lookbak\" in the top level (did you mean \"lookback\"?)\nx.yml:2:7: step: not a valid duration string: \"many\""},
		{"with a type mismatch", "lookbak: 5m\nnats:\n  max_labels: many\n",
			"x.yml:1:1: unknown key \"lookbak\" in the top level (did you mean \"lookback\"?)\nx.yml:3: cannot unmarshal !!str `many` into int"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("x.yml", []byte(tc.yml))
			if err == nil {
				t.Fatalf("loaded:\n%s", tc.yml)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
