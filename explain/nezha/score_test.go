package nezha

import (
	"math"
	"testing"
	"time"
)

// wobble is a deterministic noisy level: 10 ± 1 in a 5-step cycle.
func wobble(i int) float64 { return 10 + 0.5*float64((i*7)%5-2) }

func TestWindowScoreContaminatedBaseline(t *testing.T) {
	// 30 baseline samples, four of them an unlabelled incident (40): the
	// 0.9-quantile of single samples sits inside the incident and silences
	// the metric; the median over runs of window length does not.
	base := make([]float64, 30)
	for i := range base {
		base[i] = wobble(i)
	}
	for i := 10; i < 14; i++ {
		base[i] = 40
	}
	win := []float64{35, 36, 35, 36}
	qUp, _ := columnScore(base, win, 2, 0.9)
	wUp, wDown := windowScore(base, win, 2)
	if qUp > 2 {
		t.Errorf("quantile mode up = %.2f, want it silenced below 2", qUp)
	}
	if wUp < 10 || wDown != 0 {
		t.Errorf("window mode = (%.2f, %.2f), want up ≥ 10 and down 0", wUp, wDown)
	}
	// A clean baseline: both agree that the rise is large.
	for i := 10; i < 14; i++ {
		base[i] = wobble(i)
	}
	qUp, _ = columnScore(base, win, 2, 0.9)
	wUp, _ = windowScore(base, win, 2)
	if qUp < 10 || wUp < 10 {
		t.Errorf("clean baseline: quantile %.2f window %.2f, want both ≥ 10", qUp, wUp)
	}
}

func TestColumnScorePersistence(t *testing.T) {
	base := make([]float64, 30)
	for i := range base {
		base[i] = wobble(i)
	}
	nan := math.NaN()
	for _, tc := range []struct {
		name   string
		win    []float64
		wantUp bool
	}{
		{"lone sample after NaNs", []float64{nan, nan, 99, nan}, false},
		{"all NaN", []float64{nan, nan, nan, nan}, false},
		{"single spike", []float64{10, 99, 10, 10}, false},
		{"two high samples", []float64{nan, 99, 99, nan}, true},
	} {
		for _, mode := range []string{"quantile", "window"} {
			var up, down float64
			if mode == "quantile" {
				up, down = columnScore(base, tc.win, 2, 0.9)
			} else {
				up, down = windowScore(base, tc.win, 2)
			}
			if (up > 10) != tc.wantUp || down > 2 {
				t.Errorf("%s (%s): up %.2f down %.2f, want a rise %v", tc.name, mode, up, down, tc.wantUp)
			}
		}
	}
}

// minutes returns n sample times a minute apart from minute first.
func minutes(first, n int) []int64 {
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = int64(first+i) * 60
	}
	return ts
}

func TestBaselineLookback(t *testing.T) {
	sc := &scorer{t0: 100 * 60, win: 240, base: 1800, lookback: 7200, span: 420, minBase: 10, persist: 2,
		skip: [][2]int64{{70 * 60, 77 * 60}, {110 * 60, 117 * 60}}}
	// Values are the sample's minute, so the baseline tells which
	// samples it took.
	times := minutes(0, 150)
	v := make([]float64, len(times))
	for i, ts := range times {
		v[i] = float64(ts / 60)
	}
	bv := sc.baseline(times, v)
	if len(bv) != 30 {
		t.Fatalf("baseline has %d samples, want 30", len(bv))
	}
	lo := 100.0
	for _, m := range bv {
		if m >= 100 || (m >= 70 && m < 77) {
			t.Errorf("baseline took minute %v (after the inject time or in another fault's window)", m)
		}
		lo = math.Min(lo, m)
	}
	if lo != 63 {
		t.Errorf("earliest baseline minute %v, want 63 (30 clean minutes back, skipping 70–76)", lo)
	}

	// Data starting five minutes before the fault: five samples before
	// it, the rest from after the fault's span, never from its own window
	// or another fault's.
	times = minutes(95, 55)
	v = v[:0]
	for _, ts := range times {
		v = append(v, float64(ts/60))
	}
	bv = sc.baseline(times, v)
	if len(bv) != 30 {
		t.Fatalf("late-start baseline has %d samples, want 30", len(bv))
	}
	var pre int
	for _, m := range bv {
		switch {
		case m < 100:
			pre++
		case m < 107 || (m >= 110 && m < 117):
			t.Errorf("late-start baseline took minute %v", m)
		}
	}
	if pre != 5 {
		t.Errorf("late-start baseline has %d samples before the fault, want 5", pre)
	}

	// Enough clean samples before the fault: nothing from after it.
	sc.minBase = 5
	for _, m := range sc.baseline(times, v) {
		if m >= 100 {
			t.Errorf("baseline with enough early samples took minute %v", m)
		}
	}
}

