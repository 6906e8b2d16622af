package stream

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestNATSConsumerStreamLimitsApplied: an existing stream gets the
// configured retention and size bound at Setup, with a WARN naming each
// changed setting, and keeps its other settings (a subject another
// publisher added, its description) and its messages. Setup with
// unchanged limits logs nothing. Before, the limits applied only when
// omen created the stream: a changed nats.max_age or nats.max_bytes was
// ignored without a word.
func TestNATSConsumerStreamLimitsApplied(t *testing.T) {
	for _, ns := range natsServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, ns.start(t))
			ctx := context.Background()
			subjects := append(slices.Clone(DefaultNATSSubjects), "other.>")
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
				Name: DefaultNATSStream, Subjects: subjects, Description: "the operator's",
				Storage: jetstream.FileStorage, MaxAge: time.Hour, MaxBytes: 1 << 20,
			}); err != nil {
				t.Fatal(err)
			}
			publish(t, js, "other.x", "", "kept")

			for _, step := range []struct {
				name     string
				maxAge   time.Duration
				maxBytes int64
				// wantBytes is the stream's MaxBytes after Setup; warn the
				// attributes the WARN must have, "" none; notWarn those it
				// must not.
				wantBytes     int64
				warn, notWarn []string
			}{
				{name: "both changed", maxAge: 3 * time.Hour, maxBytes: 2 << 20, wantBytes: 2 << 20,
					warn: []string{"old_max_age=1h0m0s max_age=3h0m0s", "old_max_bytes=1048576 max_bytes=2097152"}},
				{name: "unchanged", maxAge: 3 * time.Hour, maxBytes: 2 << 20, wantBytes: 2 << 20},
				{name: "bound removed", maxAge: 3 * time.Hour, maxBytes: 0, wantBytes: -1,
					warn: []string{"old_max_bytes=2097152 max_bytes=-1"}, notWarn: []string{"max_age="}},
			} {
				logs := &testenv.SyncBuffer{}
				opts := testNATSOptions()
				opts.MaxAge, opts.MaxBytes = step.maxAge, step.maxBytes
				c, err := NewNATSConsumer(nc, &MemAppender{}, opts, nil, slog.New(slog.NewTextHandler(logs, nil)))
				if err != nil {
					t.Fatal(err)
				}
				setupStreams(t, c)
				st, err := js.Stream(ctx, DefaultNATSStream)
				if err != nil {
					t.Fatal(err)
				}
				info := st.CachedInfo()
				cfg := info.Config
				if cfg.MaxAge != step.maxAge || cfg.MaxBytes != step.wantBytes {
					t.Errorf("%s: stream max age %s, max bytes %d; want %s, %d", step.name, cfg.MaxAge, cfg.MaxBytes, step.maxAge, step.wantBytes)
				}
				if !slices.Equal(cfg.Subjects, subjects) || cfg.Description != "the operator's" {
					t.Errorf("%s: stream subjects %q, description %q; want %q, the operator's", step.name, cfg.Subjects, cfg.Description, subjects)
				}
				if info.State.Msgs != 1 {
					t.Errorf("%s: stream holds %d messages, want the 1 published before", step.name, info.State.Msgs)
				}
				out := logs.String()
				warned := strings.Contains(out, "level=WARN msg=\"stream's limits differed")
				if warned != (len(step.warn) > 0) {
					t.Errorf("%s: WARN logged: %v, want %v; logs:\n%s", step.name, warned, len(step.warn) > 0, out)
				}
				for _, w := range step.warn {
					if !strings.Contains(out, w) {
						t.Errorf("%s: log without %q:\n%s", step.name, w, out)
					}
				}
				for _, w := range step.notWarn {
					if strings.Contains(out, w) {
						t.Errorf("%s: log names %q, which did not change:\n%s", step.name, w, out)
					}
				}
			}
		})
	}
}
