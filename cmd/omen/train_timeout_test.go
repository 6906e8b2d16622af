package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
)

// TestTrainURLTimeout: omen train --url gives up on a daemon that stops
// answering after --url.timeout, saying which call to which URL: the
// settings, the entity list, an entity's history cut mid-stream (its
// first vectors arrive, then nothing) and the model upload. Before, the
// calls had no timeout: a stalled daemon held omen train until Ctrl-C
// (here, until the stall's end at 20 s, with another error).
func TestTrainURLTimeout(t *testing.T) {
	a := historyAPI(t, &api.MemModels{})
	const stallCap = 20 * time.Second // a stall ends (the request fails) after this
	for _, tc := range []struct {
		name, method, path string
		midStream          bool // the answer's first lines are sent before the stall
		args               []string
		want               string
	}{
		{"settings", http.MethodGet, api.HistorySchemaPath, false, nil, "the daemon's settings: Get \"%s/api/v1/history/schema\": the daemon at %[1]s"},
		{"entities", http.MethodGet, api.HistoryEntitiesPath, false, nil, "list entities: Get \"%s/api/v1/history/entities\": the daemon at %[1]s"},
		{"vectors", http.MethodGet, api.HistoryVectorsPath, true, nil, `read vectors of "shop/pod-0": history of "shop/pod-0": cut after 1 vectors: the daemon at %s`},
		{"upload", http.MethodPost, api.ModelsPath, false, []string{"--register"}, "register m.omen: Post \"%s/api/v1/models?promote=false\": the daemon at %[1]s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != tc.method || r.URL.Path != tc.path {
					a.Handler().ServeHTTP(w, r)
					return
				}
				// The body read, the server sees the client go away.
				_, _ = io.Copy(io.Discard, r.Body)
				stall := func() {
					select {
					case <-r.Context().Done():
					case <-time.After(stallCap):
					}
				}
				if !tc.midStream {
					stall()
					return
				}
				a.Handler().ServeHTTP(&stallingWriter{ResponseWriter: w, stall: stall}, r)
			}))
			t.Cleanup(srv.Close)
			t.Chdir(t.TempDir())
			start := time.Now()
			args := append([]string{"train", "--source", "store", "--url", srv.URL, "--url.timeout", "500ms",
				"--history", "2h", "--hidden", "2", "--epochs", "1", "--out", "m.omen"}, tc.args...)
			rc, stdout, stderr := omen(t, args...)
			took := time.Since(start)
			want := fmt.Sprintf(tc.want, srv.URL) + " did not answer within --url.timeout 500ms"
			if tc.name == "upload" {
				want += " (omen model list --url says whether it registered the model)"
			}
			if rc != 1 || !strings.Contains(stderr, want) || took > stallCap/2 {
				t.Fatalf("train --url against a daemon stalling on %s %s = %d after %v\nstdout %s\nstderr %s\nwant 1 within the timeout, saying %q",
					tc.method, tc.path, rc, took.Round(time.Millisecond), stdout, stderr, want)
			}
		})
	}
}

// historyAPI serves writeHistory's history of the built-in configuration
// from a store in a new directory, with the model registry models.
func historyAPI(t *testing.T, models api.ModelAdmin) *api.API {
	t.Helper()
	cfg := config.Default()
	dir := t.TempDir()
	writeHistory(t, dir, features.Names(cfg.Config), cfg.LabelNames())
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	a, err := api.New(api.Options{Backend: &api.MemBackend{}, Models: models, History: st, ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// stallingWriter passes the complete lines of the first write through,
// flushed, and then stalls: a stream cut short without closing.
type stallingWriter struct {
	http.ResponseWriter
	stall   func()
	stalled bool
}

func (w *stallingWriter) Write(b []byte) (int, error) {
	if !w.stalled {
		w.stalled = true
		if i := bytes.IndexByte(b[:len(b)/2], '\n'); i >= 0 {
			if _, err := w.ResponseWriter.Write(b[:i+1]); err != nil {
				return 0, err
			}
			_ = http.NewResponseController(w.ResponseWriter).Flush()
		}
	}
	w.stall()
	return len(b), nil
}

// TestTrainURLTimeoutSlowStream: --url.timeout bounds each wait for an
// entity's next vectors, not its whole history: a daemon that streams
// steadily for longer than the timeout is read to the end. A timeout of
// 0 or less is a usage error.
func TestTrainURLTimeoutSlowStream(t *testing.T) {
	a := historyAPI(t, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.HistoryVectorsPath {
			w = &slowWriter{ResponseWriter: w, lines: 100, pause: 200 * time.Millisecond}
		}
		a.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Chdir(t.TempDir())
	start := time.Now()
	rc, stdout, stderr := omen(t, "train", "--source", "store", "--url", srv.URL, "--url.timeout", "500ms",
		"--history", "2h", "--hidden", "2", "--epochs", "1", "--out", "m.omen")
	// 400 vectors an entity, 100 every 200 ms: 800 ms an entity.
	if took := time.Since(start); rc != 0 || !strings.Contains(stdout, "3 entities") || took < time.Second {
		t.Fatalf("train --url from a slow daemon = %d after %v\nstdout %s\nstderr %s\nwant 0 after more than a second", rc, took, stdout, stderr)
	}
	for _, d := range []string{"0s", "-1s"} {
		if rc, _, stderr := omen(t, "train", "--url", srv.URL, "--url.timeout", d); rc != 2 || !strings.Contains(stderr, "--url.timeout "+d+": want a positive duration") {
			t.Errorf("--url.timeout %s = %d, %q; want a usage error", d, rc, stderr)
		}
	}
}

// slowWriter writes lines at a time, flushed, with a pause before each.
type slowWriter struct {
	http.ResponseWriter
	lines int
	pause time.Duration
}

func (w *slowWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		end, i := 0, 0
		for ; i < w.lines && end < len(b); i++ {
			j := bytes.IndexByte(b[end:], '\n')
			if j < 0 {
				end = len(b)
				break
			}
			end += j + 1
		}
		time.Sleep(w.pause)
		m, err := w.ResponseWriter.Write(b[:end])
		n += m
		if err != nil {
			return n, err
		}
		_ = http.NewResponseController(w.ResponseWriter).Flush()
		b = b[end:]
	}
	return n, nil
}
