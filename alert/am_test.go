package alert

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
)

// scenario drives a Manager through steps at real time (Alertmanager
// judges endsAt by its own clock) and records, per entity, the transitions
// the Manager made, for comparison with what Alertmanager accepted.
type scenario struct {
	t     *testing.T
	m     *Manager
	probs map[string]float64
}

func (sc *scenario) step(set map[string]float64) {
	sc.t.Helper()
	for e, p := range set {
		if p < 0 {
			delete(sc.probs, e)
			continue
		}
		sc.probs[e] = p
	}
	now := time.Now()
	var ps []Prediction
	for e, p := range sc.probs {
		q := pred(e, now, p)
		q.Labels["app.kubernetes.io/name"] = "checkout"
		ps = append(ps, q)
	}
	if err := sc.m.Process(context.Background(), now, ps); err != nil {
		sc.t.Fatalf("Process: %v", err)
	}
}

// steps runs n steps 50ms apart with the current probabilities.
func (sc *scenario) steps(n int) {
	for i := 0; i < n; i++ {
		time.Sleep(50 * time.Millisecond)
		sc.step(nil)
	}
}

// sent returns, per pod label, the distinct (state, startsAt) versions
// that the Manager's alerts went through, from its API view.
func alertFP(t *testing.T, m *Manager, pod string) string {
	t.Helper()
	for _, a := range m.Alerts() {
		if a.Labels["pod"] == pod {
			return a.Fingerprint
		}
	}
	t.Fatalf("no alert for %s in %+v", pod, m.Alerts())
	return ""
}

// alertLink is the id the links of the alert of pod name (see linkID):
// the prediction it fired on, path-escaped.
func alertLink(t *testing.T, m *Manager, pod string) string {
	t.Helper()
	for _, a := range m.Alerts() {
		if a.Labels["pod"] == pod {
			return url.PathEscape(a.PredictionID)
		}
	}
	t.Fatalf("no alert for %s in %+v", pod, m.Alerts())
	return ""
}

// wantActive waits until the Alertmanager at base shows exactly the alerts
// of pods as active.
func wantActive(t *testing.T, base string, pods ...string) map[string]amAlert {
	t.Helper()
	sort.Strings(pods)
	var got map[string]amAlert
	eventually(t, 10*time.Second, "alertmanager "+base+" shows "+strings.Join(pods, ","), func() error {
		got = amAlerts(t, base)
		var have []string
		for _, a := range got {
			have = append(have, a.Labels["pod"])
		}
		sort.Strings(have)
		if !slices.Equal(have, pods) {
			return fmt.Errorf("active %v", have)
		}
		return nil
	})
	return got
}

