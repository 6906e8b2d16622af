package stream

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/omen-sre/omen/telemetry"
)

// presenceProm answers instant and range queries of any expression with
// one series per pod of pods, value 1, at the times present says the pod
// is in the result (a failure label's `x > 0` while the pod fails), and
// 503 while down. It counts the queries it failed.
type presenceProm struct {
	pods    []string
	present func(pod string, t int64) bool // t in ms
	down    atomic.Bool
	failed  atomic.Int64
}

func (f *presenceProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		f.failed.Add(1)
		http.Error(w, "prometheus unreachable", http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ms := func(k string) int64 {
		v, _ := strconv.ParseFloat(r.Form.Get(k), 64)
		return int64(math.Round(v * 1000))
	}
	at := func(t int64) string { return fmt.Sprintf("%d.%03d", t/1000, t%1000) }
	w.Header().Set("Content-Type", "application/json")
	var series []string
	if !strings.HasSuffix(r.URL.Path, "/query_range") {
		t := ms("time")
		for _, pod := range f.pods {
			if f.present(pod, t) {
				series = append(series, fmt.Sprintf(`{"metric":{"pod":%q},"value":[%s,"1"]}`, pod, at(t)))
			}
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[%s]}}`, strings.Join(series, ","))
		return
	}
	start, end, step := ms("start"), ms("end"), ms("step")
	for _, pod := range f.pods {
		var pts []string
		for t := start; step > 0 && t <= end; t += step {
			if f.present(pod, t) {
				pts = append(pts, fmt.Sprintf(`[%s,"1"]`, at(t)))
			}
		}
		if len(pts) > 0 {
			series = append(series, fmt.Sprintf(`{"metric":{"pod":%q},"values":[%s]}`, pod, strings.Join(pts, ",")))
		}
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[%s]}}`, strings.Join(series, ","))
}

// labelAppender records the samples a poller appends.
type labelAppender struct {
	mu      sync.Mutex
	samples []telemetry.Sample
}

func newLabelAppender(*testing.T) *labelAppender { return &labelAppender{} }

func (a *labelAppender) Append(_ context.Context, bs []telemetry.Batch) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range bs {
		a.samples = append(a.samples, b.Samples...)
	}
	return nil
}

// of returns the times of pod's values and of its stale markers.
func (a *labelAppender) of(pod string) (values, marks []int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.samples {
		if s.Labels.Get("pod") != pod {
			continue
		}
		if value.IsStaleNaN(s.V) {
			marks = append(marks, s.T)
		} else {
			values = append(values, s.T)
		}
	}
	slices.Sort(values)
	slices.Sort(marks)
	return values, marks
}

// failing reports whether pod is in the failure label's result at t as a
// PromQL instant selector reads the samples appended: its newest sample
// within the 5m lookback delta, (t-5m, t], is there and no stale marker.
// (The daemon's evaluator reads polled values so, features' polledStore;
// stream may not import features: app's TestPolledFailureLabelEnds
// checks the daemon's stored labels.)
func (a *labelAppender) failing(pod string, t int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	newest, v := int64(math.MinInt64), 0.0
	for _, s := range a.samples {
		if s.Labels.Get("pod") == pod && s.T <= t && s.T > t-(5*time.Minute).Milliseconds() && s.T >= newest {
			newest, v = s.T, s.V
		}
	}
	return newest != math.MinInt64 && !value.IsStaleNaN(v)
}

