package alert

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/omen-sre/omen/store"
)

// BenchmarkProcess measures one evaluation step over n scored entities, 5%
// of them over the threshold (firing, re-sent every resend delay of 10
// steps), with an fsync'd on-disk store and one Alertmanager target (not
// delivered: the outbox grows, as during an outage).
func BenchmarkProcess(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			st, err := store.Open(store.Options{Path: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = st.Close() })
			o := testOptions(st, fakeAM)
			o.ResendDelay = 10 * time.Second
			o.EvalInterval = time.Second
			m, err := New(o)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(m.Close)
			t0 := time.Unix(1.7e9, 0)
			ps := make([]Prediction, n)
			for i := range ps {
				prob := 0.2
				if i%20 == 0 {
					prob = 0.8
				}
				ps[i] = pred(fmt.Sprintf("pod-%d", i), t0, prob)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ts := t0.Add(time.Duration(i) * time.Second)
				for j := range ps {
					ps[j].T = ts
				}
				if err := m.Process(ctx, ts, ps); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFiringStepReaders measures how long Alerts (the API's reader)
// waits while one step fires n alerts at once (a bad deploy), with an
// explainer taking 5ms per alert (about the real one's p50, see
// docs/PERFORMANCE.md), sleeping or spinning on the CPU: max-reader-ms is
// the longest Alerts call during the step, which is how long the step
// holds the Manager's lock at a stretch (plus, with cpu, the wait for a
// core).
func BenchmarkFiringStepReaders(b *testing.B) {
	work := map[string]func(){
		"sleep": func() { time.Sleep(5 * time.Millisecond) },
		"cpu": func() {
			for start := time.Now(); time.Since(start) < 5*time.Millisecond; {
			}
		},
	}
	for _, c := range []struct {
		n    int
		work string
	}{{20, "sleep"}, {200, "sleep"}, {200, "cpu"}} {
		n, explainWork := c.n, work[c.work]
		b.Run(fmt.Sprintf("firing=%d/explainer=%s", n, c.work), func(b *testing.B) {
			var worst time.Duration
			for i := 0; i < b.N; i++ {
				st := openStore(b, "")
				o := testOptions(st, fakeAM)
				o.For = 1
				o.Explainer = ExplainerFunc(func(ctx context.Context, p Prediction) (Explanation, error) {
					explainWork()
					return fakeExplainer{}.Explain(ctx, p)
				})
				m, err := New(o)
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Unix(1764000000, 0)
				ps := make([]Prediction, n)
				for j := range ps {
					ps[j] = pred(fmt.Sprintf("pod-%d", j), t0, 0.8)
				}
				done := make(chan error, 1)
				go func() { done <- m.Process(context.Background(), t0, ps) }()
				for stepping := true; stepping; {
					select {
					case err := <-done:
						if err != nil {
							b.Fatal(err)
						}
						stepping = false
					default:
						start := time.Now()
						_ = m.Alerts()
						worst = max(worst, time.Since(start))
						time.Sleep(100 * time.Microsecond)
					}
				}
				m.Close()
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-reader-ms")
		})
	}
}
