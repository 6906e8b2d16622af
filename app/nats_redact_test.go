package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestNATSPasswordNotLogged: the password of --nats.url is not in omen's
// log at start ("omen started … nats=nats://omen:s3cret@…") nor in the
// error when NATS cannot be reached (r9 finding 1).
func TestNATSPasswordNotLogged(t *testing.T) {
	url := testenv.NATSServer(t, "--user", "omen", "--pass", "s3cret")
	withPass := strings.Replace(url, "nats://", "nats://omen:s3cret@", 1)
	logs := &testenv.SyncBuffer{}
	startApp(t, t.TempDir(), func(o *Options) {
		o.NATSURL, o.NATSListenAddress = withPass, ""
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	if out := logs.String(); strings.Contains(out, "s3cret") || !strings.Contains(out, "omen:xxxxx@") {
		t.Errorf("start log shows the password, or not the redacted URL:\n%s", out)
	}

	b, err := New(Options{Config: testConfig(t), ListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(),
		NATSURL: "nats://omen:s3cret@127.0.0.1:1,nats://tok3n@127.0.0.1:2", ShutdownTimeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Start(context.Background())
	if err == nil {
		_ = b.Stop(context.Background())
		t.Fatal("start with an unreachable NATS succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "s3cret") || strings.Contains(msg, "tok3n") || !strings.Contains(msg, "nats://omen:xxxxx@127.0.0.1:1,nats://xxxxx@127.0.0.1:2") {
		t.Errorf("start error %q shows a secret or not the redacted URLs", msg)
	}
}

// TestLateFailureLabelsExported: omen_ingest_late_failure_labels_total
// has its three results at 0 from the start (it appeared only with the
// first late label; r9 finding 8).
func TestLateFailureLabelsExported(t *testing.T) {
	reg := prometheus.NewRegistry()
	newIngester(nil, nil, nil, reg, slog.New(slog.DiscardHandler))
	n, err := testutil.GatherAndCount(reg, "omen_ingest_late_failure_labels_total")
	if err != nil || n != 3 {
		t.Errorf("omen_ingest_late_failure_labels_total series at start: %d, %v; want 3", n, err)
	}
}