// TestPollerEndsSeriesGoneFromResult: a series that was in a query's
// previous result and is absent from this poll's (a failure label's
// `x > 0` once the failure ended: Prometheus answers "result":[]) gets a
// stale marker at the poll's time, so that the label reads false from that
// step on, as over remote-write. Before, the poller appended nothing and
// the evaluator served the label's last value for the 5m lookback delta:
// crashloop_failure stayed set 5 minutes after the crash ended. A poll that
// fails (Prometheus unreachable) is no empty result: it ends no series (pod
// b, in every result, never gets a marker), and with catch-up the
// steps it missed are fetched with a range query whose result ends pod a
// at the first step it lacks it, the step the failure ended at.
func TestPollerEndsSeriesGoneFromResult(t *testing.T) {
	verifyNoLeaks(t)
	const step = 100 * time.Millisecond
	for _, tc := range []struct {
		name    string
		catchUp time.Duration
		outage  bool // Prometheus unreachable while pod a's failure ends
	}{
		{name: "live poll"},
		{name: "failed polls, no catch-up", outage: true},
		{name: "failed polls, caught up", catchUp: 10 * time.Second, outage: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cut atomic.Int64 // pod a is in the results before it (0: always)
			fp := &presenceProm{pods: []string{"a", "b"}, present: func(pod string, t int64) bool {
				c := cut.Load()
				return pod != "a" || c == 0 || t < c
			}}
			srv := httptest.NewServer(fp)
			t.Cleanup(srv.Close)
			app := newLabelAppender(t)
			p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"crashloop_failure": "x > 0"},
				Step: step, EntityLabels: []string{"pod"}, CatchUp: tc.catchUp,
				RetryBackoff: time.Millisecond, MaxRetries: 1, Timeout: time.Second}, prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			runPoller(t, p)
			waitFor(t, "3 polls of pod a", func() bool { v, _ := app.of("a"); return len(v) >= 3 })
			if tc.outage {
				fp.down.Store(true)
				f := fp.failed.Load()
				waitFor(t, "a failed poll", func() bool { return fp.failed.Load() > f })
			}
			cut.Store(time.Now().UnixMilli())
			if tc.outage {
				f := fp.failed.Load()
				waitFor(t, "a failed poll after the failure ended", func() bool { return fp.failed.Load() > f+1 })
				if _, marks := app.of("a"); len(marks) > 0 {
					t.Fatalf("pod a ended at %v by failed polls", marks)
				}
				fp.down.Store(false)
			}
			waitFor(t, "pod a's stale marker", func() bool { _, m := app.of("a"); return len(m) > 0 })
			_, m := app.of("a")
			waitFor(t, "3 polls after it", func() bool { v, _ := app.of("b"); return v[len(v)-1] >= m[0]+3*step.Milliseconds() })

			aValues, aMarks := app.of("a")
			bValues, bMarks := app.of("b")
			c := cut.Load()
			if len(bMarks) > 0 {
				t.Errorf("pod b, in every result, ended at %v", bMarks)
			}
			if len(aMarks) != 1 {
				t.Fatalf("pod a's stale markers at %v, want one", aMarks)
			}
			mark := aMarks[0]
			// The first step polled (pod b has a value at each) at or
			// after the cut: with a catch-up, every step's.
			want := bValues[slices.IndexFunc(bValues, func(t int64) bool { return t >= c })]
			if mark != want {
				t.Errorf("pod a's stale marker at %d, want %d: the first step polled at or after the failure's end %d", mark, want, c)
			}
			last := aValues[len(aValues)-1]
			if last >= mark {
				t.Errorf("pod a's value at %d, after its stale marker at %d", last, mark)
			}
			if !app.failing("a", last) {
				t.Errorf("crashloop_failure not set at pod a's last value %d", last)
			}
			for ts := mark; ts <= mark+3*step.Milliseconds(); ts += step.Milliseconds() {
				if app.failing("a", ts) {
					t.Errorf("crashloop_failure still set at %d, the failure ended at %d (stale marker at %d)", ts, c, mark)
				}
			}
		})
	}
}

// TestPollerBackfillEndsSeries: a start-up Backfill's range results end
// the series they lack, as a live poll's do: at the step after a series'
// last point (pod a, in the middle of a chunk), at a gap (pod c), at a
// chunk's start when the series ended with the chunk before (pod b), and
// RunAfter, given the Backfill's end, ends at its first step the series
// the Backfill had at its end and the polls after it lack (pod d: a
// failure that ended as omen restarted). Before, no stale markers were
// written, and each lingered in the evaluator for the 5m lookback delta.
func TestPollerBackfillEndsSeries(t *testing.T) {
	verifyNoLeaks(t)
	const step = 100 * time.Millisecond
	ms := step.Milliseconds()
	end := FloorStep(time.Now(), step)
	start := end.Add(-19 * step)
	s0 := start.UnixMilli()
	// By pod, the steps (from start) of the Backfill it is in; after
	// end, pods b and d are in no result, a and c in every one.
	in := map[string]func(i int64) bool{
		"a": func(i int64) bool { return i < 7 },
		"b": func(i int64) bool { return i < 5 },
		"c": func(i int64) bool { return i < 3 || i >= 6 },
		"d": func(i int64) bool { return i <= 19 },
	}
	fp := &presenceProm{pods: []string{"a", "b", "c", "d"}, present: func(pod string, t int64) bool {
		i := (t - s0) / ms
		if i > 19 {
			return pod == "c"
		}
		return in[pod](i)
	}}
	srv := httptest.NewServer(fp)
	t.Cleanup(srv.Close)
	app := newLabelAppender(t)
	p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"crashloop_failure": "x > 0"},
		Step: step, EntityLabels: []string{"pod"}, CatchUp: 10 * time.Second, MaxPointsPerQuery: 5,
		RetryBackoff: time.Millisecond, MaxRetries: 1, Timeout: time.Second}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Backfill(ctx, start, end); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.RunAfter(rctx, end) }()
	t.Cleanup(func() {
		rcancel()
		<-done
	})
	waitFor(t, "2 polls", func() bool { v, _ := app.of("c"); return v[len(v)-1] >= end.UnixMilli()+2*ms })
	at := func(i ...int64) []int64 {
		var out []int64
		for _, k := range i {
			out = append(out, s0+k*ms)
		}
		return out
	}
	for pod, want := range map[string][]int64{
		"a": at(7),
		"b": at(5),
		"c": at(3),
		// The step after the Backfill's end, fetched by the first poll
		// (live, or its catch-up when that poll came later).
		"d": at(20),
	} {
		_, marks := app.of(pod)
		if !slices.Equal(marks, want) {
			t.Errorf("pod %s: stale markers at %v, want %v (steps from the backfill's start)", pod, marks, want)
		}
		if app.failing(pod, want[0]) {
			t.Errorf("pod %s: crashloop_failure set at %d, its stale marker's step", pod, want[0])
		}
		if !app.failing(pod, want[0]-ms) {
			t.Errorf("pod %s: crashloop_failure not set at %d, the step before its stale marker", pod, want[0]-ms)
		}
	}
}