func TestAlertmanagerFireAndResolve(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	am := testenv.Alertmanager(t)
	st := openStore(t, t.TempDir())
	m, err := New(testOptions(st, am))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	startRun(t, m)
	sc := &scenario{t: t, m: m, probs: map[string]float64{}}

	// Kubernetes label names are made valid Alertmanager label names.
	sc.step(map[string]float64{"checkout-1": 0.75, "cart-1": 0.1})
	sc.steps(1) // checkout-1 fires (for: 2)
	got := wantActive(t, am, "checkout-1")
	fp := alertFP(t, m, "checkout-1")
	a, ok := got[fp]
	if !ok {
		t.Fatalf("Alertmanager fingerprint differs from omen's %s: %+v", fp, got)
	}
	wantLabels := map[string]string{
		"alertname": AlertName, "namespace": "shop", "pod": "checkout-1", "service": "checkout", "severity": SeverityWarning,
		"app_kubernetes_io_name": "checkout",
	}
	if fmt.Sprint(a.Labels) != fmt.Sprint(wantLabels) {
		t.Errorf("labels %v, want %v", a.Labels, wantLabels)
	}
	for _, k := range []string{"summary", "description", "probability", "horizon", "top_causes", "recommended_action", "runbook_url", "explanation_url"} {
		if a.Annotations[k] == "" {
			t.Errorf("annotation %s missing: %v", k, a.Annotations)
		}
	}
	if a.Annotations["top_causes"] != "memory_working_set_ratio 62%, OOMKilled (event) 21%; dependencies by root-cause score: config-store on infra/config-store 0.09" {
		t.Errorf("top_causes %q", a.Annotations["top_causes"])
	}
	if a.Annotations["probability"] != "0.750" || a.Annotations["horizon"] != "15m" {
		t.Errorf("probability %q horizon %q", a.Annotations["probability"], a.Annotations["horizon"])
	}
	if want := "http://omen.example:9090/ui/alerts/" + alertLink(t, m, "checkout-1"); a.GeneratorURL != want {
		t.Errorf("generatorURL %q, want %q", a.GeneratorURL, want)
	}
	if a.Status.State != "active" {
		t.Errorf("status %q, want active", a.Status.State)
	}
	if ours := m.Alerts()[0].StartsAt; !a.StartsAt.Equal(ours.Truncate(time.Millisecond)) && !a.StartsAt.Equal(ours) {
		t.Errorf("startsAt %v, want %v", a.StartsAt, ours)
	}
	// Over the critical probability (0.9) it escalates: Alertmanager
	// shows the critical alert active, the warning one resolved (not
	// active), and the links still name the alert's page under the
	// fingerprint it fired with.
	sc.step(map[string]float64{"checkout-1": 0.95})
	wantLabels["severity"] = SeverityCritical
	critFP := fingerprint(wantLabels)
	var c amAlert
	eventually(t, 10*time.Second, "only the critical alert active", func() error {
		got := amAlerts(t, am)
		var ok bool
		if c, ok = got[critFP]; !ok || len(got) != 1 {
			return fmt.Errorf("active %v", got)
		}
		return nil
	})
	if fmt.Sprint(c.Labels) != fmt.Sprint(wantLabels) {
		t.Errorf("escalated alert has labels %v, want %v", c.Labels, wantLabels)
	}
	if want := "http://omen.example:9090/ui/alerts/" + alertLink(t, m, "checkout-1"); c.GeneratorURL != want || c.Annotations["probability"] != "0.950" {
		t.Errorf("critical alert: generatorURL %q (want %q), probability %q", c.GeneratorURL, want, c.Annotations["probability"])
	}
	if as := m.Alerts(); len(as) != 1 || as[0].Fingerprint != fp || as[0].Severity != SeverityCritical {
		t.Errorf("Alerts() after escalation: %+v, want %s critical", as, fp)
	}
	sc.steps(6) // past the resend delay: still critical only
	if got := wantActive(t, am, "checkout-1"); got[critFP].Labels["severity"] != SeverityCritical {
		t.Errorf("after resends Alertmanager has %+v, want the critical alert", got)
	}
	// Between the thresholds (0.56 ≤ p < 0.7) it keeps firing, critical
	// (no flapping back to warning); below, it resolves and disappears
	// long before its endsAt (4h ahead).
	sc.step(map[string]float64{"checkout-1": 0.6})
	sc.steps(4)
	if got := wantActive(t, am, "checkout-1"); got[critFP].Labels["severity"] != SeverityCritical {
		t.Errorf("below the critical probability Alertmanager has %+v, want the critical alert", got)
	}
	sc.step(map[string]float64{"checkout-1": 0.3})
	wantActive(t, am)
	if as := m.Alerts(); len(as) != 1 || as[0].State != store.AlertResolved {
		t.Errorf("Alerts() after resolution: %+v", as)
	}
}

