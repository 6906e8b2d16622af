package stream

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

func TestCheckSubject(t *testing.T) {
	for _, tc := range []struct {
		s         string
		wildcards bool
		ok        bool
	}{
		{"omen.dlq", false, true},
		{"omen.metrics.*.p0", true, true},
		{"omen.>", true, true},
		{"omen.*.*.p0", false, false},
		{"omen.>", false, false},
		{"omen dlq", false, false},
		{"omen.dlq\t", false, false},
		{"", false, false},
		{"omen..dlq", false, false},
		{".omen", false, false},
		{"omen.", false, false},
		{"omen.>.x", true, false},
		{"omen.a*", true, false},
	} {
		if err := CheckSubject(tc.s, tc.wildcards); (err == nil) != tc.ok {
			t.Errorf("CheckSubject(%q, %v) = %v, want ok %v", tc.s, tc.wildcards, err, tc.ok)
		}
	}
}

func TestSubjectsOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"omen.dlq", "omen.metrics", false},
		{"omen.dlq", "omen.metrics.>", false},
		{"omen.metrics.dlq", "omen.metrics.>", true},
		{"omen.metrics", "omen.metrics.>", false},
		{"omen.events", "omen.events", true},
		{"omen.dlq", "omen.*", true},
		{"omen.dlq", "*.dlq", true},
		{"omen.dlq.x", "omen.*", false},
		{"omen.*.p0", "omen.metrics.*", true},
		{"omen.>", "omen.a.b.c", true},
		{"omen.>", "omen", false},
		{"a.b", "a.b.c", false},
	} {
		if got := SubjectsOverlap(tc.a, tc.b); got != tc.want {
			t.Errorf("SubjectsOverlap(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := SubjectsOverlap(tc.b, tc.a); got != tc.want {
			t.Errorf("SubjectsOverlap(%q, %q) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

// TestNATSOptionsDLQSubject: a dead-letter subject the dead-letter stream
// cannot capture next to the consumed stream is refused by
// NewNATSConsumer, before any stream is created.
func TestNATSOptionsDLQSubject(t *testing.T) {
	for _, tc := range []struct {
		dlq, want string
	}{
		{"omen.metrics.dlq", "is one of the stream's subjects"},
		{"omen.events", "is one of the stream's subjects"},
		{"omen dlq", "whitespace"},
		{"omen.dlq.>", "wildcard"},
	} {
		opts := NATSOptions{DLQSubject: tc.dlq}
		if _, err := opts.withDefaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DLQSubject %q: %v, want an error containing %q", tc.dlq, err, tc.want)
		}
	}
	if _, err := (&NATSOptions{DLQMaxBytes: -2}).withDefaults(); err == nil {
		t.Error("DLQMaxBytes -2 accepted")
	}
	o, err := (&NATSOptions{}).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.DLQMaxAge != 7*24*time.Hour || o.DLQMaxBytes != -1 {
		t.Fatalf("dead-letter defaults %s, %d; want 168h, -1 (no bound)", o.DLQMaxAge, o.DLQMaxBytes)
	}
}

// TestNATSConsumerDLQStreamUpdated: an existing dead-letter stream whose
// subject, retention or size bound differ from the options (the
// dead-letter subject was changed in the configuration) is updated by
// Setup, keeping its messages; poison messages then reach it instead of
// being nacked and redelivered for good. A new one is created with the
// bounds.
func TestNATSConsumerDLQStreamUpdated(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, ns.start(t))
			ctx := context.Background()
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
				Name: DefaultDLQStream, Subjects: []string{"omen.dlq"}, Storage: jetstream.FileStorage,
				MaxAge: 7 * 24 * time.Hour,
			}); err != nil {
				t.Fatal(err)
			}
			publish(t, js, "omen.dlq", "", "an old dead letter")

			app := &MemAppender{}
			reg := prometheus.NewRegistry()
			opts := testNATSOptions()
			opts.DLQSubject = "omen.deadletter"
			opts.DLQMaxAge = 48 * time.Hour
			opts.DLQMaxBytes = 8 << 20
			logs := &testenv.SyncBuffer{}
			c, err := NewNATSConsumer(nc, app, opts, reg, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			setupStreams(t, c)
			st, err := js.Stream(ctx, DefaultDLQStream)
			if err != nil {
				t.Fatal(err)
			}
			info := st.CachedInfo()
			if cfg := info.Config; len(cfg.Subjects) != 1 || cfg.Subjects[0] != "omen.deadletter" || cfg.MaxAge != 48*time.Hour || cfg.MaxBytes != 8<<20 {
				t.Fatalf("dead-letter stream subjects %v, max age %s, max bytes %d; want [omen.deadletter], 48h, 8 MiB",
					cfg.Subjects, cfg.MaxAge, cfg.MaxBytes)
			}
			if info.State.Msgs != 1 {
				t.Fatalf("dead-letter stream holds %d messages after the update, want the old one kept", info.State.Msgs)
			}

			stop := runConsumer(t, c)
			publish(t, js, "omen.metrics.influx", "", "this is not line protocol at all")
			waitFor(t, "the dead letter", func() bool {
				return counterValue(t, reg, "omen_nats_messages_total", "outcome", "dead_letter") == 1
			})
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			dl := fetchDLQ(t, js, 2)
			if got := dl[1].Subject(); got != "omen.deadletter" || dl[1].Headers().Get(HeaderDLQReason) != "malformed" {
				t.Fatalf("dead letter on %q with headers %v, want omen.deadletter, malformed", got, dl[1].Headers())
			}
			if v := counterValue(t, reg, "omen_nats_messages_total", "outcome", "nacked"); v != 0 {
				t.Fatalf("%v messages nacked, want 0; logs:\n%s", v, logs.String())
			}
		})
	}
}

