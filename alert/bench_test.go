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
