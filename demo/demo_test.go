package demo

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/sim"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/stream/natsembed"
	"github.com/omen-sre/omen/training"
)

// TestWithOpening: the demo's live phase opens with one strong
// memory-growth failure and nothing else in its first 40 minutes, and the
// fleet accepts the schedule.
func TestWithOpening(t *testing.T) {
	live := 24 * time.Hour
	specs, err := schedule(1, live+4*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	specs = withOpening(specs, live)
	n := 0
	for _, s := range specs {
		if s.At+sim.DefaultFailFor >= live && s.At-s.Lead <= live+40*time.Minute {
			n++
			if s.Kind != sim.MemoryGrowth || s.Strength != 1 || s.At-s.Lead < live {
				t.Errorf("opening scenario %+v", s)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d scenarios in the opening, want 1", n)
	}
	if _, err := sim.New(sim.Options{Seed: 1, Start: time.Now().Add(-live).Truncate(Step), Step: Step, Scenarios: specs}); err != nil {
		t.Fatal(err)
	}
}

// cancelWriter collects the demo's output and cancels when it first
// contains at.
type cancelWriter struct {
	mu     sync.Mutex
	b      strings.Builder
	at     string
	cancel context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if w.at != "" && strings.Contains(w.b.String(), w.at) {
		w.at = ""
		w.cancel()
	}
	return len(p), nil
}

func (w *cancelWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestRunCancelled: Ctrl-C in any phase (publishing the history, training,
// live) stops the demo cleanly: no error, "stopping", no ERROR log caused
// by the cancellation. It used to fail with "publish history: context
// canceled".
func TestRunCancelled(t *testing.T) {
	for _, tc := range []struct{ phase, at string }{
		{"history", "simulated fleet:"},
		{"history midway", "history: 50%\n"},
		{"training", "training: LSTM"},
		{"live", "live: the fleet runs"},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := &cancelWriter{at: tc.at, cancel: cancel}
			var logs cancelWriter
			err := Run(ctx, Options{
				Seed: 1, History: 3 * time.Hour, Live: time.Hour, Out: out,
				Train: training.TrainOptions{Epochs: 1, Hidden: 4},
				App: app.Options{ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(),
					Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))},
			})
			if err != nil {
				t.Fatalf("Run = %v after cancelling in the %s phase, want nil; output:\n%s", err, tc.phase, out)
			}
			if !strings.Contains(out.String(), "stopping") {
				t.Errorf("no \"stopping\" in the output:\n%s", out)
			}
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "level=ERROR") {
					t.Errorf("error logged on cancellation: %s", l)
				}
				// The demo's normal course is no warning: it trains the
				// model the daemon lacks at first, and the simulated
				// deploys leave short pods.
				if strings.Contains(l, "level=WARN") && (strings.Contains(l, "no model") || strings.Contains(l, "short entity")) {
					t.Errorf("warning logged in the demo's normal course: %s", l)
				}
			}
		})
	}
}

