package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omen-sre/omen/store"
)

// onEpoch is omen train's stderr: it calls f at the first line of
// training's progress ("train epoch"), written once the history is read.
type onEpoch struct {
	bytes.Buffer
	f    func()
	done bool
}

func (w *onEpoch) Write(p []byte) (int, error) {
	if !w.done && bytes.Contains(p, []byte("train epoch")) {
		w.done = true
		w.f()
	}
	return w.Buffer.Write(p)
}

// TestTrainOfflineStoreClosedWhileTraining: offline omen train --source
// store closes the store once the history is read, so that a daemon can
// start on it while the model trains (it held it, locked, to the end),
// and opens it again to register the model. When something else holds
// it by then, the registration fails saying so and that the model file
// is written, with the command to register it.
func TestTrainOfflineStoreClosedWhileTraining(t *testing.T) {
	for _, tc := range []struct {
		name string
		hold bool // keep the store open from the first epoch on (a daemon started meanwhile)
	}{
		{"free", false},
		{"held at the end", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeHistoryStep(t, dir, 30*time.Second)
			out := filepath.Join(t.TempDir(), "m.omen")
			var openErr error
			stderr := &onEpoch{f: func() {
				st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger")})
				if openErr = err; err != nil {
					return
				}
				if tc.hold {
					t.Cleanup(func() { _ = st.Close() })
					return
				}
				openErr = st.Close()
			}}
			var stdout bytes.Buffer
			rc := dispatch([]string{"train", "--source", "store", "--storage.path", dir, "--history", "2h", "--window", "4",
				"--horizon", "2", "--hidden", "4", "--epochs", "1", "--out", out, "--promote"}, &stdout, stderr)
			if !stderr.done || openErr != nil {
				t.Fatalf("open the store while the model trains: %v (hook called %v); want it closed once the history is read\nstderr %s", openErr, stderr.done, stderr.String())
			}
			if !tc.hold {
				if rc != 0 || !strings.Contains(stdout.String(), "promoted ") {
					t.Fatalf("train --promote = %d\nstdout %s\nstderr %s", rc, stdout.String(), stderr.String())
				}
				return
			}
			want := "omen train: register " + out + ": the store at " + `"` + dir + `"` + " is in use by another omen process: "
			tail := "; the model file " + out + " is written: omen model add " + out + " registers it (with --url through a running daemon)\n"
			if errs := stderr.String(); rc != 1 || !strings.Contains(errs, want) || !strings.HasSuffix(errs, tail) {
				t.Fatalf("train --promote, the store held = %d\nstdout %s\nstderr %s\nwant 1, %q…%q", rc, stdout.String(), errs, want, tail)
			}
			if _, err := os.Stat(out); err != nil {
				t.Fatalf("model file: %v", err)
			}
		})
	}
}

// TestTrainPrometheusRegisterStoreClosed: offline omen train --source
// prometheus --promote checks the step the store records before any
// query, and closes the store then: it held it through every query and
// the training.
func TestTrainPrometheusRegisterStoreClosed(t *testing.T) {
	dir := t.TempDir()
	writeHistoryStep(t, dir, 30*time.Second)
	var (
		mu      sync.Mutex
		openErr = errors.New("no query")
	)
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger")})
		if openErr = err; err == nil {
			openErr = st.Close()
		}
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	t.Cleanup(prom.Close)
	rc, _, errs := omen(t, "train", "--source", "prometheus", "--prometheus.url", prom.URL, "--storage.path", dir, "--history", "1h",
		"--promote", "--out", filepath.Join(t.TempDir(), "m.omen"))
	mu.Lock()
	defer mu.Unlock()
	if rc != 1 || !strings.Contains(errs, "server error: 500") || openErr != nil {
		t.Fatalf("train = %d, %q; open the store at the query: %v, want it closed", rc, errs, openErr)
	}
}
