package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestOutageBacklogIsBounded: during an Alertmanager outage the outbox
// stays bounded (compacted beyond MaxBatch items), and on recovery the
// current state of every alert is sent once, without stale versions.
func TestOutageBacklogIsBounded(t *testing.T) {
	const n, steps, batch = 100, 240, 16 // 1h of 15s steps: 60 resends
	am := testenv.Alertmanager(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // down
	st := openStore(t, t.TempDir())
	m, err := New(Options{Store: st, Alertmanagers: []string{"http://" + addr}, EvalInterval: 15 * time.Second, MaxBatch: batch,
		Registerer: prometheus.NewRegistry(), ExternalURL: "http://omen.example"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	t0 := time.Now().Add(-steps * 15 * time.Second)
	maxItems := 0
	for i := 0; i <= steps; i++ {
		ts := t0.Add(time.Duration(i) * 15 * time.Second)
		ps := make([]Prediction, 0, n)
		for e := 0; e < n; e++ {
			ps = append(ps, pred(fmt.Sprintf("pod-%d", e), ts, 0.8))
		}
		if err := m.Process(context.Background(), ts, ps); err != nil {
			t.Fatal(err)
		}
		items, err := st.Pending("http://"+addr, 0)
		if err != nil {
			t.Fatal(err)
		}
		maxItems = max(maxItems, len(items))
	}
	items, _ := st.Pending("http://"+addr, 0)
	versions := 0
	for _, it := range items {
		var as []queued
		_ = json.Unmarshal(it.Payload, &as)
		versions += len(as)
	}
	t.Logf("after 1h: %d items, %d alert versions (at most %d items)", len(items), versions, maxItems)
	if maxItems > batch {
		t.Errorf("backlog reached %d items, want at most %d", maxItems, batch)
	}

	// Recovery: a recording proxy in front of the Alertmanager.
	var mu sync.Mutex
	var posts [][]postableAlert
	cl := &http.Client{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var as []postableAlert
		_ = json.Unmarshal(body, &as)
		mu.Lock()
		posts = append(posts, as)
		mu.Unlock()
		resp, err := cl.Post(am+r.URL.Path, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	})}
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l2) }()
	defer srv.Close()
	startRun(t, m)
	eventually(t, 30*time.Second, "drained", func() error {
		if it, _ := st.Pending("http://"+addr, 0); len(it) != 0 {
			return fmt.Errorf("%d pending", len(it))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]int{}
	for i, p := range posts {
		for _, a := range p {
			seen[fingerprint(a.Labels)]++
			if a.EndsAt.Before(time.Now()) {
				t.Errorf("POST %d sent a stale version (endsAt %s in the past)", i+1, a.EndsAt)
			}
		}
	}
	if len(seen) != n {
		t.Errorf("recovery sent %d alerts, want %d", len(seen), n)
	}
	for fp, c := range seen {
		if c != 1 {
			t.Errorf("alert %s sent %d times on recovery, want once", fp, c)
		}
	}
	if got := len(amAlerts(t, am)); got != n {
		t.Errorf("Alertmanager shows %d alerts, want %d", got, n)
	}
}
