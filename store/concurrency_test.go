package store

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omen-sre/omen/telemetry"
)

// TestConcurrentMixed runs every kind of call at once (run it with -race)
// and closes the store while calls are still being made: each call must
// either succeed or fail with ErrClosed.
func TestConcurrentMixed(t *testing.T) {
	s, err := Open(Options{Path: t.TempDir(), Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutSchema([]string{"a", "b"}, []string{"fail"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutModel("v1", []byte("m1"), ModelMeta{}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutModel("v2", []byte("m2"), ModelMeta{}); err != nil {
		t.Fatal(err)
	}
	var calls, closedErrs atomic.Int64
	ok := func(err error) bool {
		calls.Add(1)
		if errors.Is(err, ErrClosed) {
			closedErrs.Add(1)
			return false
		}
		if err != nil {
			t.Error(err)
			return false
		}
		return true
	}
	now := time.Now().UnixMilli()
	workers := []func(w, i int) bool{
		func(w, i int) bool {
			_, err := s.AppendBatches([]telemetry.Batch{smallBatch(fmt.Sprint("src", w%2), uint64(i+1), now)})
			return ok(err)
		},
		func(w, i int) bool {
			return ok(s.PutVectors([]Vector{{Entity: fmt.Sprint("e", i%3), T: now + int64(i), Values: []float64{1, 2}, Failure: []bool{true}}}))
		},
		func(w, i int) bool {
			return ok(s.PutPredictions([]Prediction{{Entity: fmt.Sprint("e", i%3), T: now + int64(i), Prob: 0.5}}))
		},
		func(w, i int) bool {
			return ok(s.PutEntity(fmt.Sprint("e", i%3), map[string]string{"i": fmt.Sprint(i)}, now+int64(i)))
		},
		func(w, i int) bool {
			items := []OutboxItem{{Targets: []string{"am1", "am2"}, Payload: []byte("{}")}}
			if !ok(s.Enqueue(items)) {
				return false
			}
			return ok(s.Ack("am1", []uint64{items[0].ID}))
		},
		func(w, i int) bool {
			return ok(s.PutAlertState(AlertState{Fingerprint: fmt.Sprint("f", i%4), State: AlertFiring}))
		},
		func(w, i int) bool {
			if i%2 == 0 {
				return ok(s.Promote("v1"))
			}
			return ok(s.Promote("v2"))
		},
		func(w, i int) bool {
			return ok(s.ReplayBatches(math.MinInt64, func(telemetry.Batch) error { return nil }))
		},
		func(w, i int) bool {
			_, err := s.RunRetention(t.Context(), time.Now())
			return ok(err)
		},
		func(w, i int) bool {
			_, err := s.LatestPredictions()
			return ok(err)
		},
	}
	var wg sync.WaitGroup
	started := make(chan struct{}, len(workers))
	for w, fn := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				if i == 3 {
					started <- struct{}{}
				}
				if !fn(w, i) {
					return
				}
			}
		})
	}
	for range workers {
		<-started
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if closedErrs.Load() != int64(len(workers)) {
		t.Fatalf("%d workers stopped with ErrClosed, want %d (calls %d)", closedErrs.Load(), len(workers), calls.Load())
	}
}