// TestAlertmanagerOutage stops "Alertmanager" (a proxy on a fixed port in
// front of it refuses connections) for several resend intervals while
// alerts fire and resolve, then brings up a new Alertmanager behind the
// same port: every alert's current state arrives once, every resolution
// arrives, and an alert that fired and resolved during the outage arrives
// only resolved (its firing is stale by then, see collapse).
func TestAlertmanagerOutage(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	am1 := testenv.Alertmanager(t)
	am2 := testenv.Alertmanager(t)
	px := newProxy(t, am1)
	st := openStore(t, t.TempDir())
	m, err := New(testOptions(st, px.URL()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	startRun(t, m)
	sc := &scenario{t: t, m: m, probs: map[string]float64{}}

	sc.step(map[string]float64{"a": 0.8, "d": 0.8})
	sc.steps(1)
	wantActive(t, am1, "a", "d")

	px.down()
	sc.step(map[string]float64{"a": 0.1, "b": 0.8, "c": 0.8}) // a resolves; b, c pending
	sc.steps(2)                                               // b, c fire
	sc.step(map[string]float64{"c": 0.1})                     // c resolves
	sc.steps(20)                                              // 1s: 5 resend intervals
	if n := len(pending(t, st, px.URL())); n == 0 {
		t.Fatalf("nothing queued during the outage")
	}
	px.up(am2)
	sc.steps(4)
	wantActive(t, am2, "b", "d")
	eventually(t, 10*time.Second, "outbox drained", func() error {
		if n := len(pending(t, st, px.URL())); n != 0 {
			return fmt.Errorf("%d items pending", n)
		}
		return nil
	})
	checkAccepted(t, m, px, map[string]string{
		"a": "firing resolved", "b": "firing", "c": "resolved", "d": "firing",
	})
}

// checkAccepted compares the versions Alertmanager accepted per pod with
// want ("firing resolved": one alert that fired then resolved).
func checkAccepted(t *testing.T, m *Manager, px *proxy, want map[string]string) {
	t.Helper()
	acc := px.acceptedStates()
	for pod, w := range want {
		fp := alertFP(t, m, pod)
		var got []string
		starts := ""
		for _, v := range acc[fp] {
			state, at, _ := strings.Cut(v, "@")
			if starts == "" {
				starts = at
			}
			if at != starts {
				t.Errorf("%s: alert re-fired (%v)", pod, acc[fp])
			}
			got = append(got, state)
		}
		if strings.Join(got, " ") != w {
			t.Errorf("%s: Alertmanager accepted %v, want %s", pod, acc[fp], w)
		}
	}
}

// TestOmenRestart restarts the Manager and its store in the middle, with
// notifications still queued (Alertmanager unreachable at that moment):
// nothing is lost, firing alerts keep their startsAt, resolved ones are not
// re-fired.
func TestOmenRestart(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	am := testenv.Alertmanager(t)
	px := newProxy(t, am)
	dir := t.TempDir()
	probs := map[string]float64{}
	start := func() (*Manager, *store.Store, func()) {
		st, err := store.Open(store.Options{Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(testOptions(st, px.URL()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); _ = m.Run(ctx) }()
		return m, st, func() { cancel(); wg.Wait(); m.Close(); _ = st.Close() }
	}

	m1, _, stop1 := start()
	sc := &scenario{t: t, m: m1, probs: probs}
	sc.step(map[string]float64{"a": 0.8, "b": 0.8, "e": 0.8})
	sc.steps(1) // a, b, e fire
	wantActive(t, am, "a", "b", "e")
	px.down()
	sc.step(map[string]float64{"b": 0.1, "c": 0.8}) // b resolves (queued), c pending
	sc.steps(2)
	stop1()

	m2, st2, stop2 := start()
	t.Cleanup(stop2)
	if as := m2.Alerts(); len(as) != 4 {
		t.Fatalf("after restart Alerts() = %+v, want a, b (resolved), c, e", as)
	}
	px.up(am)
	sc.m = m2
	sc.step(map[string]float64{"a": 0.1, "d": 0.8}) // a resolves, d pending
	sc.steps(2)                                     // d fires
	wantActive(t, am, "c", "d", "e")
	eventually(t, 10*time.Second, "outbox drained", func() error {
		if n := len(pending(t, st2, px.URL())); n != 0 {
			return fmt.Errorf("%d items pending", n)
		}
		return nil
	})
	checkAccepted(t, m2, px, map[string]string{
		"a": "firing resolved", "b": "firing resolved", "c": "firing", "d": "firing", "e": "firing",
	})
}

func TestTwoAlertmanagers(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	am1 := testenv.Alertmanager(t)
	am2 := testenv.Alertmanager(t)
	st := openStore(t, t.TempDir())
	m, err := New(testOptions(st, am1, am2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	startRun(t, m)
	sc := &scenario{t: t, m: m, probs: map[string]float64{}}
	sc.step(map[string]float64{"a": 0.8, "b": 0.95, "c": 0.75})
	sc.steps(1)
	g1 := wantActive(t, am1, "a", "b", "c")
	g2 := wantActive(t, am2, "a", "b", "c")
	for fp, a := range g1 {
		b, ok := g2[fp]
		if !ok || fmt.Sprint(a.Labels, a.Annotations, a.StartsAt) != fmt.Sprint(b.Labels, b.Annotations, b.StartsAt) {
			t.Errorf("alert %s differs between the Alertmanagers: %+v vs %+v", fp, a, b)
		}
	}
	sc.step(map[string]float64{"b": 0.1})
	wantActive(t, am1, "a", "c")
	wantActive(t, am2, "a", "c")
}

// TestLatencyToAlertmanager measures, with an fsync'd store and the real
// Alertmanager, the time from the Process call whose prediction crosses the
// threshold to Alertmanager's acceptance of the alert. It logs the figures
// (machine-dependent; not asserted).
func TestLatencyToAlertmanager(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	am := testenv.Alertmanager(t)
	st := openStore(t, t.TempDir())
	o := testOptions(st, am)
	o.For = 1
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	var mu sync.Mutex
	accepted := map[string]time.Time{}
	m.delivered = func(_ string, fps []string, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, fp := range fps {
			if _, ok := accepted[fp]; !ok {
				accepted[fp] = at
			}
		}
	}
	startRun(t, m)
	const rounds, background = 100, 50
	var ps []Prediction
	now := time.Now()
	for i := 0; i < background; i++ { // entities that stay below the threshold
		ps = append(ps, pred(fmt.Sprintf("quiet-%d", i), now, 0.2))
	}
	lat := make([]time.Duration, 0, rounds)
	for i := 0; i < rounds; i++ {
		now := time.Now()
		for j := range ps {
			ps[j].T = now
		}
		p := pred(fmt.Sprintf("hot-%d", i), now, 0.8)
		fp := fingerprint((&entityState{Labels: baseLabels(&p), Severity: SeverityWarning}).alertLabels())
		start := time.Now()
		if err := m.Process(context.Background(), now, append(ps, p)); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, pred(p.Entity, now, 0.8)) // keeps firing (and being re-sent)
		var at time.Time
		eventually(t, 10*time.Second, "alert accepted", func() error {
			mu.Lock()
			defer mu.Unlock()
			var ok bool
			if at, ok = accepted[fp]; !ok {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		lat = append(lat, at.Sub(start))
		time.Sleep(10 * time.Millisecond)
	}
	slices.Sort(lat)
	q := func(f float64) time.Duration { return lat[int(f*float64(len(lat)-1))] }
	t.Logf("threshold crossing → Alertmanager accepted, %d alerts (fsync'd store, %d entities scored per step, up to %d firing): p50 %v, p90 %v, p99 %v, max %v",
		rounds, background+rounds, rounds, q(0.5), q(0.9), q(0.99), lat[len(lat)-1])
	wantActive(t, am, func() []string {
		var pods []string
		for i := 0; i < rounds; i++ {
			pods = append(pods, fmt.Sprintf("hot-%d", i))
		}
		return pods
	}()...)
}

// TestAlertmanagerDataTime steps the Manager at data times off the wall
// clock, as omen does (Process is given the step's data time): behind it
// (a catch-up after a restart) and ahead of it (a simulation running faster
// than real time). A real Alertmanager shows the firing alert active, with
// the data time as startsAt (now when that is ahead), and its resolution
// resolved: endsAt is set against Alertmanager's (wall) clock, while the
// API view keeps the data times.
func TestAlertmanagerDataTime(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	for _, tc := range []struct {
		name   string
		offset time.Duration // data time − wall time
	}{
		{"catch-up, 2h behind", -2 * time.Hour},
		{"simulation, 10m ahead", 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			am := testenv.Alertmanager(t)
			st := openStore(t, t.TempDir())
			o := testOptions(st, am)
			o.For = 1
			o.EvalInterval = time.Minute // endsAt lead: 4m
			m, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
			startRun(t, m)
			t0 := time.Now().Add(tc.offset).Truncate(time.Millisecond)
			if err := m.Process(context.Background(), t0, []Prediction{pred("a", t0, 0.9)}); err != nil {
				t.Fatal(err)
			}
			got := wantActive(t, am, "a")
			fp := alertFP(t, m, "a")
			// startsAt is the data time, or now when that is ahead.
			a := got[fp]
			if tc.offset < 0 && !a.StartsAt.Equal(t0) || tc.offset > 0 && a.StartsAt.After(time.Now()) || !a.EndsAt.After(time.Now()) {
				t.Errorf("Alertmanager has startsAt %v endsAt %v, want the data time %v (not after now) and a later endsAt than now", a.StartsAt, a.EndsAt, t0)
			}
			t1 := t0.Add(time.Minute)
			if err := m.Process(context.Background(), t1, []Prediction{pred("a", t1, 0.1)}); err != nil {
				t.Fatal(err)
			}
			wantActive(t, am)
			as := m.Alerts()
			if len(as) != 1 || !as[0].StartsAt.Equal(t0) || !as[0].ResolvedAt.Equal(t1) {
				t.Errorf("Alerts() = %+v, want startsAt %v and resolvedAt %v (the data times)", as, t0, t1)
			}
		})
	}
}
