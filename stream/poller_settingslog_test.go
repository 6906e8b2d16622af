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
	checkThrottledLog(t, runThrottled(t, srv.URL, rt, &offset, "read again"), throttledLog{
		polls:    polls,
		first:    `msg="queries not sent: omen's client settings do not read (while they do not, logged again once a minute)"`,
		names:    "/run/secrets/pw",
		reminder: `still do not read"`,
		info:     `msg="omen's client settings read again: queries sent"`,
	})
}

// runThrottled runs a poller of 3 queries on rt (retrying 3 times, 1 ms
// apart) against url until its log says until, and returns the log; the
// poller's clock is offset (as rt moves it on).
func runThrottled(t *testing.T, url string, rt http.RoundTripper, offset *atomic.Int64, until string) string {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	p, err := NewPoller(&MemAppender{}, PollerOptions{URL: url, Queries: map[string]string{"a": "up", "b": "vector(1)", "c": "vector(2)"},
		Step: 20 * time.Millisecond, RoundTripper: rt, MaxRetries: 3, RetryBackoff: time.Millisecond},
		prometheus.NewRegistry(), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	p.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // before the leak check, when waitFor fails
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "the INFO record", func() bool { return strings.Contains(logs.String(), until) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return logs.String()
}

// throttledLog is what a throttled failure's log holds: a first WARN
// (first, naming names, for the poll's 3 queries), then reminders
// (reminder, with failing_for) at most once a minute, one every 2 of
// polls polls of 30 s of the poller's clock (the first at the third),
// one INFO (info) and no query's own failure.
type throttledLog struct {
	polls                        int
	first, names, reminder, info string
}

func checkThrottledLog(t *testing.T, out string, want throttledLog) {
	t.Helper()
	warns := regexp.MustCompile(`(?m)^.*level=WARN.*$`).FindAllString(out, -1)
	if len(warns) == 0 || !strings.Contains(warns[0], want.first) || !strings.Contains(warns[0], "queries=3") || !strings.Contains(warns[0], want.names) {
		t.Fatalf("first WARN %q, want %s for the poll's 3 queries naming %s; logs:\n%s", warns, want.first, want.names, out)
	}
	re := regexp.MustCompile(regexp.QuoteMeta(want.reminder) + ` .*failing_for=(\S+)`)
	var last time.Duration
	for _, w := range warns[1:] {
		m := re.FindStringSubmatch(w)
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
	if n := len(warns) - 1; n != want.polls/2-1 {
		t.Errorf("%d reminders for %d failed polls (%s of the poller's clock), want %d; logs:\n%s", n, want.polls, time.Duration(want.polls)*30*time.Second, want.polls/2-1, out)
	}
	if n := strings.Count(out, "level=INFO"); n != 1 || !strings.Contains(out, want.info) {
		t.Errorf("%d INFO records, want one: %s; logs:\n%s", n, want.info, out)
	}
	if strings.Contains(out, "query failed") {
		t.Errorf("a query's own failure logged; logs:\n%s", out)
	}
}
