package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestAlertCallbacksDropRule: a full callback queue drops the oldest
// queued fire with its alert's later reports (queued, or to come up to
// its resolve), else the oldest escalation, and never a resolve on its
// own. It dropped the oldest queued report whatever it was: an alert's
// only OnResolve (the consumer saw it firing for ever), or its OnAlert
// while its OnEscalate and OnResolve were delivered. A resolve without
// call (no OnResolve) ends its life too: it was discarded, so a fire
// dropped later took the fingerprint's next life with it.
func TestAlertCallbacksDropRule(t *testing.T) {
	type rep struct {
		kind   reportKind
		fp     string
		noCall bool
	}
	f := func(fp string) rep { return rep{reportFire, fp, false} }
	e := func(fp string) rep { return rep{reportEscalate, fp, false} }
	r := func(fp string) rep { return rep{reportResolve, fp, false} }
	n := func(fp string) rep { return rep{reportResolve, fp, true} } // no OnResolve
	tests := []struct {
		name string
		max  int
		// pushed while the consumer is held in the fire of "x"
		pushed      []rep
		want        []string // delivered after "fire x"
		wantDropped float64
		maxQueued   int
	}{
		{name: "a delivered alert's resolve is kept, the newer fire dropped with its escalation", max: 2,
			pushed: []rep{r("x"), f("b"), e("b")}, want: []string{"resolve x"}, wantDropped: 2, maxQueued: 2},
		{name: "a queued fire and its resolve go together", max: 2,
			pushed: []rep{f("a"), f("b"), r("a")}, want: []string{"fire b"}, wantDropped: 2, maxQueued: 2},
		{name: "no fire queued: the oldest escalation", max: 2,
			pushed: []rep{e("a"), e("b"), r("a")}, want: []string{"escalate b", "resolve a"}, wantDropped: 1, maxQueued: 2},
		{name: "resolves alone are kept past the bound", max: 2,
			pushed: []rep{r("a"), r("b"), r("c")}, want: []string{"resolve a", "resolve b", "resolve c"}, maxQueued: 3},
		{name: "a dropped fire's later reports are dropped as they come, up to its resolve", max: 1,
			pushed: []rep{f("a"), f("b"), e("a"), r("a"), f("a")}, want: []string{"fire a"}, wantDropped: 4, maxQueued: 1},
		{name: "a dropped fire takes its life only, not the fingerprint's next one", max: 3,
			pushed: []rep{f("a"), r("a"), f("a"), f("b")}, want: []string{"fire a", "fire b"}, wantDropped: 2, maxQueued: 3},
		{name: "no OnResolve: a dropped fire takes its life only", max: 2,
			pushed: []rep{f("a"), n("a"), f("a"), f("b")}, want: []string{"fire a", "fire b"}, wantDropped: 1, maxQueued: 2},
		{name: "no OnResolve: a dropped fire takes its escalation, not the next life", max: 3,
			pushed: []rep{f("a"), e("a"), n("a"), f("a"), f("b")}, want: []string{"fire a", "fire b"}, wantDropped: 2, maxQueued: 3},
		{name: "no OnResolve: an unseen alert's resolve ends its unseen life", max: 1,
			pushed: []rep{f("a"), f("b"), e("a"), n("a"), f("a")}, want: []string{"fire a"}, wantDropped: 3, maxQueued: 1},
	}
	names := map[reportKind]string{reportFire: "fire", reportEscalate: "escalate", reportResolve: "resolve"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dropped := promauto.With(prometheus.NewRegistry()).NewCounter(prometheus.CounterOpts{Name: "dropped"})
			c := callbacks{max: tc.max, dropped: dropped}
			var mu sync.Mutex
			var got []string
			started, release := make(chan struct{}), make(chan struct{})
			c.push(fire("x", func() { close(started); <-release }))
			<-started
			queued := 0
			for _, p := range tc.pushed {
				r := callbackReport{kind: p.kind, fp: p.fp, call: func() {
					mu.Lock()
					defer mu.Unlock()
					got = append(got, names[p.kind]+" "+p.fp)
				}}
				if p.noCall {
					r.call = nil
				}
				c.push(r)
				c.mu.Lock()
				queued = max(queued, len(c.queue))
				c.mu.Unlock()
			}
			close(release)
			if err := c.close(context.Background()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(got, tc.want) {
				t.Errorf("delivered %q, want %q", got, tc.want)
			}
			if n := testutil.ToFloat64(dropped); n != tc.wantDropped {
				t.Errorf("dropped %g, want %g", n, tc.wantDropped)
			}
			if queued != tc.maxQueued {
				t.Errorf("at most %d queued, want %d", queued, tc.maxQueued)
			}
		})
	}
}