// TestNATSConsumerDLQStreamCreatedDefaults: a new dead-letter stream gets
// the default retention (7 days) and no size bound.
func TestNATSConsumerDLQStreamCreatedDefaults(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, ns.start(t))
			c := newConsumer(t, nc, &MemAppender{}, testNATSOptions(), nil)
			setupStreams(t, c)
			st, err := js.Stream(context.Background(), DefaultDLQStream)
			if err != nil {
				t.Fatal(err)
			}
			if cfg := st.CachedInfo().Config; cfg.MaxAge != 7*24*time.Hour || cfg.MaxBytes != -1 || cfg.Discard != jetstream.DiscardOld {
				t.Fatalf("dead-letter stream max age %s, max bytes %d, discard %v; want 168h, -1 (none), old", cfg.MaxAge, cfg.MaxBytes, cfg.Discard)
			}
		})
	}
}

// TestCheckFilterSubjects: overlapping filters (JetStream refuses them at
// the consumer's creation) and, against the stream's subjects, a filter
// that reads nothing are refused; omen check config passed both.
func TestCheckFilterSubjects(t *testing.T) {
	for _, tc := range []struct {
		filters, stream []string
		want            string // "" no error
	}{
		{[]string{"omen.metrics.*.p0", "omen.events.*.p0"}, DefaultNATSSubjects, ""},
		{[]string{"omen.metrics.>", "omen.metrics.*.p0"}, nil, `filter subjects "omen.metrics.>" and "omen.metrics.*.p0" overlap`},
		{[]string{"foo.bar"}, nil, ""},
		{[]string{"foo.bar"}, DefaultNATSSubjects, `filter subject "foo.bar" matches none of the stream's subjects`},
		{[]string{"omen..x"}, nil, "empty token"},
	} {
		err := CheckFilterSubjects(tc.filters, tc.stream)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckFilterSubjects(%q, %q) = %v, want %q", tc.filters, tc.stream, err, tc.want)
		}
	}
}

// TestCheckDLQSubjectHint: the suggestion lies outside the stream's
// subjects (it suggested "omen.dlq" for a stream of omen.>, the layout
// stream/doc.go gives for nats-server 2.9).
func TestCheckDLQSubjectHint(t *testing.T) {
	err := CheckDLQSubject("omen.dlq", []string{"omen.>"})
	if err == nil || !strings.HasSuffix(err.Error(), `choose one outside them, e.g. "omen_dlq"`) {
		t.Errorf("CheckDLQSubject(omen.dlq, [omen.>]) = %v, want the hint omen_dlq", err)
	}
	err = CheckDLQSubject("omen.metrics.dlq", DefaultNATSSubjects)
	if err == nil || !strings.HasSuffix(err.Error(), `e.g. "omen.dlq"`) {
		t.Errorf("CheckDLQSubject(omen.metrics.dlq) = %v, want the hint omen.dlq", err)
	}
}

// TestNATSConsumerFilterOutsideStream: a filter matching none of the
// existing stream's subjects fails Setup (it read nothing, silently).
func TestNATSConsumerFilterOutsideStream(t *testing.T) {
	verifyNoLeaks(t)
	nc, _ := connectJS(t, natsServers[0].start(t))
	opts := testNATSOptions()
	opts.FilterSubjects = []string{"foo.bar"}
	c := newConsumer(t, nc, &MemAppender{}, opts, prometheus.NewRegistry())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Setup(ctx); err == nil || !strings.Contains(err.Error(), `filter subject "foo.bar" matches none of the stream's subjects`) {
		t.Fatalf("Setup with a filter outside the stream: %v", err)
	}
}
