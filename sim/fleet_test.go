package sim

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/stream/decode"
	"github.com/omen-sre/omen/telemetry"
)

// digest hashes everything a fleet produced over n ticks.
func digest(t *testing.T, f *Fleet, n int) [32]byte {
	t.Helper()
	h := sha256.New()
	for range n {
		tk := f.Advance()
		pls, err := tk.Payloads(FormatInflux, "", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pls {
			io.WriteString(h, p.Subject+" "+p.MsgID+"\n")
			h.Write(p.Data)
		}
	}
	for _, tr := range f.Truth() {
		io.WriteString(h, tr.ID+tr.Cause+tr.Entity["pod"]+tr.FailureAt.String())
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func TestDeterminism(t *testing.T) {
	const hours = 2
	sched := func(seed int64) []ScenarioSpec {
		s, err := Schedule(seed, hours*time.Hour, ScheduleOptions{N: 2, WarmUp: 20 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	n := int(hours * time.Hour / DefaultStep)
	run := func(seed int64) [32]byte {
		return digest(t, newFleet(t, Options{Seed: seed, Scenarios: sched(seed), DeployEvery: 30 * time.Minute}), n)
	}
	a, b, c := run(1), run(1), run(2)
	if a != b {
		t.Error("same seed, different outputs")
	}
	if a == c {
		t.Error("different seeds, same outputs")
	}
}

// TestStartOnlyShiftsTimes checks that a fleet's values depend on its seed,
// not on its Start: the demo and omen eval sim start their fleets at the
// wall clock, so a value that followed the time of day (the daily traffic
// pattern did) made two runs with the same seeds train different models.
// Fleets started at other times of day must give the same samples, events
// and truth, only shifted in time.
func TestStartOnlyShiftsTimes(t *testing.T) {
	const hours = 2
	specs, err := Schedule(7, hours*time.Hour, ScheduleOptions{N: 2, WarmUp: 20 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	n := int(hours * time.Hour / DefaultStep)
	base := newFleet(t, Options{Seed: 7, Scenarios: specs, DeployEvery: 30 * time.Minute})
	baseTicks := make([]Tick, n)
	for i := range baseTicks {
		baseTicks[i] = base.Advance()
	}
	for _, shift := range []time.Duration{
		6 * time.Hour, // from the night to the morning
		13*time.Hour + 37*time.Minute + 45*time.Second, // not a whole hour
		24 * time.Hour, // a day later: the same time of day
	} {
		t.Run(shift.String(), func(t *testing.T) {
			f := newFleet(t, Options{Seed: 7, Start: defaultStart.Add(shift), Scenarios: specs, DeployEvery: 30 * time.Minute})
			ms := shift.Milliseconds()
			for i, want := range baseTicks {
				got := f.Advance()
				if !got.Time.Equal(want.Time.Add(shift)) || len(got.Samples) != len(want.Samples) || len(got.Events) != len(want.Events) {
					t.Fatalf("tick %d: time %v, %d samples, %d events; want %v, %d, %d", i,
						got.Time, len(got.Samples), len(got.Events), want.Time.Add(shift), len(want.Samples), len(want.Events))
				}
				for j, g := range got.Samples {
					w := want.Samples[j]
					if g.Labels.Get(model.MetricNameLabel) == families[famDeletion].name {
						w.V += shift.Seconds() // a Unix time
					}
					if g.T != w.T+ms || !labels.Equal(g.Labels, w.Labels) || g.V != w.V {
						t.Fatalf("tick %d: sample %v %v @%d, want %v %v @%d", i, g.Labels, g.V, g.T, w.Labels, w.V, w.T+ms)
					}
				}
				for j, g := range got.Events {
					w := want.Events[j]
					w.T += ms
					if g.T != w.T || g.Reason != w.Reason || g.Count != w.Count || g.Message != w.Message || !labels.Equal(g.Labels, w.Labels) {
						t.Fatalf("tick %d: event %+v, want %+v", i, g, w)
					}
				}
			}
			gotTruth, wantTruth := f.Truth(), base.Truth()
			if len(gotTruth) != len(wantTruth) {
				t.Fatalf("%d truths, want %d", len(gotTruth), len(wantTruth))
			}
			for i, g := range gotTruth {
				w := wantTruth[i]
				if g.ID != w.ID || g.Cause != w.Cause || g.Entity["pod"] != w.Entity["pod"] || !g.FailureAt.Equal(w.FailureAt.Add(shift)) {
					t.Errorf("truth %d: %s %s %s at %v, want %s %s %s at %v", i, g.ID, g.Cause, g.Entity["pod"], g.FailureAt,
						w.ID, w.Cause, w.Entity["pod"], w.FailureAt.Add(shift))
				}
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"short step", Options{Step: time.Millisecond}, "step"},
		{"unknown dep", Options{Services: []ServiceSpec{{Name: "a", Namespace: "n", Replicas: 1, Deps: []string{"b"}}}}, "unknown dependency"},
		{"bad name", Options{Services: []ServiceSpec{{Name: "A_b", Namespace: "n", Replicas: 1}}}, "DNS label"},
		{"twice", Options{Services: []ServiceSpec{{Name: "a", Namespace: "n"}, {Name: "a", Namespace: "n"}}}, "twice"},
		{"unknown kind", Options{Scenarios: []ScenarioSpec{{Kind: "nope", At: time.Hour}}}, "unknown kind"},
		{"onset before start", Options{Scenarios: []ScenarioSpec{{Kind: MemoryGrowth, At: 5 * time.Minute}}}, "before the start"},
		{"ineligible", Options{Scenarios: []ScenarioSpec{{Kind: ConfigPropagation, Service: "emailservice", At: time.Hour}}}, "not eligible"},
		{"overlap", Options{Scenarios: []ScenarioSpec{
			{Kind: MemoryGrowth, Service: "cartservice", At: time.Hour},
			{Kind: VolumeSyncDelay, Service: "cartservice", At: time.Hour + 5*time.Minute},
		}}, "overlap"},
		{"false alarm without precursor", Options{Scenarios: []ScenarioSpec{{Kind: ImageConflict, At: time.Hour, FalseAlarm: true}}}, "false alarm"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := New(Options{}); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestSchedule(t *testing.T) {
	specs, err := Schedule(42, 24*time.Hour, ScheduleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) < len(Kinds()) {
		t.Fatalf("%d scenarios, want at least %d", len(specs), len(Kinds()))
	}
	kinds := map[Kind]bool{}
	falseAlarms, noPrecursor := 0, 0
	for i, s := range specs {
		kinds[s.Kind] = true
		if s.FalseAlarm {
			falseAlarms++
		}
		if !s.Kind.HasPrecursor() {
			noPrecursor++
		}
		from, to := s.window()
		if from < 30*time.Minute || to > 24*time.Hour {
			t.Errorf("scenario %d window [%v, %v] outside the day after warm-up", i, from, to)
		}
		if i > 0 {
			if _, pto := specs[i-1].window(); from < pto {
				t.Errorf("scenario %d starts at %v before %d ends at %v", i, from, i-1, pto)
			}
		}
	}
	if len(kinds) != len(Kinds()) || falseAlarms == 0 || noPrecursor == 0 {
		t.Errorf("kinds %v, false alarms %d, without precursor %d", kinds, falseAlarms, noPrecursor)
	}
	again, _ := Schedule(42, 24*time.Hour, ScheduleOptions{})
	if !slices.Equal(specs, again) {
		t.Error("same seed, different schedules")
	}
	other, _ := Schedule(43, 24*time.Hour, ScheduleOptions{})
	if slices.Equal(specs, other) {
		t.Error("different seeds, same schedule")
	}
	f := newFleet(t, Options{Seed: 42, Scenarios: specs})
	tr := f.Truth()
	fails, bait, noPre := 0, 0, 0
	for _, x := range tr {
		switch {
		case !x.Fails:
			bait++
		case !x.HasPrecursor:
			noPre++
			fails++
		default:
			fails++
		}
	}
	if bait == 0 || noPre == 0 || fails < 2 {
		t.Errorf("truth: %d failures, %d without precursor, %d false-alarm bait", fails, noPre, bait)
	}
	if _, err := Schedule(1, time.Hour, ScheduleOptions{N: 5}); err == nil {
		t.Error("5 scenarios fit in an hour")
	}
}

func TestGraph(t *testing.T) {
	f := newFleet(t, Options{})
	g := f.Graph()
	want := []Edge{{"cartservice", "etcd"}, {"cartservice", "redis-cart"}}
	for _, e := range want {
		if !slices.Contains(g, e) {
			t.Errorf("graph lacks %v", e)
		}
	}
	if len(f.Pods()) != 29 {
		t.Errorf("%d pods, want 29", len(f.Pods()))
	}
}

// TestMetricsHandler scrapes the handler and parses the page with expfmt.
func TestMetricsHandler(t *testing.T) {
	f := newFleet(t, Options{Seed: 3, Scenarios: []ScenarioSpec{{Kind: MemoryGrowth, At: 20 * time.Minute, Lead: 10 * time.Minute}}})
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	var last Tick
	for range 100 {
		last = f.Advance()
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != PromContentType {
		t.Errorf("content type %q", ct)
	}
	body, _ := io.ReadAll(resp.Body)
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, name := range []string{
		"kube_pod_container_status_restarts_total", "kube_pod_container_status_waiting_reason", "kube_pod_status_ready",
		"kube_pod_info", "container_memory_working_set_bytes", "container_spec_memory_limit_bytes",
		"container_cpu_usage_seconds_total", "container_cpu_cfs_throttled_periods_total", "container_cpu_cfs_periods_total",
		"http_requests_total", "http_client_request_duration_seconds", "config_propagation_delay_seconds",
		"connection_pool_active_connections", "storage_operation_duration_seconds",
	} {
		mf, ok := fams[name]
		if !ok {
			t.Errorf("no family %s", name)
			continue
		}
		for _, m := range mf.Metric {
			if m.GetTimestampMs() != last.Time.UnixMilli() {
				t.Fatalf("%s: timestamp %d, want %d", name, m.GetTimestampMs(), last.Time.UnixMilli())
			}
			var hasPod bool
			for _, l := range m.Label {
				hasPod = hasPod || l.GetName() == "pod" && l.GetValue() != ""
			}
			if !hasPod {
				t.Fatalf("%s: series without pod label", name)
			}
		}
	}
	n := 0
	for _, mf := range fams {
		for _, m := range mf.Metric {
			if h := m.GetHistogram(); h != nil {
				n += len(h.Bucket) + 2
			} else if s := m.GetSummary(); s != nil {
				n += 2
			} else {
				n++
			}
		}
	}
	if n != len(last.Samples) {
		t.Errorf("page has %d samples, tick %d", n, len(last.Samples))
	}
}

// TestPayloadsDecode decodes every payload of a stretch of ticks with
// package stream/decode and compares with the tick's samples and events.
func TestPayloadsDecode(t *testing.T) {
	specs := []ScenarioSpec{
		{Kind: ImageConflict, At: 30 * time.Minute},
		{Kind: CrossZoneLatency, At: 70 * time.Minute, Lead: 10 * time.Minute},
		{Kind: VolumeSyncDelay, At: 80 * time.Minute, Lead: 10 * time.Minute, Service: "adservice"},
	}
	for _, format := range []Format{FormatInflux, FormatProm} {
		t.Run(string(format), func(t *testing.T) {
			f := newFleet(t, Options{Seed: 5, Scenarios: specs, DeployEvery: 20 * time.Minute})
			var now time.Time
			dec, err := decode.New(decode.Options{Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			events := 0
			subjects := map[string]int{}
			for range int(2 * time.Hour / DefaultStep) {
				tk := f.Advance()
				now = tk.Time
				pls, err := tk.Payloads(format, "", "")
				if err != nil {
					t.Fatal(err)
				}
				var res decode.Result
				for _, p := range pls {
					subjects[p.Subject]++
					ct := ""
					if format == FormatProm && strings.HasPrefix(p.Subject, DefaultMetricsSubject) {
						ct = PromContentType
					}
					df, err := decode.Detect(p.Subject, ct)
					if err != nil {
						t.Fatal(err)
					}
					if err := dec.Decode(df, p.Data, now, &res); err != nil {
						t.Fatalf("%s: %v", p.Subject, err)
					}
				}
				if len(res.Errors) > 0 {
					t.Fatalf("tick %d: decode errors %v", tk.Seq, res.Errors[:min(3, len(res.Errors))])
				}
				compareSamples(t, tk.Samples, res.Samples)
				compareEvents(t, tk.Events, res.Events)
				events += len(tk.Events)
			}
			if events == 0 || subjects["omen.events.k8s"] == 0 || subjects["omen.events.module"] == 0 || subjects["omen.metrics."+string(format)] == 0 {
				t.Errorf("events %d, subjects %v", events, subjects)
			}
		})
	}
}

func sampleKey(s telemetry.Sample) string { return s.Labels.String() }

func compareSamples(t *testing.T, want, got []telemetry.Sample) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d samples decoded, %d sent", len(got), len(want))
	}
	m := map[string]telemetry.Sample{}
	for _, s := range got {
		m[sampleKey(s)] = s
	}
	for _, s := range want {
		g, ok := m[sampleKey(s)]
		if !ok || g.T != s.T || g.V != s.V {
			t.Fatalf("sample %v %d %v decoded as %v (found %v)", s.Labels, s.T, s.V, g, ok)
		}
	}
}

func compareEvents(t *testing.T, want, got []telemetry.Event) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d events decoded, %d sent", len(got), len(want))
	}
	key := func(e telemetry.Event) string {
		return e.Source + e.Reason + e.Labels.String() + e.UID + e.Message + e.Type + string(rune(e.Count)) + time.UnixMilli(e.T).String()
	}
	var a, b []string
	for i := range want {
		a = append(a, key(want[i]))
		b = append(b, key(got[i]))
	}
	slices.Sort(a)
	slices.Sort(b)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("event\n%s\ndecoded as\n%s", a[i], b[i])
		}
	}
}

func TestFeatureConfig(t *testing.T) {
	cfg := FeatureConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	names := cfg.FeatureNames()
	for _, k := range Kinds() {
		if indexOf(names, k.Cause()) < 0 {
			t.Errorf("%s: cause %q is not a feature", k, k.Cause())
		}
	}
}

// TestConcurrentScrape scrapes the handler while the fleet advances (run
// with -race).
func TestConcurrentScrape(t *testing.T) {
	f := newFleet(t, Options{Seed: 4})
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	done := make(chan error)
	go func() {
		for range 20 {
			resp, err := http.Get(srv.URL)
			if err != nil {
				done <- err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done <- nil
	}()
	for range 50 {
		f.Advance()
		_ = f.Truth()
		_ = f.Now()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
}
