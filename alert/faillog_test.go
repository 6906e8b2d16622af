package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omen-sre/omen/internal/testenv"
)

// logRecord is a log record as recordLogs keeps it: its attributes'
// values as text.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// recordLogs is a slog.Handler keeping every record (all levels).
type recordLogs struct {
	mu   sync.Mutex
	recs []logRecord
}

func (h *recordLogs) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordLogs) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordLogs) WithGroup(string) slog.Handler            { return h }

func (h *recordLogs) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
	return nil
}

// matching returns the records at level whose message starts with prefix.
func (h *recordLogs) matching(level slog.Level, prefix string) []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logRecord
	for _, r := range h.recs {
		if r.level == level && strings.HasPrefix(r.msg, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// The messages of the delivery failures' records (sendFailed,
// sendRecovered).
const (
	msgSendFailed   = "send alerts; will retry"
	msgStillFailing = "send alerts still failing"
	msgRecovered    = "alertmanager takes alerts again"
)

// fireOne processes two steps (For 2) of one entity over the threshold,
// before t: an alert fires and is queued for every Alertmanager of m.
func fireOne(t *testing.T, m *Manager, before time.Time) {
	t.Helper()
	for i := 2; i >= 1; i-- {
		ts := before.Add(-time.Duration(i) * 15 * time.Second)
		if err := m.Process(context.Background(), ts, []Prediction{pred("pod-1", ts, 0.8)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeliveryFailuresLoggedOnceAMinute: an Alertmanager that fails 30
// POSTs in a row, 10 s apart on the Manager's clock (Options.Now,
// advanced by the fake Alertmanager at each POST; the retries' backoff is
// milliseconds), is warned about at its first failure, then once a
// minute of that clock with since when and how many POSTs failed, and
// its recovery is logged once at INFO with the alerts delivered. Every
// failed POST logged a WARN (30 of them) and the recovery nothing.
func TestDeliveryFailuresLoggedOnceAMinute(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after the other cleanups
	const fails, tick = 30, 10 * time.Second
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var clock atomic.Int64 // since t0
	now := func() time.Time { return t0.Add(time.Duration(clock.Load())) }
	var posts atomic.Int64
	var mu sync.Mutex
	delivered := -1 // alerts in the first POST accepted
	am := httptest.NewServer(answerStatus(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		clock.Add(int64(tick))
		if posts.Add(1) <= fails {
			http.Error(w, "alertmanager is starting", http.StatusServiceUnavailable)
			return
		}
		var as []postableAlert
		if err := json.Unmarshal(body, &as); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		if delivered < 0 {
			delivered = len(as)
		}
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(am.Close)
	logs := &recordLogs{}
	opts := testOptions(openStore(t, ""), am.URL)
	opts.Now = now
	opts.ResendDelay = time.Hour // no resends: the one alert's POSTs only
	opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 2*time.Millisecond
	opts.Logger = slog.New(logs)
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	fireOne(t, m, t0)
	startRun(t, m)
	eventually(t, 30*time.Second, "the alert delivered", func() error {
		if n, _ := m.opts.Store.Pending(am.URL, 0); len(n) != 0 {
			return fmt.Errorf("%d items pending, %d POSTs", len(n), posts.Load())
		}
		return nil
	})

	// POST k fails at t0+10k s: warned at once (k=1), then at k=7, 13, 19
	// and 25 (a minute after the last warning); the 31st succeeds.
	at := func(k int) string { return t0.Add(time.Duration(k) * tick).Format(time.RFC3339) }
	first := logs.matching(slog.LevelWarn, msgSendFailed)
	if len(first) != 1 {
		t.Fatalf("%d WARN %q records, want 1 (the first failure): %v", len(first), msgSendFailed, first)
	}
	if a := first[0].attrs; !strings.Contains(a["err"], "503") || a["alerts"] != "1" {
		t.Errorf("first failure's record %v: want the 503 and alerts=1", a)
	}
	still := logs.matching(slog.LevelWarn, msgStillFailing)
	var got []string
	for _, r := range still {
		got = append(got, r.attrs["failed_attempts"]+"@"+r.attrs["failing_for"]+" since "+r.attrs["failing_since"])
	}
	var want []string
	for _, k := range []int{7, 13, 19, 25} {
		want = append(want, fmt.Sprintf("%d@%s since %s", k, time.Duration(k-1)*tick, at(1)))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("still-failing WARNs %v, want %v", got, want)
	}
	// The rate: the first, then at most one a minute over the failure.
	if failing := time.Duration(fails-1) * tick; len(first)+len(still) > 1+int(failing/failLogEvery) {
		t.Errorf("%d WARNs over %s of failures, more than one a minute", len(first)+len(still), failing)
	}
	if n := len(logs.matching(slog.LevelWarn, "")); n != len(first)+len(still) {
		t.Errorf("%d WARN records, want only the %d about the failures", n, len(first)+len(still))
	}
	rec := logs.matching(slog.LevelInfo, msgRecovered)
	if len(rec) != 1 {
		t.Fatalf("%d INFO %q records, want 1", len(rec), msgRecovered)
	}
	mu.Lock()
	wantDelivered := fmt.Sprint(delivered)
	mu.Unlock()
	wantRec := map[string]string{
		"failing_since": at(1), "failed_for": (fails * tick).String(), "failed_attempts": fmt.Sprint(fails),
		"alerts_delivered": wantDelivered, "alertmanager": am.URL,
	}
	for k, v := range wantRec {
		if rec[0].attrs[k] != v {
			t.Errorf("recovery record's %s = %q, want %q (%v)", k, rec[0].attrs[k], v, rec[0].attrs)
		}
	}
	if wantDelivered != "1" {
		t.Errorf("the first accepted POST held %s alerts, want 1", wantDelivered)
	}
}

// TestDeliveryFailuresLoggedRealAlertmanager: a real Alertmanager behind
// a proxy that refuses connections (down) for a few dozen retries, then
// forwards again: one WARN for the outage (it lasts well under a minute;
// any still-failing WARN within the minute bound), one INFO on recovery,
// and the alert reaches Alertmanager.
func TestDeliveryFailuresLoggedRealAlertmanager(t *testing.T) {
	am := testenv.Alertmanager(t)
	p := newProxy(t, am)
	p.down()
	logs := &recordLogs{}
	opts := testOptions(openStore(t, ""), p.URL())
	opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 5*time.Millisecond
	opts.Logger = slog.New(logs)
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	fireOne(t, m, time.Now())
	start := time.Now()
	startRun(t, m)
	eventually(t, 30*time.Second, "20 failed POSTs", func() error {
		if n := len(logs.matching(slog.LevelDebug, msgSendFailed)) + len(logs.matching(slog.LevelWarn, msgSendFailed)); n < 20 {
			return fmt.Errorf("%d failures logged", n)
		}
		return nil
	})
	p.up(am)
	eventually(t, 30*time.Second, "the alert in Alertmanager", func() error {
		if n := len(amAlerts(t, am)); n != 1 {
			return fmt.Errorf("%d alerts", n)
		}
		return nil
	})
	failing := time.Since(start)
	if n := len(logs.matching(slog.LevelWarn, msgSendFailed)); n != 1 {
		t.Errorf("%d WARN %q records, want 1", n, msgSendFailed)
	}
	// Logged before the POST's items are acknowledged, which the alert in
	// Alertmanager does not wait for.
	eventually(t, 10*time.Second, "the recovery logged", func() error {
		if n := len(logs.matching(slog.LevelInfo, msgRecovered)); n == 0 {
			return fmt.Errorf("no %q record", msgRecovered)
		}
		return nil
	})
	if n := len(logs.matching(slog.LevelWarn, msgStillFailing)); n > int(failing/failLogEvery) {
		t.Errorf("%d still-failing WARNs in %s", n, failing)
	}
	rec := logs.matching(slog.LevelInfo, msgRecovered)
	if len(rec) != 1 {
		t.Fatalf("%d INFO %q records, want 1", len(rec), msgRecovered)
	}
	if a := rec[0].attrs; a["alerts_delivered"] != "1" || atoi(a["failed_attempts"]) < 20 {
		t.Errorf("recovery record %v: want alerts_delivered=1 and failed_attempts ≥ 20", a)
	}
}

// atoi is s as an int, -1 when it is none.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
