package demo

import (
	"context"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/training"
)

// settingsWriter records the demo's output and, when the live phase
// starts, reads the daemon's history settings from the web address the
// demo printed, then cancels the demo.
type settingsWriter struct {
	mu       sync.Mutex
	b        strings.Builder
	done     bool
	settings *api.HistorySettings
	err      error
	cancel   context.CancelFunc
}

var webUI = regexp.MustCompile(`web UI (\S+)/ui/`)

func (w *settingsWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if s := w.b.String(); !w.done && strings.Contains(s, "live: the fleet runs") {
		w.done = true
		if m := webUI.FindStringSubmatch(s); m != nil {
			w.settings, w.err = api.HistoryClient{Client: &api.Client{URL: m[1]}}.Settings(context.Background())
		}
		w.cancel()
	}
	return len(p), nil
}

// TestRunSetsCritical: the demo runs its daemon with an
// alerting.critical_probability between the trained model's failure
// threshold and 1, and prints it with the threshold, so that its alerts
// show both severities. The demo's models have thresholds of about 0.99,
// above the default 0.9, which it kept (it takes no --config.file): every
// alert was critical and nothing said so.
func TestRunSetsCritical(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &settingsWriter{cancel: cancel}
	err := Run(ctx, Options{
		Seed: 1, History: 3 * time.Hour, Live: time.Hour, Out: out,
		Train: training.TrainOptions{Epochs: 1, Hidden: 4},
		App: app.Options{ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(),
			Logger: slog.New(slog.DiscardHandler)},
	})
	out.mu.Lock()
	defer out.mu.Unlock()
	text := out.b.String()
	if err != nil || !out.done {
		t.Fatalf("Run = %v, live phase reached %v; output:\n%s", err, out.done, text)
	}
	m := regexp.MustCompile(`training: \d+ windows, validation AUC-PR \S+, threshold (\S+), critical from p=(\S+) \(alerting\.critical_probability\), `).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no critical probability after the threshold in the training line:\n%s", text)
	}
	th, _ := strconv.ParseFloat(m[1], 64)
	want, err := strconv.ParseFloat(m[2], 64)
	if err != nil || !(want > th && want < 1) {
		t.Fatalf("critical probability %s for threshold %s: want one between it and 1", m[2], m[1])
	}
	if out.err != nil || out.settings == nil || out.settings.AlertCriticalProbability == nil || *out.settings.AlertCriticalProbability != want {
		t.Fatalf("daemon's settings %+v, %v: want alert_critical_probability %g", out.settings, out.err, want)
	}
}

// TestCritical: the critical probability set for a model is its own
// (model.Thresholds' Critical, chosen by its training) when it has one
// between its failure threshold and 1, else midway between the threshold
// and 1; a model that never alerts (threshold 1 or more, or none) sets
// none.
func TestCritical(t *testing.T) {
	for _, tc := range []struct {
		th   model.Thresholds
		want string
		ok   bool
	}{
		{model.Thresholds{Failure: 0.993}, "0.996", true},
		{model.Thresholds{Failure: 0.5}, "0.75", true},
		{model.Thresholds{Failure: 0.9996}, "0.9998", true},
		{model.Thresholds{Failure: 0.2, Critical: 0.35}, "0.35", true},
		{model.Thresholds{Failure: 0.5, Critical: 0.4}, "0.75", true}, // not above the threshold: not used
		{model.Thresholds{Failure: 1}, "", false},
		{model.Thresholds{}, "", false},
	} {
		p, s, ok := critical(tc.th)
		if s != tc.want || ok != tc.ok || ok && !(p > tc.th.Failure && p < 1) {
			t.Errorf("critical(%+v) = %g, %q, %v; want %q, %v", tc.th, p, s, ok, tc.want, tc.ok)
		}
	}
}