// memDay builds an in-memory day: 90 minute samples per column, a fault on
// faulty at minute 60, and cols[pod][column] a function of the minute.
func memDay(faulty string, cols map[string]map[string]func(m int) float64) *Day {
	start := time.Date(2022, 8, 22, 3, 0, 0, 0, time.UTC)
	day := &Day{Pods: map[string]*Series{}, Faults: []Fault{{Time: start.Add(60*time.Minute + 10*time.Second), Pod: faulty, Type: "return"}}}
	for pod, cs := range cols {
		s := &Series{Pod: pod, Times: minutes(int(start.Unix()/60), 90)}
		for col, f := range cs {
			s.Columns = append(s.Columns, col)
			v := make([]float64, 90)
			for m := range v {
				v[m] = f(m)
			}
			s.Values = append(s.Values, v)
		}
		if pod == "destination_50" {
			day.Calls = append(day.Calls, s)
		} else {
			day.Pods[pod] = s
		}
	}
	return day
}

func flat(level float64) func(int) float64 {
	return func(m int) float64 { return level * wobble(m) / 10 }
}

// during returns f outside minutes 61–63 and level inside.
func during(f func(int) float64, level float64) func(int) float64 {
	return func(m int) float64 {
		if m >= 61 && m <= 63 {
			return level
		}
		return f(m)
	}
}

func TestTrafficLossBlamesCaller(t *testing.T) {
	// caller returns early: its own metrics are unremarkable, its callee's
	// workload and syscalls collapse.
	day := memDay("caller-5f6585d649-fnmft", map[string]map[string]func(int) float64{
		"caller-5f6585d649-fnmft": {"PodWorkload(Ops)": flat(100), "CpuUsageRate(%)": flat(20)},
		"callee-5f6585d649-fnmft": {"PodWorkload(Ops)": during(flat(100), 5), "SyscallRead": during(flat(500), 20), "CpuUsageRate(%)": flat(20)},
		"other-5f6585d649-fnmft":  {"PodWorkload(Ops)": flat(50), "CpuUsageRate(%)": flat(30)},
	})
	o := Options{}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	callers := map[string][]string{"callee": {"caller"}}
	ev, svcTop, _ := evidenceAt(day, 0, o, callers)
	if svcTop["caller"].family != "traffic_loss" || ev["caller"] <= ev["callee"] || ev["caller"] <= ev["other"] {
		t.Errorf("with call graph: ev %v, caller top %+v", ev, svcTop["caller"])
	}
	if ev["callee"] > math.Log1p(2) {
		t.Errorf("callee's drop counted as its own evidence: %.2f", ev["callee"])
	}
	// Without a directed graph the drop blames nobody.
	ev, _, _ = evidenceAt(day, 0, o, nil)
	if ev["caller"] > math.Log1p(2) || ev["callee"] > math.Log1p(2) {
		t.Errorf("without call graph: ev %v", ev)
	}
	// A caller that lost traffic itself is a victim too: no blame.
	day.Pods["caller-5f6585d649-fnmft"].Values[0] = make([]float64, 90)
	for m := range day.Pods["caller-5f6585d649-fnmft"].Values[0] {
		day.Pods["caller-5f6585d649-fnmft"].Values[0][m] = during(flat(100), 5)(m)
	}
	_, svcTop, _ = evidenceAt(day, 0, o, callers)
	if svcTop["caller"].family == "traffic_loss" {
		t.Errorf("caller that lost traffic itself blamed for its callee's loss: %+v", svcTop["caller"])
	}
	// NoTrafficLoss: drops are the service's own evidence again.
	o.NoTrafficLoss = true
	ev, _, _ = evidenceAt(day, 0, o, callers)
	if ev["callee"] < math.Log1p(5) {
		t.Errorf("NoTrafficLoss: callee ev %.2f, want its drop counted", ev["callee"])
	}
}

func TestExplainedLatency(t *testing.T) {
	// back slows down; front's server latency rises by as much because
	// its call to back does.
	day := memDay("back-5f6585d649-fnmft", map[string]map[string]func(int) float64{
		"front-5f6585d649-fnmft": {"PodServerLatencyP90(s)": during(flat(0.1), 2), "CpuUsageRate(%)": flat(20)},
		"back-5f6585d649-fnmft":  {"PodServerLatencyP90(s)": during(flat(0.05), 1.9), "CpuUsageRate(%)": flat(20)},
		"destination_50":         {"front_back": during(flat(0.05), 1.9)},
	})
	o := Options{}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	ev, _, _ := evidenceAt(day, 0, o, nil)
	if ev["back"] <= ev["front"] || ev["front"] > math.Log1p(3) {
		t.Errorf("explained: ev %v, want back first and front's latency explained away", ev)
	}
	o.NoExplain = true
	evNo, _, _ := evidenceAt(day, 0, o, nil)
	if evNo["front"] <= ev["front"] {
		t.Errorf("NoExplain: front ev %.2f, want more than %.2f", evNo["front"], ev["front"])
	}
}