// TestAlertCallbacksDropGuarantees: alerts of random lives (fire, maybe
// escalate, resolve; some restored firing, reporting no fire) reported
// to a slow consumer through a small queue: every fire delivered is
// followed by its resolve, no escalation or resolve is delivered for an
// alert whose fire was dropped, the queue holds more than its bound only
// resolves, and every report is delivered or counted dropped.
func TestAlertCallbacksDropGuarantees(t *testing.T) {
	const alerts, bound = 30, 4
	rng := rand.New(rand.NewPCG(1, 2))
	dropped := promauto.With(prometheus.NewRegistry()).NewCounter(prometheus.CounterOpts{Name: "dropped"})
	c := callbacks{max: bound, dropped: dropped}
	var mu sync.Mutex
	delivered := map[string][]reportKind{}
	total := 0
	push := func(kind reportKind, fp string) {
		total++
		c.push(callbackReport{kind: kind, fp: fp, call: func() {
			if last := fp[len(fp)-1]; last%3 == 0 {
				time.Sleep(100 * time.Microsecond) // slow for some alerts
			}
			mu.Lock()
			defer mu.Unlock()
			delivered[fp] = append(delivered[fp], kind)
		}})
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.queue) > bound && slices.ContainsFunc(c.queue, func(r callbackReport) bool { return r.kind != reportResolve }) {
			t.Errorf("%d queued, over the bound %d with other reports than resolves", len(c.queue), bound)
		}
	}
	// state: 0 not firing, 1 firing, 2 firing escalated; the odd alerts
	// start restored firing (no fire reported).
	state := make([]int, alerts)
	restored := map[string]bool{}
	for i := range state {
		if i%2 == 1 {
			state[i] = 1
			restored[fmt.Sprint("a", i)] = true
		}
	}
	for step := range 3000 {
		i := rng.IntN(alerts)
		fp := fmt.Sprint("a", i)
		switch {
		case state[i] == 0:
			push(reportFire, fp)
			state[i] = 1
		case state[i] == 1 && rng.IntN(2) == 0:
			push(reportEscalate, fp)
			state[i] = 2
		default:
			push(reportResolve, fp)
			state[i] = 0
		}
		if step%20 == 0 {
			time.Sleep(2 * time.Millisecond) // the consumer catches up now and then
		}
	}
	for i := range state { // every life ends
		if state[i] != 0 {
			push(reportResolve, fmt.Sprint("a", i))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	n := 0
	for fp, kinds := range delivered {
		n += len(kinds)
		firing := restored[fp] // a restored alert's escalation and resolve come without a fire
		bad := false
		for j, k := range kinds {
			switch {
			case k == reportFire && firing:
				t.Errorf("%s: fire %d delivered while its previous fire was not resolved (0 fire, 1 escalate, 2 resolve): %v", fp, j, kinds)
				bad = true
			case k != reportFire && !firing:
				t.Errorf("%s: report %d (%v) delivered for an alert whose fire was not delivered: %v", fp, j, k, kinds)
				bad = true
			}
			if bad {
				break
			}
			firing = k != reportResolve
		}
		if firing && !bad {
			t.Errorf("%s: its last fire delivered has no resolve delivered: %v", fp, kinds)
		}
	}
	d := testutil.ToFloat64(dropped)
	if float64(n)+d != float64(total) {
		t.Errorf("%d delivered + %g dropped, want the %d reported", n, d, total)
	}
	if d == 0 {
		t.Errorf("nothing dropped: the consumer kept up, the test tests nothing")
	}
	t.Logf("%d reports, %d delivered, %g dropped", total, n, d)
}

// TestAlertCallbacksNoOnResolveBookkeeping: with OnAlert set and
// OnResolve nil, alerts fired and resolved while the consumer is held
// behind a queue of 1 leave no unseen entry (the fire dropped is known
// to have ended its life), and every report is delivered or counted
// dropped. The resolves without call were discarded: each fire dropped
// later marked its alert unseen for ever (999 entries for 1000 alerts).
func TestAlertCallbacksNoOnResolveBookkeeping(t *testing.T) {
	const alerts = 1000
	dropped := promauto.With(prometheus.NewRegistry()).NewCounter(prometheus.CounterOpts{Name: "dropped"})
	c := callbacks{max: 1, dropped: dropped}
	var mu sync.Mutex
	var got []string
	started, release := make(chan struct{}), make(chan struct{})
	c.push(fire("x", func() { close(started); <-release }))
	<-started
	for i := range alerts {
		fp := fmt.Sprint("pod-", i)
		c.push(fire(fp, func() {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fp)
		}))
		c.push(callbackReport{kind: reportResolve, fp: fp}) // no OnResolve
	}
	c.mu.Lock()
	unseen, queued := len(c.unseen), len(c.queue)
	c.mu.Unlock()
	close(release)
	if err := c.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if unseen != 0 {
		t.Errorf("%d alerts unseen after all %d resolved, want 0", unseen, alerts)
	}
	if queued != 1 {
		t.Errorf("%d queued, want 1", queued)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{fmt.Sprint("pod-", alerts-1)}; !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
	if d := testutil.ToFloat64(dropped); d != alerts-1 {
		t.Errorf("dropped %g, want %d", d, alerts-1)
	}
}

// TestAlertCallbacksNoOnResolveGuarantees: alerts of random lives (fire,
// maybe escalate, resolve) reported without OnResolve to a slow consumer
// through a small queue: no escalation is delivered for a life whose
// fire was dropped, the queue never holds more than its bound, every
// report is delivered or counted dropped, and only firing alerts are
// unseen (none once every life ended). The resolves without call were
// discarded: a fire dropped after its resolve left its alert unseen
// while not firing.
func TestAlertCallbacksNoOnResolveGuarantees(t *testing.T) {
	const alerts, bound = 30, 4
	rng := rand.New(rand.NewPCG(3, 4))
	dropped := promauto.With(prometheus.NewRegistry()).NewCounter(prometheus.CounterOpts{Name: "dropped"})
	c := callbacks{max: bound, dropped: dropped}
	type life struct {
		fp string
		n  int
	}
	var mu sync.Mutex
	fired := map[life]bool{}
	delivered, total := 0, 0
	push := func(kind reportKind, l life) {
		r := callbackReport{kind: kind, fp: l.fp}
		if kind != reportResolve {
			total++
			r.call = func() {
				if last := l.fp[len(l.fp)-1]; last%3 == 0 {
					time.Sleep(100 * time.Microsecond) // slow for some alerts
				}
				mu.Lock()
				defer mu.Unlock()
				delivered++
				if kind == reportFire {
					fired[l] = true
				} else if !fired[l] {
					t.Errorf("%s: escalation of life %d delivered without its fire", l.fp, l.n)
				}
			}
		}
		c.push(r)
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.queue) > bound {
			t.Errorf("%d queued, over the bound %d", len(c.queue), bound)
		}
	}
	state, lives := make([]int, alerts), make([]int, alerts) // state: 0 not firing, 1 firing, 2 escalated
	notFiring := ""                                          // the first alert found unseen while not firing
	for step := range 3000 {
		i := rng.IntN(alerts)
		l := life{fmt.Sprint("a", i), lives[i]}
		switch {
		case state[i] == 0:
			push(reportFire, l)
			state[i] = 1
		case state[i] == 1 && rng.IntN(2) == 0:
			push(reportEscalate, l)
			state[i] = 2
		default:
			push(reportResolve, l)
			state[i] = 0
			lives[i]++
		}
		c.mu.Lock()
		for fp := range c.unseen {
			var j int
			if _, err := fmt.Sscanf(fp, "a%d", &j); (err != nil || state[j] == 0) && notFiring == "" {
				notFiring = fmt.Sprintf("step %d: %s", step, fp)
			}
		}
		c.mu.Unlock()
		if step%20 == 0 {
			time.Sleep(2 * time.Millisecond) // the consumer catches up now and then
		}
	}
	for i := range state { // every life ends
		if state[i] != 0 {
			push(reportResolve, life{fmt.Sprint("a", i), lives[i]})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.close(ctx); err != nil {
		t.Fatal(err)
	}
	if notFiring != "" {
		t.Errorf("%s unseen while not firing", notFiring)
	}
	c.mu.Lock()
	if len(c.unseen) != 0 {
		t.Errorf("unseen %v once every alert resolved, want none", c.unseen)
	}
	c.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	d := testutil.ToFloat64(dropped)
	if float64(delivered)+d != float64(total) {
		t.Errorf("%d delivered + %g dropped, want the %d reported", delivered, d, total)
	}
	if d == 0 {
		t.Errorf("nothing dropped: the consumer kept up, the test tests nothing")
	}
	t.Logf("%d reports, %d delivered, %g dropped", total, delivered, d)
}
