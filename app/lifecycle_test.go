package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestStopAnswersWaitingReloads: POST /-/reload requests waiting for the reload
// loop (busy with another reload) when Stop is called are answered 503 as
// soon as the run context ends. They waited for the whole daemon to stop,
// which waited for the HTTP server's shutdown, which waited for them: Stop
// took the whole ShutdownTimeout and reported components still running.
func TestStopAnswersWaitingReloads(t *testing.T) {
	const timeout = 10 * time.Second
	a := startApp(t, t.TempDir(), func(o *Options) { o.ShutdownTimeout = timeout })
	// The reload loop is held in a reload until the layout lock is
	// released (changeLayout waits for it: a step in progress).
	contended := layoutContended(a)
	a.eval.layoutMu.Lock()
	locked := true
	t.Cleanup(func() {
		if locked {
			a.eval.layoutMu.Unlock()
		}
	})
	first := make(chan error, 1)
	go func() { first <- a.Reload() }()
	<-contended
	// Several requests wait: the loop takes at most one more once the
	// run context ended.
	const posts = 4
	waiting := make(chan int, posts)
	for range posts {
		go func() {
			resp, err := http.Post("http://"+a.Addr()+"/-/reload", "", nil)
			if err != nil {
				waiting <- -1
				return
			}
			_ = resp.Body.Close()
			waiting <- resp.StatusCode
		}()
	}
	time.Sleep(300 * time.Millisecond) // the POSTs wait in requestReload

	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(context.Background()) }()
	waitFor(t, "Stop to cancel the run", 10*time.Second, func() bool { return !a.ready.Load() })
	time.Sleep(100 * time.Millisecond)
	a.eval.layoutMu.Unlock() // the first reload ends
	locked = false
	if err := <-first; err != nil && !errors.Is(err, ErrNotRunning) {
		t.Errorf("the reload in progress at Stop: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v", err)
	}
	if d := time.Since(start); d > timeout/2 {
		t.Errorf("Stop took %v with a reload request waiting, want well under the shutdown timeout %v", d, timeout)
	}
	for range posts {
		if code := <-waiting; code != http.StatusServiceUnavailable {
			t.Errorf("a waiting POST /-/reload answered %d, want 503 (-1: no answer)", code)
		}
	}
}

// TestStartFailureClosesAll: a Start that fails to listen (the port is
// taken) closes what it opened, the NATS connection included (it leaked,
// with its goroutines, reconnecting to the embedded server for ever).
func TestStartFailureClosesAll(t *testing.T) {
	before := goleak.IgnoreCurrent()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	a, err := New(Options{Config: testConfig(t), StoragePath: t.TempDir(), ListenAddress: ln.Addr().String(),
		NATSListenAddress: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err == nil {
		_ = a.Stop(context.Background())
		t.Fatal("Start on a taken port succeeded")
	}
	goleak.VerifyNone(t, append(leakIgnores(), before)...)
}

// TestNotRunning: an App that is not running (New without Start, a failed
// Start, Stop without Start) answers at once: Reload and Apply fail with
// ErrNotRunning (they blocked for ever), the accessors give zero values
// (they panicked on nil components), Done is closed once it cannot run
// any more (it never was after a failed Start), and Start after Stop
// fails.
func TestNotRunning(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = taken.Close() })
	tests := []struct {
		name string
		// prepare brings the App to the state; done is whether Done is
		// then closed.
		prepare func(t *testing.T, a *App)
		listen  string
		done    bool
	}{
		{name: "before Start", prepare: func(*testing.T, *App) {}},
		{name: "failed Start", listen: taken.Addr().String(), done: true, prepare: func(t *testing.T, a *App) {
			if err := a.Start(context.Background()); err == nil {
				t.Fatal("Start on a taken port succeeded")
			}
		}},
		{name: "failed Start, then Stop", listen: taken.Addr().String(), done: true, prepare: func(t *testing.T, a *App) {
			if err := a.Start(context.Background()); err == nil {
				t.Fatal("Start on a taken port succeeded")
			}
			if err := a.Stop(context.Background()); err != nil {
				t.Errorf("Stop after a failed Start: %v", err)
			}
		}},
		{name: "Stop without Start", done: true, prepare: func(t *testing.T, a *App) {
			if err := a.Stop(context.Background()); err != nil {
				t.Errorf("Stop: %v", err)
			}
			if err := a.Start(context.Background()); err == nil {
				t.Error("Start after Stop succeeded")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			listen := tt.listen
			if listen == "" {
				listen = "127.0.0.1:0"
			}
			a, err := New(Options{Config: testConfig(t), StoragePath: t.TempDir(), ListenAddress: listen,
				NATSListenAddress: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, a)
			t.Cleanup(func() { _ = a.Stop(context.Background()) })

			select {
			case <-a.Done():
				if !tt.done {
					t.Error("Done closed")
				}
			case <-time.After(100 * time.Millisecond):
				if tt.done {
					t.Error("Done not closed")
				}
			}
			calls := map[string]func() error{
				"Reload":      a.Reload,
				"Apply":       func() error { return a.Apply(testConfig(t)) },
				"ReloadModel": a.ReloadModel,
			}
			for name, call := range calls {
				errc := make(chan error, 1)
				go func() { errc <- call() }()
				select {
				case err := <-errc:
					if !errors.Is(err, ErrNotRunning) {
						t.Errorf("%s = %v, want ErrNotRunning", name, err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s still blocked after 5s", name)
				}
			}
			if got := a.Alerts(); got != nil {
				t.Errorf("Alerts = %v, want none", got)
			}
			if s, l := a.Progress(); s != 0 || l != 0 {
				t.Errorf("Progress = %d, %d, want 0, 0", s, l)
			}
			if got := a.FeatureNames(); got != nil {
				t.Errorf("FeatureNames = %v, want nil", got)
			}
		})
	}
}
