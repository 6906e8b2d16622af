package alert

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestQueueGaugeWithCompactionDuringPost: the queue-length gauge equals
// the number of items pending in the outbox after each delivery, also when
// steps enqueue (and compact) while a POST is in flight. It used to count
// the in-flight items twice (once when compaction replaced them, once when
// the POST's items were acknowledged), so it fell below the true count and
// then below zero. Deterministic: the Alertmanager holds the first POST
// until the steps are done.
func TestQueueGaugeWithCompactionDuringPost(t *testing.T) {
	tests := []struct {
		name  string
		steps int // steps while the first POST is held, each firing one alert
	}{
		{"one item enqueued meanwhile (no compaction)", 1},
		{"two items enqueued meanwhile (compacted)", 2},
		{"five items enqueued meanwhile", 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			arrived, release := make(chan struct{}, 1), make(chan struct{})
			var once sync.Once
			srv := httptest.NewServer(answerStatus(func(w http.ResponseWriter, r *http.Request) {
				first := false
				once.Do(func() { first = true })
				if first {
					arrived <- struct{}{}
					<-release
				}
				w.WriteHeader(http.StatusOK)
			}))
			t.Cleanup(srv.Close)
			var rel sync.Once
			t.Cleanup(func() { rel.Do(func() { close(release) }) })

			st := openStore(t, "")
			o := testOptions(st, srv.URL)
			o.For = 1
			o.MaxBatch = 1
			o.ResendDelay = time.Hour // no resends: only the steps enqueue
			m, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			tg := m.targets[0]
			type obs struct{ gauge, pending int }
			observe := func() obs {
				tg.mu.Lock() // no enqueue, acknowledgement or compaction meanwhile
				defer tg.mu.Unlock()
				items, err := st.Pending(srv.URL, 0)
				if err != nil {
					t.Errorf("pending: %v", err)
				}
				return obs{int(testutil.ToFloat64(tg.queue)), len(items)}
			}
			var mu sync.Mutex
			var seen []obs
			delivered := map[string]bool{}
			allDone := make(chan struct{})
			var doneOnce sync.Once
			m.delivered = func(_ string, fps []string, _ time.Time) {
				o := observe()
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, o)
				for _, fp := range fps {
					delivered[fp] = true
				}
				if len(delivered) == tc.steps+1 && o.pending == 0 {
					doneOnce.Do(func() { close(allDone) })
				}
			}
			t.Cleanup(m.Close)
			startRun(t, m)

			ctx := context.Background()
			t0 := time.Unix(1764000000, 0)
			fire := func(k int) {
				tk := t0.Add(time.Duration(k) * time.Minute)
				if err := m.Process(ctx, tk, []Prediction{pred(fmt.Sprintf("pod-%d", k), tk, 0.8)}); err != nil {
					t.Fatal(err)
				}
			}
			fire(0)
			<-arrived // the first item is in flight
			for k := 1; k <= tc.steps; k++ {
				fire(k)
			}
			if o := observe(); o.gauge != o.pending {
				t.Errorf("while the POST is held: queue gauge %d, %d items pending", o.gauge, o.pending)
			}
			rel.Do(func() { close(release) })
			<-allDone

			mu.Lock()
			defer mu.Unlock()
			for i, o := range seen {
				if o.gauge != o.pending {
					t.Errorf("after delivery %d: queue gauge %d, %d items pending (all: %v)", i+1, o.gauge, o.pending, seen)
				}
			}
			var fps []string
			for fp := range delivered {
				fps = append(fps, fp)
			}
			sort.Strings(fps)
			if len(fps) != tc.steps+1 {
				t.Errorf("delivered %d alerts, want %d", len(fps), tc.steps+1)
			}
		})
	}
}
