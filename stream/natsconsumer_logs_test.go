package stream

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestNATSConsumerRateLimitsMessageLogs: 1000 poison messages and 200
// partly rejected ones (a good line and a malformed one each) of one
// subject make one WARN each when they start and a summary with their
// count (written when Run returns at the latest), not one WARN a message;
// partly rejected messages were logged at DEBUG only.
func TestNATSConsumerRateLimitsMessageLogs(t *testing.T) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	reg := prometheus.NewRegistry()
	logs := &testenv.SyncBuffer{}
	c, err := NewNATSConsumer(nc, &MemAppender{}, testNATSOptions(), reg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	setupStreams(t, c)
	const poison, partly = 1000, 200
	pub := func(body string) {
		t.Helper()
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: "omen.metrics.influx", Data: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	for range poison {
		pub("this is not line protocol at all")
	}
	ts := time.Now().UnixNano()
	for i := range partly {
		pub(fmt.Sprintf("a,i=%d v=1 %d\nnot line protocol", i, ts))
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(20 * time.Second):
		t.Fatal("publishing did not complete")
	}
	stop := runConsumer(t, c)
	waitFor(t, "every message handled", func() bool {
		return counterValue(t, reg, "omen_nats_messages_total", "outcome", "dead_letter") == poison &&
			counterValue(t, reg, "omen_nats_messages_total", "outcome", "acked") == partly
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n >= 10 {
		t.Fatalf("%d WARN records for %d poison and %d partly rejected messages, want fewer than 10; logs:\n%.3000s", n, poison, partly, out)
	}
	for _, want := range []string{
		`level=WARN msg="dead-lettered message" source=nats/OMEN/omen subject=omen.metrics.influx seq=1 reason=malformed`,
		`level=WARN msg="dead-lettered messages" source=nats/OMEN/omen subject=omen.metrics.influx reason=malformed messages=999 first_seq=2`,
		`level=WARN msg="message partly rejected`,
		`subject=omen.metrics.influx seq=1001 reason=malformed rejected_lines=1`,
		`level=WARN msg="messages partly rejected" source=nats/OMEN/omen subject=omen.metrics.influx reason=malformed messages=199 first_seq=1002 rejected_lines=199`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q; logs:\n%s", want, out)
		}
	}
}

// TestRateLogInterval: after its interval, a key's occurrences are
// summarized once and the interval starts again; a key quiet for an
// interval is written at once again.
func TestRateLogInterval(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	r := newRateLog(slog.New(slog.NewTextHandler(logs, nil)), slog.LevelWarn, "first", "summary")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.note(t0, "s", "malformed", 1, 0, "e1")
	r.note(t0.Add(time.Second), "s", "malformed", 2, 0, "e2")
	r.note(t0.Add(2*time.Second), "s", "too_large", 3, 0, "e3") // another key
	r.flush(t0.Add(30*time.Second), false)                      // not due
	r.note(t0.Add(40*time.Second), "s", "malformed", 4, 0, "e4")
	r.flush(t0.Add(61*time.Second), false)  // s/malformed summarized; s/too_large ends
	r.flush(t0.Add(122*time.Second), false) // s/malformed quiet: ends
	r.note(t0.Add(130*time.Second), "s", "malformed", 5, 0, "e5")
	r.note(t0.Add(131*time.Second), "s", "too_large", 6, 0, "e6")
	got := logs.String()
	for _, want := range []string{"seq=1 ", "seq=3 ", "msg=summary subject=s reason=malformed messages=2 first_seq=2", "seq=5 ", "seq=6 "} {
		if !strings.Contains(got, want) {
			t.Errorf("logs lack %q; logs:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "level=WARN"); n != 5 {
		t.Errorf("%d records, want 5; logs:\n%s", n, got)
	}
}

// TestNATSConsumerDeadLetterLogCountsStoredOnly: while OMEN_DLQ refuses
// messages, a poison message's failed dead letters are warned about as
// failed publishes (naming the message), not logged as dead-lettered
// messages; once OMEN_DLQ takes it, it is logged as dead-lettered once.
// Each failed attempt was logged as a dead letter: one message made a
// summary of messages=5 while dead_letter was 0 and dead_letter_failed 6.
func TestNATSConsumerDeadLetterLogCountsStoredOnly(t *testing.T) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	reg := prometheus.NewRegistry()
	logs := &testenv.SyncBuffer{}
	c, err := NewNATSConsumer(nc, &MemAppender{}, testNATSOptions(), reg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	setupStreams(t, c)
	refuseDeadLetters(t, js)
	reason := func(r string) float64 { return counterValue(t, reg, "omen_ingest_errors_total", "reason", r) }
	stop := runConsumer(t, c)
	seq := publish(t, js, "omen.metrics.influx", "", "this is not line protocol at all")
	waitFor(t, "three failed dead letters", func() bool { return reason(ReasonDeadLetterFailed) >= 3 })
	if out := logs.String(); strings.Contains(out, "dead-lettered") {
		t.Fatalf("no message was dead-lettered, yet the log reports one; logs:\n%s", out)
	}
	want := fmt.Sprintf(`message_subject=omen.metrics.influx seq=%d reason=malformed`, seq)
	if out := logs.String(); !strings.Contains(out, want) {
		t.Fatalf("the failed dead letter's WARN lacks %q; logs:\n%s", want, out)
	}
	acceptDeadLetters(t, js)
	waitFor(t, "the dead letter", func() bool { return reason(ReasonDeadLetter) == 1 })
	if err := stop(); err != nil { // flushes the summaries
		t.Fatal(err)
	}
	out := logs.String()
	if n := strings.Count(out, "dead-lettered"); n != 1 {
		t.Fatalf("%d dead-letter records for one dead letter, want 1; logs:\n%s", n, out)
	}
	if want := fmt.Sprintf(`level=WARN msg="dead-lettered message" source=nats/OMEN/omen subject=omen.metrics.influx seq=%d reason=malformed`, seq); !strings.Contains(out, want) {
		t.Fatalf("logs lack %q; logs:\n%s", want, out)
	}
}
