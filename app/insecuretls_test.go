package app

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestInsecureSkipVerifyWarns: tls_config.insecure_skip_verify (accept any
// server certificate, meant for tests) was taken silently. omen run's
// start logs one WARN per prometheus and alertmanager entry with it,
// naming the entry and its URL with the password hidden; a reload, which
// applies the Alertmanagers' settings (the prometheus entries' take a
// restart), logs one per alertmanager entry with it; one without it logs
// none.
func TestInsecureSkipVerifyWarns(t *testing.T) {
	const (
		msg        = "tls_config.insecure_skip_verify is true"
		prometheus = "prometheus:\n  - url: https://127.0.0.1:1\n    tls_config: {insecure_skip_verify: true}\n"
		insecure   = "alerting:\n  alertmanagers:\n    - url: http://127.0.0.1:1\n" +
			"    - url: https://omen:s3cret@127.0.0.1:1\n      tls_config: {insecure_skip_verify: true}\n"
		verified = "alerting:\n  alertmanagers:\n    - url: https://omen:s3cret@127.0.0.1:1\n"
	)
	file, write := configFileWriter(t)
	write(testConfigYAML + prometheus + insecure)
	logs := &testenv.SyncBuffer{}
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.Config, o.ConfigFile = nil, file
		o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, logs), &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	warnings := func() []string {
		var out []string
		for l := range strings.Lines(logs.String()) {
			if strings.Contains(l, msg) {
				out = append(out, l)
			}
		}
		return out
	}
	w := warnings()
	if len(w) != 2 || !strings.Contains(w[0], "entry=prometheus[0]") || !strings.Contains(w[0], "url=https://127.0.0.1:1") ||
		!strings.Contains(w[1], "entry=alerting.alertmanagers[1]") || !strings.Contains(w[1], "url=https://omen:xxxxx@127.0.0.1:1") {
		t.Errorf("start: want a WARN for prometheus[0] and alerting.alertmanagers[1], with their URLs, got %q", w)
	}

	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if w := warnings(); len(w) != 3 || !strings.Contains(w[2], "entry=alerting.alertmanagers[1]") {
		t.Errorf("reload: want one more WARN, for alerting.alertmanagers[1], got %q", w)
	}
	write(testConfigYAML + prometheus + verified)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if w := warnings(); len(w) != 3 {
		t.Errorf("reload without insecure_skip_verify on an alertmanager: want no more WARN, got %q", w)
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Errorf("the URL's password is logged:\n%s", logs.String())
	}
}