// errorDay is an entry service "front" calling mid and other, mid calling
// leaf; the entry's success rate drops to 20 % at minute 61. cols adds
// columns to the pods (each pod has a flat CPU column).
func errorDay(cols map[string]map[string]func(int) float64) (*Day, map[string][]string) {
	all := map[string]map[string]func(int) float64{}
	for _, svc := range []string{"front", "mid", "leaf", "other"} {
		pod := svc + "-5f6585d649-fnmft"
		all[pod] = map[string]func(int) float64{"CpuUsageRate(%)": flat(20)}
		for col, f := range cols[svc] {
			all[pod][col] = f
		}
	}
	day := memDay("leaf-5f6585d649-fnmft", all)
	fr := &Series{Pod: "front", Times: day.Pods["front-5f6585d649-fnmft"].Times, Columns: []string{"SuccessRate(%)"}}
	v := make([]float64, len(fr.Times))
	for m := range v {
		v[m] = during(func(int) float64 { return 100 }, 20)(m)
	}
	fr.Values = [][]float64{v}
	day.Front = fr
	return day, map[string][]string{"mid": {"front"}, "other": {"front"}, "leaf": {"mid"}}
}

func TestErrorPath(t *testing.T) {
	o := Options{}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	// leaf answers with errors: its memory rises (its own anomaly) while
	// every service's load falls; the entry's success-rate drop is leaf's.
	lost := func(svcs ...string) map[string]map[string]func(int) float64 {
		c := map[string]map[string]func(int) float64{}
		for _, s := range svcs {
			c[s] = map[string]func(int) float64{"PodWorkload(Ops)": during(flat(50), 5)}
		}
		return c
	}
	cols := lost("mid", "leaf", "other")
	cols["leaf"]["MemoryUsageRate(%)"] = during(flat(10), 30)
	day, callers := errorDay(cols)
	ev, top, _ := evidenceAt(day, 0, o, callers)
	if top["leaf"].family != "error_path" || ev["leaf"] <= ev["front"] || ev["leaf"] <= ev["mid"] {
		t.Errorf("callee with its own anomaly: ev %v, leaf top %+v", ev, top["leaf"])
	}
	// NoErrorPath keeps the drop the entry's.
	o.NoErrorPath = true
	evNo, topNo, _ := evidenceAt(day, 0, o, callers)
	if topNo["front"].family != "front_success_rate" || evNo["front"] <= evNo["leaf"] {
		t.Errorf("NoErrorPath: ev %v, front top %+v", evNo, topNo["front"])
	}
	o.NoErrorPath = false

	// The entry fails by itself: its callees only lose load, and other's
	// latency quantile, taken over the few requests left, rises. No
	// service on the path has an anomaly of its own: the drop stays the
	// entry's.
	cols = lost("mid", "leaf", "other")
	cols["other"]["PodServerLatencyP90(s)"] = during(flat(0.01), 0.5)
	day, callers = errorDay(cols)
	ev, top, _ = evidenceAt(day, 0, o, callers)
	if top["front"].family != "front_success_rate" || top["other"].family == "error_path" || ev["front"] <= ev["leaf"] || ev["front"] <= ev["mid"] {
		t.Errorf("entry's own errors: ev %v, front top %+v, other top %+v", ev, top["front"], top["other"])
	}
	// Without a directed call graph there is no path: nothing moves.
	cols = lost("mid", "leaf", "other")
	cols["leaf"]["MemoryUsageRate(%)"] = during(flat(10), 30)
	day, _ = errorDay(cols)
	_, top, _ = evidenceAt(day, 0, o, nil)
	if top["leaf"].family == "error_path" {
		t.Errorf("error path without a call graph: leaf top %+v", top["leaf"])
	}
}

func TestErrorPathDeepest(t *testing.T) {
	o := Options{}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	callers := map[string][]string{"mid": {"front"}, "leaf": {"mid", "front"}, "other": {"front"}, "front": {"leaf"}}
	rise := map[string]map[string]float64{
		"mid":   {"cpu": 50},
		"leaf":  {"memory": 4},
		"other": {"server_latency": 80},
	}
	// leaf is two calls deep (front→mid→leaf; the cycle back to front is
	// cut), mid and other one: leaf wins despite the larger anomalies.
	if got := errorPath("front", callers, rise, map[string]float64{}, o); got != "leaf" {
		t.Errorf("deepest: got %q, want leaf", got)
	}
	// Below CauseZ leaf is no candidate; at equal depth the larger anomaly.
	rise["leaf"]["memory"] = 2
	if got := errorPath("front", callers, rise, map[string]float64{}, o); got != "other" {
		t.Errorf("equal depth: got %q, want other", got)
	}
	// A latency rise at a service whose load dropped does not count.
	if got := errorPath("front", callers, rise, map[string]float64{"other": 9}, o); got != "mid" {
		t.Errorf("latency under traffic loss: got %q, want mid", got)
	}
	if got := errorPath("front", callers, map[string]map[string]float64{}, nil, o); got != "" {
		t.Errorf("no anomaly: got %q, want none", got)
	}
}
