package app

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	pmodel "github.com/prometheus/common/model"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/testenv"
)

// TestPollerPasswordNotLogged: the password of a Prometheus poller's URL
// is not in the log line saying its backfill was cut to the lookback
// (it logged the URL as configured).
func TestPollerPasswordNotLogged(t *testing.T) {
	cfg := testConfig(t)
	lookback := time.Duration(cfg.Resolved().Lookback)
	cfg.Prometheus = []config.PollerConfig{{URL: "http://omen:s3cret@127.0.0.1:1", Backfill: pmodel.Duration(2 * lookback)}}
	logs := &testenv.SyncBuffer{}
	newEmbeddedSources(t, cfg, slog.New(slog.NewTextHandler(logs, nil)))
	out := logs.String()
	if !strings.Contains(out, "backfill cut to the lookback") || strings.Contains(out, "s3cret") || !strings.Contains(out, "omen:xxxxx@127.0.0.1:1") {
		t.Errorf("log shows the password, or not the redacted URL in the backfill line:\n%s", out)
	}
}
