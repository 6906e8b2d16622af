package alert

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/store"
)

// blockingExplainer blocks every Explain call until release is closed (or
// its ctx is done); started receives the prediction of each call as it
// begins.
type blockingExplainer struct {
	block   atomic.Bool // false: explain at once
	started chan Prediction
	release chan struct{}
	once    sync.Once
	ctxErrs atomic.Int64 // calls that returned because ctx was done
	active  atomic.Int64
	peak    atomic.Int64
}

func newBlockingExplainer(n int) *blockingExplainer {
	return &blockingExplainer{started: make(chan Prediction, n), release: make(chan struct{})}
}

// newBlockedManager returns a Manager (For 1) explaining with a
// blockingExplainer of n (not blocking yet), its store, and the time of
// its first step, at which the alert of "old" fired.
func newBlockedManager(t *testing.T, n int) (*Manager, *store.Store, *blockingExplainer, time.Time) {
	t.Helper()
	st := openStore(t, "")
	o := testOptions(st, fakeAM)
	o.For = 1
	b := newBlockingExplainer(n)
	o.Explainer = b
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	t.Cleanup(b.unblock) // a failed check must not leave Process blocked
	t0 := time.Unix(1764000000, 0)
	if err := m.Process(context.Background(), t0, []Prediction{pred("old", t0, 0.8)}); err != nil {
		t.Fatal(err)
	}
	return m, st, b, t0
}

// firingStep are the predictions of a step at t: "old" and n new
// entities, all above the threshold.
func firingStep(t time.Time, n int) []Prediction {
	ps := []Prediction{pred("old", t, 0.8)}
	for i := range n {
		ps = append(ps, pred(fmt.Sprintf("new-%d", i), t, 0.8))
	}
	return ps
}

func (b *blockingExplainer) unblock() { b.once.Do(func() { close(b.release) }) }

func (b *blockingExplainer) Explain(ctx context.Context, p Prediction) (Explanation, error) {
	if !b.block.Load() {
		return fakeExplainer{}.Explain(ctx, p)
	}
	a := b.active.Add(1)
	defer b.active.Add(-1)
	for {
		pk := b.peak.Load()
		if a <= pk || b.peak.CompareAndSwap(pk, a) {
			break
		}
	}
	b.started <- p
	select {
	case <-b.release:
		return fakeExplainer{}.Explain(ctx, p)
	case <-ctx.Done():
		b.ctxErrs.Add(1)
		return Explanation{}, ctx.Err()
	}
}

// TestExplainWithoutLock: the alerts firing at a step are explained
// without the Manager's lock (concurrently, at most explainWorkers at a
// time): while an Explainer blocks, the lock is free, Alerts answers with
// the states of the last step, and what runs meanwhile (a reload, Close)
// is accounted for when the step is applied.
func TestExplainWithoutLock(t *testing.T) {
	const n = 10
	tests := []struct {
		name string
		// during runs while the Explain calls block (after all of the
		// first explainWorkers started); it may release them.
		during func(t *testing.T, m *Manager, b *blockingExplainer)
		// check runs after Process returned err.
		check func(t *testing.T, m *Manager, b *blockingExplainer, err error)
	}{
		{
			name: "Alerts answers the last step's alerts",
			during: func(t *testing.T, m *Manager, b *blockingExplainer) {
				as := m.Alerts()
				if len(as) != 1 || as[0].Entity != "old" || as[0].State != store.AlertFiring {
					t.Errorf("Alerts() while explaining = %+v, want only the alert of the last step", as)
				}
				b.unblock()
			},
			check: func(t *testing.T, m *Manager, b *blockingExplainer, err error) {
				if err != nil {
					t.Fatalf("Process: %v", err)
				}
				as := m.Alerts()
				if len(as) != n+1 {
					t.Fatalf("%d alerts after the step, want %d", len(as), n+1)
				}
				for _, a := range as {
					if a.Explanation == nil || len(a.Explanation.TopCauses) != 3 {
						t.Errorf("alert of %s: explanation %+v", a.Entity, a.Explanation)
					}
				}
				if p := b.peak.Load(); p > explainWorkers {
					t.Errorf("%d concurrent Explain calls, want at most %d", p, explainWorkers)
				}
			},
		},
		{
			name: "a reload raising For meanwhile: the step follows the new rule",
			during: func(t *testing.T, m *Manager, b *blockingExplainer) {
				if err := m.Reconfigure(Reload{For: 3, ResendDelay: m.opts.ResendDelay, EvalInterval: m.opts.EvalInterval,
					ExternalURL: m.opts.ExternalURL}); err != nil {
					t.Errorf("Reconfigure: %v", err)
				}
				b.unblock()
			},
			check: func(t *testing.T, m *Manager, b *blockingExplainer, err error) {
				if err != nil {
					t.Fatalf("Process: %v", err)
				}
				if as := m.Alerts(); len(as) != 1 || as[0].Entity != "old" {
					t.Errorf("Alerts() = %+v, want only the old alert (For is 3 now)", as)
				}
				if c := testutil.ToFloat64(m.explainErrs); c != 0 {
					t.Errorf("%g explain errors", c)
				}
			},
		},
		{
			name: "a resend meanwhile: the step applies on the states it left",
			during: func(t *testing.T, m *Manager, b *blockingExplainer) {
				m.mu.Lock()
				m.lastCall = m.lastCall.Add(-time.Hour) // a stall
				for _, s := range m.states {
					s.SentWall = s.SentWall.Add(-time.Hour) // the resend is due
				}
				m.mu.Unlock()
				m.resend()
				b.unblock()
			},
			check: func(t *testing.T, m *Manager, b *blockingExplainer, err error) {
				if err != nil {
					t.Fatalf("Process: %v", err)
				}
				got := pending(t, m.opts.Store, fakeAM)
				var sizes []int
				for _, as := range got {
					sizes = append(sizes, len(as))
				}
				// The first step's alert, its resend, then the n new
				// alerts (the old one was just re-sent: not again).
				if fmt.Sprint(sizes) != fmt.Sprint([]int{1, 1, n}) {
					t.Errorf("outbox items of %v alerts, want [1 1 %d]", sizes, n)
				}
				if as := m.Alerts(); len(as) != n+1 {
					t.Errorf("%d alerts, want %d", len(as), n+1)
				}
			},
		},
		{
			name: "Close meanwhile: the step is not applied and Explain is cancelled",
			during: func(t *testing.T, m *Manager, b *blockingExplainer) {
				m.Close()
			},
			check: func(t *testing.T, m *Manager, b *blockingExplainer, err error) {
				if err == nil {
					t.Fatal("Process after Close: nil error")
				}
				if b.ctxErrs.Load() == 0 {
					t.Error("no Explain call saw its context cancelled")
				}
				if as := m.Alerts(); len(as) != 1 || as[0].Entity != "old" {
					t.Errorf("Alerts() = %+v, want only the old alert", as)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _, b, t0 := newBlockedManager(t, n)
			// The n alerts firing at the next step block in Explain.
			b.block.Store(true)
			t1 := t0.Add(time.Minute)
			done := make(chan error, 1)
			go func() { done <- m.Process(context.Background(), t1, firingStep(t1, n)) }()
			for range explainWorkers {
				<-b.started
			}
			if !m.mu.TryLock() {
				t.Fatal("the Manager's lock is held while Explain runs")
			}
			m.mu.Unlock()
			tc.during(t, m, b)
			tc.check(t, m, b, <-done)
		})
	}
}