// TestRunStorage: the demo refuses a store used before (a second run on
// one skipped its history as already evaluated and printed the first
// run's alerts), before starting anything; without a storage path it
// runs on a temporary directory it removes.
func TestRunStorage(t *testing.T) {
	used := t.TempDir()
	if err := os.WriteFile(filepath.Join(used, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	afile := filepath.Join(used, "x")
	dangling := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(filepath.Join(used, "nosuch"), dangling); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, tc := range []struct {
		name, path, want string
	}{
		{"used", used, `is not empty: it holds files (x), not a store`},
		{"file", afile, "not a directory"},
		// Passed, then failed with "mkdir PATH: file exists".
		{"dangling symbolic link", dangling, `is a symbolic link to "` + filepath.Join(used, "nosuch") + `", which does not exist`},
		{"new", filepath.Join(t.TempDir(), "store"), ""},
		{"temporary", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := &cancelWriter{at: "simulated fleet:", cancel: cancel}
			err := Run(ctx, Options{
				Seed: 1, History: time.Hour, Live: time.Hour, Out: out,
				App: app.Options{ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0", StoragePath: tc.path, Logger: quietLogger()},
			})
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || out.String() != "" {
					t.Errorf("Run on %q = %v, output %q; want an error with %q before any output", tc.path, err, out, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run on %q = %v", tc.path, err)
			}
			if tc.path == "" && !strings.Contains(out.String(), "(temporary: removed when the demo stops)") {
				t.Errorf("output %q: want the temporary store named", out)
			}
		})
	}
	if ents, err := os.ReadDir(tmp); err != nil || len(ents) > 0 {
		t.Errorf("temporary directory left behind: %v %v", ents, err)
	}
}

// TestDemoHandler: the demo logs the daemon's "no model" and training's
// short entities at info; other records keep their level (and attributes).
func TestDemoHandler(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		msg   string
		// want is the level logged at with a handler at warn and at info
		// ("": nothing).
		wantAtWarn, wantAtInfo string
	}{
		{slog.LevelWarn, "no model: features are stored but nothing is scored", "", "INFO"},
		{slog.LevelWarn, "skipping short entity", "", "INFO"},
		{slog.LevelWarn, "skipping more entities", "", "INFO"},
		{slog.LevelWarn, "ingest lagging", "WARN", "WARN"},
		{slog.LevelError, "skipping short entity", "ERROR", "ERROR"},
		{slog.LevelInfo, "hello", "", "INFO"},
	} {
		for _, hl := range []struct {
			level slog.Level
			want  string
		}{{slog.LevelWarn, tc.wantAtWarn}, {slog.LevelInfo, tc.wantAtInfo}} {
			var b strings.Builder
			l := slog.New(demoHandler{slog.NewTextHandler(&b, &slog.HandlerOptions{Level: hl.level})}).With("component", "c")
			l.Log(context.Background(), tc.level, tc.msg)
			got := b.String()
			if hl.want == "" && got != "" ||
				hl.want != "" && (!strings.Contains(got, " level="+hl.want+" ") || !strings.Contains(got, tc.msg) || !strings.HasSuffix(got, " component=c\n")) {
				t.Errorf("%v %q with a handler at %v: logged %q, want level %q", tc.level, tc.msg, hl.level, got, hl.want)
			}
		}
	}
}

// TestRunValidate: options no run can use are refused before anything
// starts (a negative history failed in the simulator, a negative speed
// after the history was published and the model trained).
func TestRunValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"negative speed", Options{Speed: -5, History: time.Hour}, "speed -5"},
		{"infinite speed", Options{Speed: math.Inf(1), History: time.Hour}, "speed +Inf"},
		{"negative history", Options{History: -time.Hour}, "negative history"},
		{"negative live", Options{Live: -time.Hour, History: 2 * time.Minute, Speed: -1}, "negative history"},
		// int(History/Step) = 0 published until stopped (a hang), and a
		// history shorter than the training's windows failed after it
		// was published.
		{"history of no step", Options{History: time.Nanosecond}, "--history 1ns is too short to train on: want at least 45m0s"},
		{"history too short to train", Options{History: 44 * time.Minute}, "too short to train on"},
		{"model, history of no step", Options{History: 10 * time.Second, ModelFile: "m.omen"}, "--history 10s holds no step"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			tc.o.Out = &out
			tc.o.App = app.Options{ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0", StoragePath: filepath.Join(t.TempDir(), "store"), Logger: quietLogger()}
			err := Run(context.Background(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) || out.Len() > 0 {
				t.Errorf("Run = %v, output %q; want an error with %q before any output", err, out.String(), tc.want)
			}
		})
	}
}

