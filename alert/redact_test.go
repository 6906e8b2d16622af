package alert

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// TestCredentialsRedacted: an Alertmanager URL's password appears in no
// metric label, log line or error.
func TestCredentialsRedacted(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // unreachable: delivery fails and logs
	st := openStore(t, "")
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	m, err := New(Options{Store: st, Alertmanagers: []string{"http://omen:s3cret@" + addr}, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := 0; i < 3; i++ {
		ts := now.Add(time.Duration(i) * time.Minute)
		if err := m.Process(context.Background(), ts, []Prediction{pred("p", ts, 0.8)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = m.Run(ctx)
	m.Close()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&metrics, mf); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(metrics.String(), `alertmanager="http://omen:xxxxx@`) {
		t.Errorf("no redacted alertmanager label in\n%s", metrics.String())
	}
	if !strings.Contains(logs.String(), "send alerts; will retry") {
		t.Errorf("no delivery failure logged:\n%s", logs.String())
	}
	for what, s := range map[string]string{"metrics": metrics.String(), "logs": logs.String()} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("the password is in the %s:\n%s", what, s)
		}
	}
	for _, bad := range [][]string{
		{"http://omen:s3cret@" + addr, "http://omen:s3cret@" + addr},
		{"http://omen:s3cret@%zz"},
		{"ftp://omen:s3cret@host"},
	} {
		_, err := New(Options{Store: st, Alertmanagers: bad})
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q): %v", bad, err)
		}
	}
}