// TestEndSeries: the stale markers endSeries adds to one query's results
// over steps 0..4 (step 1s), from the series of the step before (prev).
func TestEndSeries(t *testing.T) {
	const step = time.Second
	ls := func(pod string) labels.Labels { return labels.FromStrings("__name__", "q", "pod", pod) }
	pts := func(pod string, steps ...int64) []telemetry.Sample {
		var out []telemetry.Sample
		for _, i := range steps {
			out = append(out, telemetry.Sample{Labels: ls(pod), T: i * 1000, V: 1})
		}
		return out
	}
	set := func(pods ...string) seriesSet {
		s := seriesSet{}
		for _, p := range pods {
			s[ls(p).String()] = ls(p)
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		prev     seriesSet
		samples  []telemetry.Sample
		from, to int64              // steps
		marks    map[string][]int64 // by pod, the steps of its markers
		cur      []string
	}{
		{name: "present throughout", prev: set("a"), samples: pts("a", 0, 1, 2, 3, 4), to: 4, cur: []string{"a"}},
		{name: "ends before to", samples: pts("a", 0, 1), to: 4, marks: map[string][]int64{"a": {2}}},
		{name: "gap", samples: pts("a", 0, 3, 4), to: 4, marks: map[string][]int64{"a": {1}}, cur: []string{"a"}},
		{name: "absent, in prev", prev: set("a"), to: 4, marks: map[string][]int64{"a": {0}}},
		{name: "starts late, in prev", prev: set("a"), samples: pts("a", 2, 3, 4), to: 4, marks: map[string][]int64{"a": {0}}, cur: []string{"a"}},
		{name: "starts late, not in prev", samples: pts("a", 2, 3, 4), to: 4, cur: []string{"a"}},
		{name: "instant poll, gone", prev: set("a", "b"), samples: pts("b", 4), from: 4, to: 4, marks: map[string][]int64{"a": {4}}, cur: []string{"b"}},
		{name: "instant poll, empty", prev: set("a"), from: 4, to: 4, marks: map[string][]int64{"a": {4}}},
		{name: "instant poll, none before", samples: pts("b", 4), from: 4, to: 4, cur: []string{"b"}},
		// Two result series with the same labels (a pod's containers):
		// one series, present while either is.
		{name: "same labels twice", samples: append(pts("a", 0, 1, 2), pts("a", 2, 3)...), to: 4, marks: map[string][]int64{"a": {4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, cur := endSeries(tc.prev, tc.samples, time.UnixMilli(tc.from*1000), time.UnixMilli(tc.to*1000), step)
			marks := map[string][]int64{}
			values := 0
			for i, s := range out {
				if i > 0 && s.T < out[i-1].T {
					t.Errorf("sample %d at %d before the one before it, at %d", i, s.T, out[i-1].T)
				}
				if value.IsStaleNaN(s.V) {
					marks[s.Labels.Get("pod")] = append(marks[s.Labels.Get("pod")], s.T/1000)
				} else {
					values++
				}
			}
			if values != len(tc.samples) {
				t.Errorf("%d values returned, want the %d given", values, len(tc.samples))
			}
			if fmt.Sprint(marks) != fmt.Sprint(tc.marks) { // a nil and an empty map print alike
				t.Errorf("stale markers %v, want %v", marks, tc.marks)
			}
			var pods []string
			for _, l := range cur {
				pods = append(pods, l.Get("pod"))
			}
			slices.Sort(pods)
			if !slices.Equal(pods, tc.cur) {
				t.Errorf("series at to: %v, want %v", pods, tc.cur)
			}
		})
	}
}

// BenchmarkEndSeries measures endSeries on a catch-up range result: 100
// series of 240 points each (one hour of 15 s steps), one ending early.
func BenchmarkEndSeries(b *testing.B) {
	const series, points, step = 100, 240, int64(15000)
	var samples []telemetry.Sample
	for i := range series {
		ls := labels.FromStrings("__name__", "q", "namespace", "shop", "pod", fmt.Sprintf("pod-%d", i))
		n := points
		if i == 0 {
			n = points / 2
		}
		for j := range n {
			samples = append(samples, telemetry.Sample{Labels: ls, T: int64(j) * step, V: 1})
		}
	}
	from, to := time.UnixMilli(0), time.UnixMilli((points-1)*step)
	b.ReportAllocs()
	for b.Loop() {
		if out, _ := endSeries(nil, slices.Clone(samples), from, to, 15*time.Second); len(out) != len(samples)+1 {
			b.Fatalf("%d samples out, want %d (one marker)", len(out), len(samples)+1)
		}
	}
}
