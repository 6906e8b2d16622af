package stream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/clientsettings"
	"github.com/omen-sre/omen/internal/testenv"
)

// settingsTransport fails its first fail requests with omen's client
// settings error (a password_file moved away, as config's transport says
// it), moving the poller's clock 10 s on at each; then it sends them.
type settingsTransport struct {
	tr     *http.Transport
	fail   int64
	failed atomic.Int64
	offset *atomic.Int64
}

func (s *settingsTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.failed.Add(1) <= s.fail {
		s.offset.Add(int64(10 * time.Second))
		return nil, &clientsettings.Error{Err: errors.New("unable to read basic auth password: unable to read file /run/secrets/pw: open /run/secrets/pw: no such file or directory")}
	}
	return s.tr.RoundTrip(r)
}

// TestPollerClientSettingsLogThrottled: while omen's client settings do
// not read (a basic_auth.password_file moved away), each poll's queries
// fail unsent; that is logged once as it starts (not once per query),
// then at most once a minute (by the poller's clock) while it goes on,
// and at INFO once when the settings read again. It made a WARN per
// query at its start, then debug records only.
func TestPollerClientSettingsLogThrottled(t *testing.T) {
	verifyNoLeaks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	}))
	t.Cleanup(srv.Close)
	var offset atomic.Int64
	const polls = 20 // of 3 queries, 30 s of the poller's clock each: 10 minutes
	rt := &settingsTransport{tr: &http.Transport{}, fail: 3 * polls, offset: &offset}
	t.Cleanup(rt.tr.CloseIdleConnections)
	logs := &testenv.SyncBuffer{}
	p, err := NewPoller(&MemAppender{}, PollerOptions{URL: srv.URL, Queries: map[string]string{"a": "up", "b": "vector(1)", "c": "vector(2)"},
		Step: 20 * time.Millisecond, RoundTripper: rt, MaxRetries: 3, RetryBackoff: time.Millisecond},
		prometheus.NewRegistry(), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	p.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "the INFO record", func() bool { return strings.Contains(logs.String(), "read again") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	warns := regexp.MustCompile(`(?m)^.*level=WARN.*$`).FindAllString(out, -1)
	if len(warns) == 0 || !strings.Contains(warns[0], `msg="queries not sent: omen's client settings do not read (while they do not, logged again once a minute)"`) ||
		!strings.Contains(warns[0], "queries=3") || !strings.Contains(warns[0], "/run/secrets/pw") {
		t.Fatalf("first WARN %q, want one for the poll's 3 queries naming the file; logs:\n%s", warns, out)
	}
	var last time.Duration
	for _, w := range warns[1:] {
		m := regexp.MustCompile(`still do not read" .*failing_for=(\S+)`).FindStringSubmatch(w)
		if m == nil {
			t.Fatalf("WARN %q after the first, want only the reminders", w)
		}
		d, err := time.ParseDuration(m[1])
		if err != nil {
			t.Fatal(err)
		}
		if d-last < time.Minute {
			t.Errorf("reminder at failing_for=%s, %s after the previous one: more than once a minute", d, d-last)
		}
		last = d
	}
	// 30 s of the poller's clock a poll: a reminder every 2 polls, the
	// first at the third.
	if n := len(warns) - 1; n != polls/2-1 {
		t.Errorf("%d reminders for %d failed polls (%s of the poller's clock), want %d; logs:\n%s", n, polls, polls*30*time.Second, polls/2-1, out)
	}
	if n := strings.Count(out, "level=INFO"); n != 1 || !strings.Contains(out, `msg="omen's client settings read again: queries sent"`) {
		t.Errorf("%d INFO records, want one saying the settings read again; logs:\n%s", n, out)
	}
	if strings.Contains(out, "query failed") {
		t.Errorf("a query's own failure logged; logs:\n%s", out)
	}
}
