package app

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
)

// TestFillWindowsShortHistoryWarns: a model whose window is longer than
// the history in the store (promoted, or loaded by a restarted daemon)
// gets its windows filled as far as the store goes, and the log says how
// many are full: a warning naming the entities, the full windows (none),
// the shortest history against the W+1 steps needed and the steps until
// every entity is scored, which is when they are. With history enough,
// an info line and no warning. Before, the log said "windows filled from
// the store entities=8 window=48" while no window was full and nothing
// was scored for the next steps (reviewer's finding).
func TestFillWindowsShortHistoryWarns(t *testing.T) {
	cfg := config.Default()
	names := features.Names(cfg.Config)
	for _, tc := range []struct {
		name    string
		restart bool  // a restarted scorer loads the long model, else it is promoted
		stored  int64 // steps stored before the fill, at 0, 1, …
		warn    string
	}{
		// a and c stored at steps 0-4, b at 0-3: with the step's vector
		// (and b's missed step) 6 of the 9 rows W = 8 needs.
		{"promotion, short history", false, 5, "entities=3 full_windows=0 window=8 steps_needed=9 shortest_history_steps=6 steps_until_all_scored=3"},
		{"restart, short history", true, 5, "entities=3 full_windows=0 window=8 steps_needed=9 shortest_history_steps=6 steps_until_all_scored=3"},
		{"promotion, history enough", false, 12, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			short := testModel(t, names, 2, 8, 1)
			long := testModel(t, names, 8, 8, 2)
			first := short
			if tc.restart {
				first = long
			}
			s, st := newTestScorer(t, cfg, first, prometheus.NewRegistry())
			if err := st.PutSchema(names, cfg.LabelNames()); err != nil {
				t.Fatal(err)
			}
			f := &fillFixture{t: t, cfg: cfg, st: st, names: names, step: time.Duration(cfg.Step).Milliseconds(), rng: rand.New(rand.NewPCG(64, 1))}
			f.run(0, tc.stored, s)
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			if tc.restart {
				var err error
				if s, err = newScorer(scorerOptions{Store: st, Config: cfg, Registerer: prometheus.NewRegistry(), Logger: logger}); err != nil {
					t.Fatal(err)
				}
			} else {
				s.logger = logger
				data, err := long.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := (registryAdmin{st: st, s: s, source: "test"}).AddModel(context.Background(), data, api.AddOptions{Promote: true}); err != nil {
					t.Fatal(err)
				}
			}
			got := f.run(tc.stored, tc.stored+1, s)[0]
			out := logs.String()
			if tc.warn == "" {
				if strings.Contains(out, "level=WARN") || !strings.Contains(out, `msg="windows filled from the store" entities=3 window=8`) || len(got) != 2 {
					t.Errorf("%d entities scored at the first step; log:\n%s\nwant a and c scored, an info line and no warning", len(got), out)
				}
				return
			}
			if !strings.Contains(out, "level=WARN msg=\"the store holds less history than the model's window") || !strings.Contains(out, tc.warn) {
				t.Fatalf("log:\n%s\nwant a warning with %s", out, tc.warn)
			}
			if strings.Contains(out, "level=INFO msg=\"windows filled from the store\"") {
				t.Errorf("log:\n%s\nwant no info line saying the windows were filled", out)
			}
			// Scored 3 steps later, as the warning says, not before.
			for k := tc.stored + 1; k <= tc.stored+3; k++ {
				got = f.run(k, k+1, s)[0]
				if want := map[bool]int{true: 2}[k == tc.stored+3]; len(got) != want {
					t.Fatalf("step %d: %d entities scored, want %d", k, len(got), want)
				}
			}
		})
	}
}
