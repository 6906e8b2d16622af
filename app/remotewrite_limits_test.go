package app

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/telemetry"
)

// TestRemoteWriteIngestLimits: remote-write gets the ingest time window
// (a sample 50 years ahead no longer moves the head's clock) and the
// decoders' label limits (a 70,000-byte pod label is refused with 400, the
// request's good series stored); the head drops far-future samples itself
// too; the HTTP server bounds reading a request.
func TestRemoteWriteIngestLimits(t *testing.T) {
	a := startApp(t, t.TempDir(), nil)
	now := time.Now()
	future := now.Add(50 * 365 * 24 * time.Hour).UnixMilli()
	lbl := func(kv ...string) []prompb.Label {
		var ls []prompb.Label
		for i := 0; i < len(kv); i += 2 {
			ls = append(ls, prompb.Label{Name: kv[i], Value: kv[i+1]})
		}
		return ls
	}
	wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{
			Labels:  lbl("__name__", "container_memory_working_set_bytes", "container", "app", "namespace", "shop", "pod", "cart-0"),
			Samples: []prompb.Sample{{Value: 100, Timestamp: now.UnixMilli()}, {Value: 1, Timestamp: future}},
		},
		{
			Labels:  lbl("__name__", "container_memory_working_set_bytes", "container", "app", "namespace", "shop", "pod", strings.Repeat("p", 70000)),
			Samples: []prompb.Sample{{Value: 100, Timestamp: now.UnixMilli()}},
		},
	}}
	raw, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, raw)))
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "2048 bytes") {
		t.Fatalf("remote-write status %d %q, want 400 naming the label length limit", resp.StatusCode, body)
	}
	waitFor(t, "the good sample in the head", 10*time.Second, func() bool { return a.head.NumSeries() == 1 })
	if maxT := a.head.MaxTime(); maxT > time.Now().Add(time.Minute).UnixMilli() {
		t.Fatalf("head clock at %v after a remote-written sample 50 years ahead", time.UnixMilli(maxT))
	}
	if w := a.ingest.watermark.Load(); w > time.Now().Add(time.Minute).UnixMilli() {
		t.Fatalf("ingest watermark at %v after a remote-written sample 50 years ahead", time.UnixMilli(w))
	}

	// The head's own bound (max_sample_future, 10m by default).
	if _, err := a.head.Append([]telemetry.Sample{{Labels: labels.FromStrings("__name__", "m", "pod", "x"), T: future, V: 1}}); err != nil {
		t.Fatal(err)
	}
	if maxT := a.head.MaxTime(); maxT > time.Now().Add(time.Minute).UnixMilli() {
		t.Fatalf("head clock at %v after appending a sample 50 years ahead", time.UnixMilli(maxT))
	}

	if a.srv.ReadTimeout <= 0 || a.srv.IdleTimeout <= 0 || a.srv.WriteTimeout != 0 {
		t.Fatalf("HTTP server timeouts read %v idle %v write %v; want read and idle bounded, write unbounded (streamed answers)",
			a.srv.ReadTimeout, a.srv.IdleTimeout, a.srv.WriteTimeout)
	}
}

// reloadableApp starts an app whose configuration file is testConfigYAML
// followed by extra; write rewrites the file (for a.Reload). Warnings are
// logged to logs too.
func reloadableApp(t *testing.T, extra string) (a *App, write func(extra string), logs *testenv.SyncBuffer) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "omen.yml")
	write = func(extra string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(testConfigYAML+extra), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(extra)
	logs = &testenv.SyncBuffer{}
	a = startApp(t, t.TempDir(), func(o *Options) {
		o.Config, o.ConfigFile = nil, file
		o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, logs), &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	return a, write, logs
}

// TestRemoteWriteLimitsReload: a reload that changes the remote_write
// limits moves the receiver's 413 boundary both ways, without a restart
// warning; one that also flips remote_write.disabled warns that this key
// takes a restart, keeps the endpoint served, and applies the limits.
func TestRemoteWriteLimitsReload(t *testing.T) {
	limit := func(n int) string { return fmt.Sprintf("remote_write:\n  max_samples_per_request: %d\n", n) }
	a, write, logs := reloadableApp(t, limit(2))
	threeSamples := rwRequest(t, 1, 3, 1)
	steps := []struct {
		name   string
		extra  string
		status int
		warn   string // in the log after the reload; "" for no restart warning
	}{
		{name: "raised to 3", extra: limit(3), status: http.StatusNoContent},
		{name: "lowered to 2", extra: limit(2), status: http.StatusRequestEntityTooLarge},
		{name: "back to the default", extra: "", status: http.StatusNoContent},
		{name: "disabled takes a restart, the limit applies", extra: limit(2) + "  disabled: true\n",
			status: http.StatusRequestEntityTooLarge, warn: "remote_write.disabled"},
	}
	if status, body := postRemoteWrite(t, a, threeSamples); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("at start: status %d %q, want 413", status, body)
	}
	for _, st := range steps {
		write(st.extra)
		before := len(logs.String())
		if err := a.Reload(); err != nil {
			t.Fatalf("%s: reload: %v", st.name, err)
		}
		logged := logs.String()[before:]
		switch {
		case st.warn == "" && strings.Contains(logged, "not applied until restart"):
			t.Errorf("%s: a restart warning for a reloadable change:\n%s", st.name, logged)
		case st.warn != "" && (!strings.Contains(logged, "not applied until restart") || !strings.Contains(logged, st.warn)):
			t.Errorf("%s: no restart warning naming %s in the log:\n%s", st.name, st.warn, logged)
		}
		if status, body := postRemoteWrite(t, a, threeSamples); status != st.status {
			t.Fatalf("%s: status %d %q, want %d", st.name, status, body, st.status)
		}
	}
}

// TestRemoteWriteLimitsFailedReload: a reload that raises the
// remote_write limit but fails (the Prometheus pollers refuse a feature
// set without PromQL features) leaves the old limit in force.
func TestRemoteWriteLimitsFailedReload(t *testing.T) {
	good, eventsOnly := pollerConfigs(t)
	file := filepath.Join(t.TempDir(), "omen.yml")
	write := func(yml string, maxSamples int) {
		t.Helper()
		yml += fmt.Sprintf("remote_write:\n  max_samples_per_request: %d\n", maxSamples)
		if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(good, 2)
	a := startApp(t, t.TempDir(), func(o *Options) { o.Config, o.ConfigFile = nil, file })
	threeSamples := rwRequest(t, 1, 3, 1)
	if status, body := postRemoteWrite(t, a, threeSamples); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("at start: status %d %q, want 413", status, body)
	}
	write(eventsOnly, 1000)
	if err := a.Reload(); err == nil {
		t.Fatal("a reload the pollers refuse succeeded")
	}
	if status, body := postRemoteWrite(t, a, threeSamples); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("after a failed reload: status %d %q, want 413 (the old limit)", status, body)
	}
	write(good, 1000)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if status, body := postRemoteWrite(t, a, threeSamples); status != http.StatusNoContent {
		t.Fatalf("after a good reload: status %d %q, want 204", status, body)
	}
}
