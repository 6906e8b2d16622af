package alert

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
)

// TestSlowDataKeepsAlertActive: data time running slower than the wall
// clock (omen demo --speed 0.2: a 15s step every 75s, resend 1m; here
// scaled by 1/150: a 100ms step every 500ms, resend 400ms, endsAt lead
// 1.6s) must not let a firing alert time out in Alertmanager: resends and
// endsAt follow the wall clock, not the data's pace.
func TestSlowDataKeepsAlertActive(t *testing.T) {
	am := testenv.Alertmanager(t)
	st := openStore(t, t.TempDir())
	o := testOptions(st, am)
	o.For = 1
	o.EvalInterval = 100 * time.Millisecond
	o.ResendDelay = 400 * time.Millisecond
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	startRun(t, m)
	d := time.Now().Truncate(time.Millisecond)
	start := time.Now()
	if err := m.Process(context.Background(), d, []Prediction{pred("a", d, 0.9)}); err != nil {
		t.Fatal(err)
	}
	wantActive(t, am, "a")
	gaps := 0
	for i := 1; i <= 14; i++ {
		for next := start.Add(time.Duration(i) * 500 * time.Millisecond); time.Now().Before(next); time.Sleep(50 * time.Millisecond) {
			active := false
			for _, a := range amAlerts(t, am) {
				active = active || a.Status.State == "active"
			}
			if !active {
				if gaps == 0 {
					t.Logf("wall +%v (data +%v): Alertmanager has no active alert while omen fires",
						time.Since(start).Round(time.Millisecond), time.Duration(i-1)*100*time.Millisecond)
				}
				gaps++
			}
		}
		d = d.Add(100 * time.Millisecond)
		if err := m.Process(context.Background(), d, []Prediction{pred("a", d, 0.9)}); err != nil {
			t.Fatal(err)
		}
	}
	if gaps > 0 {
		t.Errorf("the firing alert was not active in Alertmanager at %d polls", gaps)
	}
}

// TestDataAheadEndsAt: data time far ahead of the wall clock (omen demo
// at 20×) must not send an endsAt that far ahead: a stopped omen's alert
// would stay active in Alertmanager until then. endsAt is the wall clock
// plus the lead; startsAt is clamped to the wall clock.
func TestDataAheadEndsAt(t *testing.T) {
	am := testenv.Alertmanager(t)
	st := openStore(t, t.TempDir())
	o := testOptions(st, am)
	o.For = 1
	o.EvalInterval = time.Minute
	o.ResendDelay = time.Minute
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	startRun(t, m)
	d := time.Now().Add(19 * time.Hour).Truncate(time.Millisecond)
	before := time.Now()
	if err := m.Process(context.Background(), d, []Prediction{pred("a", d, 0.9)}); err != nil {
		t.Fatal(err)
	}
	got := wantActive(t, am, "a")
	after := time.Now()
	for _, a := range got {
		if a.StartsAt.After(after) {
			t.Errorf("startsAt now+%v, want at most now", a.StartsAt.Sub(after))
		}
		if lead := 4 * time.Minute; a.EndsAt.Before(before.Add(lead).Add(-time.Second)) || a.EndsAt.After(after.Add(lead).Add(time.Second)) {
			t.Errorf("endsAt now+%v, want the wall clock + %v", a.EndsAt.Sub(after).Round(time.Second), lead)
		}
	}
}

// TestResendFollowsWallClock, with an injected wall clock and a store
// reopened in between: data time racing ahead of the wall clock does not
// re-send (a 20× demo would send every 3s), data time crawling behind it
// does once the resend delay has passed on the wall clock, and the wall
// time of the last send survives a restart (no resend of an alert sent
// just before it; one at the resend delay after the send).
func TestResendFollowsWallClock(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	wall := t0
	var outbox int // items enqueued before this run
	run := func(steps []struct{ data, wall time.Duration }) []time.Time {
		st, err := store.Open(store.Options{Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		o := testOptions(st, fakeAM)
		o.For = 1
		o.ResendDelay = time.Minute
		o.EvalInterval = 15 * time.Second
		o.Now = func() time.Time { return wall }
		m, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		for _, s := range steps {
			wall = t0.Add(s.wall)
			d := t0.Add(s.data)
			if err := m.Process(context.Background(), d, []Prediction{pred("a", d, 0.9)}); err != nil {
				t.Fatal(err)
			}
		}
		var ends []time.Time
		all := pending(t, st, fakeAM)
		for _, as := range all[outbox:] {
			ends = append(ends, as[0].EndsAt)
		}
		outbox = len(all)
		return ends
	}
	type step = struct{ data, wall time.Duration }
	// Fires at wall 0; data 20× ahead: steps at wall 3s … 57s, data up to
	// 19m, no resend; at wall 60s, one.
	var fast []step
	for i := 0; i <= 20; i++ {
		fast = append(fast, step{time.Duration(i) * time.Minute, time.Duration(i) * 3 * time.Second})
	}
	ends := run(fast)
	lead := 4 * time.Minute // 4 × max(15s, 1m)
	want := []time.Time{t0.Add(lead), t0.Add(time.Minute + lead)}
	if !equalTimes(ends, want) {
		t.Fatalf("data ahead: sends with endsAt %v, want %v", ends, want)
	}
	// Restart 10s (wall) after the last send, data slower than the wall
	// clock: nothing due until wall 2m (a step at 1m50s sends nothing),
	// then one resend; the next at 3m10s, not at data + 1m.
	ends = run([]step{{21 * time.Minute, 70 * time.Second}, {21*time.Minute + 15*time.Second, 110 * time.Second},
		{21*time.Minute + 30*time.Second, 125 * time.Second}, {21*time.Minute + 45*time.Second, 190 * time.Second}})
	want = []time.Time{t0.Add(125*time.Second + lead), t0.Add(190*time.Second + lead)}
	if !equalTimes(ends, want) {
		t.Fatalf("after the restart: sends with endsAt %v, want %v", ends, want)
	}
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// stepClock is a wall clock (Options.Now) that tests set to each step's
// time: resends fall due as the steps advance, as when data time runs at
// the wall clock's pace.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

// use makes c o's wall clock, starting at t.
func (c *stepClock) use(o *Options, t time.Time) {
	c.set(t)
	o.Now = c.now
}

func (c *stepClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