// TestMinHistory: the shortest history trained on with the demo's
// defaults is 168 steps (the time split's 0.8 part > 72 steps, its 0.2
// part > 33) plus the 12 the pods' series lack: 45 minutes, which
// trains, where 44 minutes failed "no entity has more than 72 steps"
// (measured with omen demo --history 44m).
func TestMinHistory(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    training.TrainOptions
		want time.Duration
	}{
		{"defaults", training.TrainOptions{}, 45 * time.Minute},
		{"window 4, horizon 8", training.TrainOptions{Window: 4, Horizon: 8}, time.Duration(28+12) * Step},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MinHistory(tc.t); got != tc.want {
				t.Errorf("MinHistory = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTrainOnStoreErrorPrefix: training's errors say "train:" once (the
// demo printed "train: train: no entity has more than 72 steps").
func TestTrainOnStoreErrorPrefix(t *testing.T) {
	st, err := store.Open(store.Options{Path: filepath.Join(t.TempDir(), "badger"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) //nolint:errcheck // test store
	now := time.Now()
	for _, tc := range []struct {
		name string
		t    training.TrainOptions
		want string
	}{
		{"training's own", training.TrainOptions{ValFraction: 2}, "train: invalid options"},
		{"wrapped", training.TrainOptions{}, "train: load training history"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := TrainOnStore(context.Background(), st, now.Add(-time.Hour), now, Options{Out: io.Discard, Train: tc.t, App: app.Options{Logger: quietLogger()}})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Count(err.Error(), "train: ") != 1 {
				t.Errorf("TrainOnStore = %v, want an error starting %q, saying \"train: \" once", err, tc.want)
			}
		})
	}
}

// TestRunFailedStartLeavesNoStore: a demo whose start fails (its web
// port busy) used to leave badger/ and nats/ in a new --storage.path,
// and the retry was refused as "a store used before, whose simulated time
// is ahead"; what the run created before its history started is removed
// (the directory itself when the run created it), and a store that went
// through history is refused as such.
func TestRunFailedStartLeavesNoStore(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) //nolint:errcheck // test listener
	empty := t.TempDir()
	for _, tc := range []struct {
		name, path string
		gone       bool // the run created the directory: removed
	}{
		{"new", filepath.Join(t.TempDir(), "new", "sub"), true},
		{"empty", empty, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			err := Run(context.Background(), Options{Seed: 1, History: time.Hour, Out: &out,
				App: app.Options{ListenAddress: busy.Addr().String(), NATSListenAddress: "127.0.0.1:0", StoragePath: tc.path, Logger: quietLogger()}})
			if err == nil {
				t.Fatal("Run on a busy port succeeded")
			}
			ents, rerr := os.ReadDir(tc.path)
			switch {
			case tc.gone && !errors.Is(rerr, fs.ErrNotExist):
				t.Errorf("the directory the run created is left: %v %v", ents, rerr)
			case !tc.gone && (rerr != nil || len(ents) > 0):
				t.Errorf("the run left %v (%v) in the empty directory", ents, rerr)
			}
			if err := CheckStorage(tc.path); err != nil {
				t.Errorf("a retry is refused: %v", err)
			}
		})
	}
	// A run that fails before its history is published (a --model that
	// does not read) leaves no store either: it was refused as "used"
	// on the retry (reviewer's finding).
	noModel := filepath.Join(t.TempDir(), "m")
	var out strings.Builder
	err = Run(context.Background(), Options{Seed: 1, History: time.Hour, Out: &out, ModelFile: filepath.Join(noModel, "missing.omen"),
		App: app.Options{ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0", StoragePath: noModel, Logger: quietLogger()}})
	if err == nil {
		t.Fatal("Run with a missing --model succeeded")
	}
	if err := CheckStorage(noModel); err != nil {
		t.Errorf("after a missing --model, a retry is refused: %v", err)
	}
	used := t.TempDir()
	for _, d := range []string{"badger", "nats"} {
		if err := os.Mkdir(filepath.Join(used, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := CheckStorage(used); err == nil || !strings.Contains(err.Error(), "holds a store (badger, nats) used before") {
		t.Errorf("CheckStorage on a used store = %v", err)
	}
}

// TestRunExternalStreamHeld: with --nats.url, a stream that kept a
// previous demo's messages (its simulated time ahead of a new run's) made
// the new demo wait at history 0.0%; it is refused before anything
// starts, naming the stream and how to empty it.
func TestRunExternalStreamHeld(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{ListenAddress: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	holdStream(t, srv.ClientURL())
	var out strings.Builder
	store := filepath.Join(t.TempDir(), "store")
	err = Run(context.Background(), Options{Seed: 1, History: time.Hour, Out: &out,
		App: app.Options{ListenAddress: "127.0.0.1:0", NATSURL: srv.ClientURL(), StoragePath: store, Logger: quietLogger()}})
	if err == nil || !strings.Contains(err.Error(), "the stream OMEN on "+srv.ClientURL()+" holds 1 messages") || !strings.Contains(err.Error(), "nats stream purge OMEN") {
		t.Errorf("Run = %v, want the held stream refused", err)
	}
	if out.Len() > 0 {
		t.Errorf("output %q before the refusal", out.String())
	}
	if _, err := os.Stat(store); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("store created: %v", err)
	}
}

// TestRemoveNewKeepsOthersFiles: the cleanup of a failed start removes
// only what the run creates (the store and NATS directories, and the
// directory it created when nothing else is in it): a file another
// process put there meanwhile stays. Before, it removed every entry, or
// the whole directory (reviewer's finding: data loss).
func TestRemoveNewKeepsOthersFiles(t *testing.T) {
	for _, created := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "s")
		for _, d := range []string{"badger", "nats"} {
			if err := os.MkdirAll(filepath.Join(dir, d, "x"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
		removeNew(dir, created)
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) != 1 || ents[0].Name() != "notes.txt" {
			t.Errorf("created %v: left %v (%v), want only notes.txt", created, ents, err)
		}
	}
}
