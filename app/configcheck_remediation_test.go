package app

import (
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/config"
)

// TestCheckConfigRemediationsAsAlertPipeline: CheckConfig, which omen
// check config runs (it had its own copy of the remediation checks),
// refuses exactly the remediations the alert pipeline refuses at start
// (alert.New) and at reload (alerter.checkConfig): omen check config
// still refuses what omen run refuses, and accepts what it accepts.
func TestCheckConfigRemediationsAsAlertPipeline(t *testing.T) {
	a := startApp(t, t.TempDir(), nil)
	for _, tc := range []struct {
		name, remediations string
		refused            bool
	}{
		{name: "none", remediations: "[]"},
		{name: "name", remediations: "[{cause: restarts, action: a}]"},
		{name: "glob, other case", remediations: "[{cause: 'Mem_*', action: a}, {cause: metric, action: b}]"},
		{name: "no action", remediations: "[{cause: restarts}]", refused: true},
		{name: "no cause", remediations: "[{action: a}]", refused: true},
		{name: "bad pattern", remediations: "[{cause: '[', action: a}]", refused: true},
		{name: "trailing backslash", remediations: `[{cause: 'a\', action: a}]`, refused: true},
		{name: "second of two", remediations: "[{cause: restarts, action: a}, {cause: '[x', action: b}]", refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// config.Load refuses them too, at their line; CheckConfig
			// checks a Config from elsewhere.
			_, loadErr := config.Load("test.yml", []byte(testConfigYAML+"alerting:\n  remediations: "+tc.remediations+"\n"))
			if (loadErr != nil) != tc.refused {
				t.Errorf("config.Load: %v, want refused %v", loadErr, tc.refused)
			}
			cfg, err := config.Load("test.yml", []byte(testConfigYAML))
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal([]byte(tc.remediations), &cfg.Alerting.Remediations); err != nil {
				t.Fatal(err)
			}
			checkErr := CheckConfig(cfg)
			reloadErr := a.alerts.checkConfig(cfg)
			m, startErr := alert.New(alert.Options{Store: a.Store(), Remediations: reloadOf(a.alerts.options(), cfg).Remediations})
			if startErr == nil {
				m.Close()
			}
			for _, c := range []struct {
				who string
				err error
			}{{"CheckConfig", checkErr}, {"the reload's alert pipeline", reloadErr}, {"alert.New", startErr}} {
				if (c.err != nil) != tc.refused {
					t.Errorf("%s: %v, want refused %v", c.who, c.err, tc.refused)
				}
			}
		})
	}
}
