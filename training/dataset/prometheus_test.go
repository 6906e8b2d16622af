package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	pmodel "github.com/prometheus/common/model"

	"github.com/omen-sre/omen/internal/testenv"
)

// fakeAPI answers range queries from a table.
type fakeAPI map[string]pmodel.Matrix

func (f fakeAPI) QueryRange(_ context.Context, q string, _ v1.Range, _ ...v1.Option) (pmodel.Value, v1.Warnings, v1.Infos, error) {
	m, ok := f[q]
	if !ok {
		return nil, nil, nil, fmt.Errorf("unknown query %q", q)
	}
	return m, nil, nil, nil
}

func stream(labels pmodel.LabelSet, start time.Time, step time.Duration, vals ...float64) *pmodel.SampleStream {
	ss := &pmodel.SampleStream{Metric: pmodel.Metric(labels)}
	for i, v := range vals {
		if math.IsNaN(v) {
			continue
		}
		ss.Values = append(ss.Values, pmodel.SamplePair{Timestamp: pmodel.TimeFromUnixNano(start.Add(time.Duration(i) * step).UnixNano()), Value: pmodel.SampleValue(v)})
	}
	return ss
}

func TestPrometheusSourceFake(t *testing.T) {
	start := time.Unix(1000, 0)
	step := 15 * time.Second
	nan := math.NaN()
	api := fakeAPI{
		"cpu": {
			stream(pmodel.LabelSet{"namespace": "n", "pod": "a", "container": "x"}, start, step, 1, 2, 30, 4),
			stream(pmodel.LabelSet{"namespace": "n", "pod": "a", "container": "y"}, start, step, 10, 10, 10, 10),
			stream(pmodel.LabelSet{"namespace": "n", "pod": "b"}, start, step, 5, nan, 7, 8),
		},
		"mem":     {stream(pmodel.LabelSet{"namespace": "n", "pod": "b"}, start, step, 1, 1, 1, 1)},
		"restart": {stream(pmodel.LabelSet{"namespace": "n", "pod": "b"}, start, step, 0, 0, 0, 1), stream(pmodel.LabelSet{"namespace": "n", "pod": "zzz"}, start, step, 1)},
	}
	src := &PrometheusSource{API: api, Features: []NamedQuery{{"cpu", "cpu"}, {"mem", "mem"}}, Failures: []NamedQuery{{"restarts", "restart"}},
		EntityLabels: []string{"namespace", "pod"}, Start: start, End: start.Add(3 * step), Step: step}
	got, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Entity != "n/a" || got[1].Entity != "n/b" {
		t.Fatalf("entities %+v", got)
	}
	a, b := got[0], got[1]
	// Several series of one entity: the largest value, the daemon's rule
	// (features.Feature); it was their sum.
	if a.Values[0] != 10 || a.Values[4] != 30 || a.Values[6] != 10 || !math.IsNaN(a.Values[1]) {
		t.Fatalf("n/a values %v (cpu the largest of its containers, mem missing)", a.Values)
	}
	if b.Values[0] != 5 || !math.IsNaN(b.Values[2]) || b.Values[3] != 1 {
		t.Fatalf("n/b values %v", b.Values)
	}
	if want := []bool{false, false, false, true}; !reflect.DeepEqual(b.Labels, want) {
		t.Fatalf("n/b labels %v, want %v", b.Labels, want)
	}
	if a.Step != 15000 || a.Start != 1000000 {
		t.Fatalf("grid %d/%d", a.Start, a.Step)
	}
	bad := *src
	bad.Features = []NamedQuery{{"x", "nope"}}
	if _, err := bad.Load(context.Background()); err == nil {
		t.Fatal("failing query accepted")
	}
	bad = *src
	bad.Step = 0
	if _, err := bad.Load(context.Background()); err == nil {
		t.Fatal("zero step accepted")
	}
}

// startPrometheus runs the Debian Prometheus (apt-get install
// prometheus) on a random loopback port, scraping itself every second
// (testenv.PrometheusScrapingItself), and returns its API once it has
// scraped itself, with its address and the time of that first scrape.
func startPrometheus(t *testing.T) (v1.API, string, time.Time) {
	t.Helper()
	url := testenv.PrometheusScrapingItself(t, "1s")
	addr := strings.TrimPrefix(url, "http://")
	client, err := api.NewClient(api.Config{Address: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	// Wait for the first scrape.
	papi := v1.NewAPI(client)
	for {
		v, _, _, err := papi.Query(context.Background(), "up", time.Now())
		if err == nil {
			if vec, ok := v.(pmodel.Vector); ok && len(vec) > 0 {
				return papi, addr, vec[0].Timestamp.Time()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scrape of itself: %v %v", v, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPrometheusSourceReal reads the Debian Prometheus' own series back.
// Its range query of a scalar answers with a series of no labels
// ({"metric":{}}), as it does for sum(up), a vector: the scalar applies to
// every entity, the vector series lacks the entity labels and is dropped.
func TestPrometheusSourceReal(t *testing.T) {
	papi, addr, first := startPrometheus(t)
	start := first.Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(start.Add(4 * time.Second)))
	var progress bytes.Buffer
	src := &PrometheusSource{API: papi,
		Features: []NamedQuery{{"up", "up"}, {"samples", "scrape_samples_scraped"},
			{"targets", "scalar(count(up))"}, {"up_sum", "sum(up)"}},
		Failures:     []NamedQuery{{"down", "up == 0"}},
		EntityLabels: []string{"job", "instance"}, Start: start, End: start.Add(3 * time.Second), Step: time.Second,
		Progress: &progress}
	got, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Entity != "self/"+addr || got[0].Steps() != 4 {
		t.Fatalf("series %+v", got)
	}
	s := got[0]
	seen := 0
	for i := range s.Steps() {
		if r := s.Row(i); !math.IsNaN(r[0]) {
			seen++
			if r[0] != 1 || !(r[1] > 0) || r[2] != 1 || !math.IsNaN(r[3]) {
				t.Fatalf("row %d = %v, want up=1, samples > 0, targets=1 (the scalar) and up_sum missing", i, r)
			}
		}
		if s.Labels[i] {
			t.Fatalf("step %d labelled failing though up == 1", i)
		}
	}
	if seen == 0 {
		t.Fatal("no samples on the grid")
	}
	if want := "prometheus source: result series without an entity label (job, instance) dropped, as the daemon does: up_sum 1 series\n"; progress.String() != want {
		t.Errorf("progress %q, want %q", progress.String(), want)
	}
}

// TestPrometheusSourceTrimmed: an entity's series runs from its first
// feature sample to its last feature or failure sample, not over the whole
// range asked for (steps before it existed, or before the server had any
// data, were NaN rows that trained the model on nothing).
func TestPrometheusSourceTrimmed(t *testing.T) {
	start := time.Unix(1000, 0)
	step := 15 * time.Second
	nan := math.NaN()
	api := fakeAPI{
		"cpu": {
			stream(pmodel.LabelSet{"pod": "late"}, start, step, nan, nan, nan, 4, nan, 6, nan, nan, nan, nan),
			stream(pmodel.LabelSet{"pod": "full"}, start, step, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
			stream(pmodel.LabelSet{"pod": "dies"}, start, step, nan, 2, 3, nan, nan, nan, nan, nan, nan, nan),
			stream(pmodel.LabelSet{"pod": "nan"}, start, step, nan, nan),
		},
		"crash": {
			stream(pmodel.LabelSet{"pod": "dies"}, start, step, 1, 0, 0, 0, 0, 1, 0),
		},
	}
	src := &PrometheusSource{API: api, Features: []NamedQuery{{"cpu", "cpu"}}, Failures: []NamedQuery{{"crash", "crash"}},
		EntityLabels: []string{"pod"}, Start: start, End: start.Add(9 * step), Step: step}
	got, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d series, want 3 (the entity of NaN samples only dropped): %+v", len(got), got)
	}
	byName := map[string]*Series{}
	for _, s := range got {
		byName[s.Entity] = s
	}
	ms := func(i int) int64 { return start.Add(time.Duration(i) * step).UnixMilli() }
	for _, tc := range []struct {
		entity string
		from   int
		values []float64
		labels []bool
	}{
		{"late", 3, []float64{4, nan, 6}, []bool{false, false, false}},
		{"full", 0, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, make([]bool, 10)},
		// the failure at step 0, before its first sample, is dropped; the
		// one at step 5, after its last sample, ends the series
		{"dies", 1, []float64{2, 3, nan, nan, nan}, []bool{false, false, false, false, true}},
	} {
		s := byName[tc.entity]
		if s == nil {
			t.Fatalf("no series %q", tc.entity)
		}
		if s.Start != ms(tc.from) || s.Steps() != len(tc.values) || s.Step != step.Milliseconds() {
			t.Fatalf("%s: start %d, %d steps; want %d, %d", tc.entity, s.Start, s.Steps(), ms(tc.from), len(tc.values))
		}
		for i, v := range tc.values {
			if g := s.Values[i]; !(g == v || math.IsNaN(g) && math.IsNaN(v)) {
				t.Fatalf("%s: values %v, want %v", tc.entity, s.Values, tc.values)
			}
		}
		if !reflect.DeepEqual(s.Labels, tc.labels) {
			t.Fatalf("%s: labels %v, want %v", tc.entity, s.Labels, tc.labels)
		}
	}
}

// pointLimitServer answers query_range as Prometheus does for the series
// pod="a" whose value at time t is t in seconds from dataFrom on: it
// refuses a query of more than 11,000 points per series.
func pointLimitServer(t *testing.T, dataFrom time.Time) (*httptest.Server, *int) {
	t.Helper()
	queries := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		f := func(k string) float64 {
			v, err := strconv.ParseFloat(r.Form.Get(k), 64)
			if err != nil {
				t.Errorf("%s=%q: %v", k, r.Form.Get(k), err)
			}
			return v
		}
		start, end, step := f("start"), f("end"), f("step")
		queries++
		w.Header().Set("Content-Type", "application/json")
		if (end-start)/step > 11000 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"}`)
			return
		}
		var vals []string
		for ts := start; ts <= end+1e-9; ts += step {
			if ts >= float64(dataFrom.Unix()) {
				vals = append(vals, fmt.Sprintf(`[%s,"%g"]`, strconv.FormatFloat(ts, 'f', -1, 64), ts))
			}
		}
		res := "[]"
		if len(vals) > 0 {
			res = `[{"metric":{"pod":"a"},"values":[` + strings.Join(vals, ",") + `]}]`
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":%s}}`, res)
	}))
	t.Cleanup(srv.Close)
	return srv, &queries
}

// TestPrometheusSourceChunks: a range of more than 11,000 steps (7 days at
// the default 15 s step is 40,321) is read in range queries of at most
// MaxPoints points, merged without a gap or a duplicate at their seams.
func TestPrometheusSourceChunks(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	step := 15 * time.Second
	end := start.Add(7 * 24 * time.Hour)
	dataFrom := start.Add(3000 * step)
	srv, queries := pointLimitServer(t, dataFrom)
	client, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	src := &PrometheusSource{API: v1.NewAPI(client), Features: []NamedQuery{{"t", "t"}}, EntityLabels: []string{"pod"},
		Start: start, End: end, Step: step, Progress: &progress}
	got, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if *queries != 5 {
		t.Errorf("%d range queries, want 5 (40,321 points in parts of 10,000)", *queries)
	}
	if len(got) != 1 {
		t.Fatalf("%d series", len(got))
	}
	s := got[0]
	if s.Start != dataFrom.UnixMilli() || s.Steps() != 40321-3000 {
		t.Fatalf("series from %d, %d steps; want from %d, %d steps", s.Start, s.Steps(), dataFrom.UnixMilli(), 40321-3000)
	}
	for i, v := range s.Values {
		if want := float64(dataFrom.Unix()) + float64(i)*step.Seconds(); v != want {
			t.Fatalf("step %d = %v, want %v", i, v, want)
		}
	}
	if want := "prometheus source: 5 range queries (1 expressions, each in 5 parts of at most 10000 points)"; !strings.Contains(progress.String(), want) {
		t.Errorf("progress %q, want %q", progress.String(), want)
	}
	// A one-part range says nothing.
	progress.Reset()
	src.Start, src.End = dataFrom, dataFrom.Add(100*step)
	if _, err := src.Load(context.Background()); err != nil || progress.Len() != 0 {
		t.Fatalf("short range: %v, progress %q", err, progress.String())
	}
}

// TestPrometheusSourceRealChunks reads a range of 15,001 points at a 10 ms
// step from the Debian Prometheus, which refuses more than 11,000 points
// per query; the series starts at the first scrape, not at the range's
// start 150 s before.
func TestPrometheusSourceRealChunks(t *testing.T) {
	papi, addr, first := startPrometheus(t)
	time.Sleep(time.Until(first.Add(2 * time.Second)))
	end := time.Now()
	step := 10 * time.Millisecond
	start := end.Add(-15000 * step)
	// As one query, Prometheus refuses it.
	if _, _, _, err := papi.QueryRange(context.Background(), "up", v1.Range{Start: start, End: end, Step: step}); err == nil || !strings.Contains(err.Error(), "11,000 points") {
		t.Fatalf("one query of 15,001 points: %v, want Prometheus' limit", err)
	}
	src := &PrometheusSource{API: papi, Features: []NamedQuery{{"up", "up"}}, EntityLabels: []string{"job", "instance"},
		Start: start, End: end, Step: step}
	got, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Entity != "self/"+addr {
		t.Fatalf("series %+v", got)
	}
	s := got[0]
	// first is when the poll saw the first scrape: within a second after it.
	if from := time.UnixMilli(s.Start); from.Before(first.Add(-time.Second)) || from.After(first) {
		t.Errorf("series starts at %v, want at the first scrape, just before %v (the range starts at %v)", from, first, start)
	}
	if want := int(end.Sub(first)/step) - 1; s.Steps() < want {
		t.Errorf("%d steps, want ≥ %d (from the first scrape to the end)", s.Steps(), want)
	}
	for i, v := range s.Values {
		if v != 1 {
			t.Fatalf("step %d = %v, want up = 1 throughout", i, v)
		}
	}
}

// TestPrometheusSourceBeyondFloat32: a value beyond ±MaxValue (±Inf, or
// too large for float32), a sample or the largest of an entity's series, is
// a missing value, counted on Progress by feature; a value within the
// range is kept.
func TestPrometheusSourceBeyondFloat32(t *testing.T) {
	start := time.Unix(1000, 0)
	step := 15 * time.Second
	inf := math.Inf(1)
	api := fakeAPI{
		"cpu": {
			stream(pmodel.LabelSet{"pod": "a"}, start, step, 1, 1e39, 3, inf),
			// b's containers: the largest value counts, so +Inf at step 1
			// and 1e39 at step 3 are missing whatever else, and -Inf
			// loses to 2e38 and 3.
			stream(pmodel.LabelSet{"pod": "b", "c": "x"}, start, step, 2e38, 1, math.Inf(-1), 1e39),
			stream(pmodel.LabelSet{"pod": "b", "c": "y"}, start, step, 1, inf, 3, 1),
			stream(pmodel.LabelSet{"pod": "b", "c": "z"}, start, step, math.Inf(-1), 5, math.NaN(), 1),
		},
		"mem": {stream(pmodel.LabelSet{"pod": "a"}, start, step, 5, math.Inf(-1), 3e38, 5)},
	}
	var progress bytes.Buffer
	src := &PrometheusSource{API: api, Features: []NamedQuery{{"cpu", "cpu"}, {"mem", "mem"}},
		EntityLabels: []string{"pod"}, Start: start, End: start.Add(3 * step), Step: step, Progress: &progress}
	got, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("entities %+v", got)
	}
	nan := math.NaN()
	for k, want := range [][]float64{
		{1, 5, nan, nan, 3, 3e38, nan, 5}, // a: cpu, mem interleaved
		{2e38, nan, nan, nan, 3, nan},     // b: no mem; step 3 missing, after its last value
	} {
		if len(got[k].Values) != len(want) {
			t.Fatalf("%s values %v, want %v", got[k].Entity, got[k].Values, want)
		}
		for i, v := range got[k].Values {
			if !(v == want[i] || math.IsNaN(v) && math.IsNaN(want[i])) {
				t.Fatalf("%s values %v, want %v", got[k].Entity, got[k].Values, want)
			}
		}
	}
	if want := "prometheus source: values beyond ±3.403e+38 (±Inf, or too large for the float32 the model computes in) read as missing: cpu 4, mem 1\n" +
		"prometheus source: several result series for one entity, the largest value kept as the daemon does (aggregate by pod?): cpu 1 entity\n"; progress.String() != want {
		t.Fatalf("progress %q, want %q", progress.String(), want)
	}
}

// TestPrometheusSourceNoSeries: when no feature query returns a sample
// the error names the queries and the range (it was "the source returned
// no series", naming nothing), and a bad range reads in RFC 3339.
func TestPrometheusSourceNoSeries(t *testing.T) {
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	var feats []NamedQuery
	api := fakeAPI{}
	for i := range 7 {
		q := NamedQuery{fmt.Sprintf("f%d", i), fmt.Sprintf("rate(m%d[5m])", i)}
		feats = append(feats, q)
		api[q.Query] = pmodel.Matrix{}
	}
	src := &PrometheusSource{API: api, Features: feats, EntityLabels: []string{"pod"}, Start: start, End: start.Add(time.Hour), Step: time.Minute}
	_, err := src.Load(context.Background())
	want := `prometheus source: no feature query returned a sample between 2026-11-26T10:00:00Z and 2026-11-26T11:00:00Z: f0 ("rate(m0[5m])"), f1 ("rate(m1[5m])"), f2 ("rate(m2[5m])"), f3 ("rate(m3[5m])"), f4 ("rate(m4[5m])"), and 2 more`
	if !errors.Is(err, ErrNoSeries) || err.Error() != want {
		t.Errorf("Load = %v\nwant %s", err, want)
	}
	src.End = start
	if _, err := src.Load(context.Background()); err == nil || err.Error() != "prometheus source: invalid range 2026-11-26T10:00:00Z to 2026-11-26T10:00:00Z at step 1m0s: want a positive step and an end after the start" {
		t.Errorf("empty range: %v", err)
	}
}

// TestPrometheusSourceOnlyNaN: queries that returned samples, all NaN, are
// not "no feature query returned a sample" (the no-series error, which
// omen train follows with advice about the built-in features).
func TestPrometheusSourceOnlyNaN(t *testing.T) {
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	ss := &pmodel.SampleStream{Metric: pmodel.Metric{"pod": "a"}} // stream() leaves NaN out
	for i, v := range []float64{math.NaN(), math.NaN(), math.Inf(1)} {
		ss.Values = append(ss.Values, pmodel.SamplePair{Timestamp: pmodel.TimeFromUnixNano(start.Add(time.Duration(i) * time.Minute).UnixNano()), Value: pmodel.SampleValue(v)})
	}
	api := fakeAPI{"lat": {ss}}
	src := &PrometheusSource{API: api, Features: []NamedQuery{{"lat", "lat"}}, EntityLabels: []string{"pod"}, Start: start, End: start.Add(time.Hour), Step: time.Minute}
	_, err := src.Load(context.Background())
	if err == nil || errors.Is(err, ErrNoSeries) || !strings.Contains(err.Error(), "returned only NaN or values beyond") {
		t.Errorf("Load = %v, want the only-NaN error, not ErrNoSeries", err)
	}
}

// TestPrometheusSourceDaemonRules: the daemon's rules for a feature's
// value (features.Feature) hold for training: a scalar query applies to
// every entity (its one series of no labels was a fake entity "/", and the
// entities had NaN), a scalar failure query fails every entity, and a
// series lacking an entity label is dropped and counted on Progress (it
// was a fake entity "n/" or "/"); a vector series of no labels (sum(x)) is
// such a series, not a scalar. When every series lacks one, the error says
// so.
func TestPrometheusSourceDaemonRules(t *testing.T) {
	start := time.Unix(1000, 0)
	step := 15 * time.Second
	nan := math.NaN()
	api := fakeAPI{
		"cpu": {
			stream(pmodel.LabelSet{"namespace": "n", "pod": "a"}, start, step, 1, 2, 3, 4),
			stream(pmodel.LabelSet{"namespace": "n", "pod": "b"}, start, step, nan, 5, 6, nan),
			stream(pmodel.LabelSet{"namespace": "n"}, start, step, 7, 7, 7, 7),
			stream(pmodel.LabelSet{"namespace": "n", "pod": ""}, start, step, 8, 8, 8, 8),
		},
		"scalar(sum(up))":    {stream(pmodel.LabelSet{}, start, step, 2, 2, nan, 2)},
		"sum(bare)":          {stream(pmodel.LabelSet{}, start, step, 9, 9, 9, 9)},
		"crash":              {stream(pmodel.LabelSet{"namespace": "n"}, start, step, 1, 1, 1, 1)},
		"scalar(max(down))":  {stream(pmodel.LabelSet{}, start, step, 0, 0, 1, 0)},
		"sum by (pod) (bad)": {stream(pmodel.LabelSet{}, start, step, 1), stream(pmodel.LabelSet{"pod": "x"}, start, step, 1)},
	}
	var progress bytes.Buffer
	src := &PrometheusSource{API: api,
		Features:     []NamedQuery{{"cpu", "cpu"}, {"total", "scalar(sum(up))"}, {"bare", "sum(bare)"}},
		Failures:     []NamedQuery{{"crash", "crash"}, {"global", "scalar(max(down))"}},
		EntityLabels: []string{"namespace", "pod"}, Start: start, End: start.Add(3 * step), Step: step, Progress: &progress}
	got, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range []struct {
		entity string
		from   int
		values []float64
		labels []bool
	}{
		{"n/a", 0, []float64{1, 2, nan, 2, 2, nan, 3, nan, nan, 4, 2, nan}, []bool{false, false, true, false}},
		{"n/b", 1, []float64{5, 2, nan, 6, nan, nan}, []bool{false, true}},
	} {
		if k >= len(got) {
			t.Fatalf("%d series, want n/a and n/b: %+v", len(got), got)
		}
		s := got[k]
		if s.Entity != want.entity || s.Start != start.Add(time.Duration(want.from)*step).UnixMilli() ||
			!slices.EqualFunc(s.Values, want.values, func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }) ||
			!slices.Equal(s.Labels, want.labels) {
			t.Errorf("series %s from %d: %v %v; want %s from %d: %v %v", s.Entity, s.Start, s.Values, s.Labels,
				want.entity, start.Add(time.Duration(want.from)*step).UnixMilli(), want.values, want.labels)
		}
	}
	if len(got) != 2 {
		t.Errorf("%d series, want 2 (no fake entity of missing labels)", len(got))
	}
	if want := "prometheus source: result series without an entity label (namespace, pod) dropped, as the daemon does: cpu 2 series, bare 1 series, crash 1 series\n"; progress.String() != want {
		t.Errorf("progress %q\nwant %q", progress.String(), want)
	}

	only := &PrometheusSource{API: api, Features: []NamedQuery{{"bad", "sum by (pod) (bad)"}},
		EntityLabels: []string{"pod", "namespace"}, Start: start, End: start.Add(3 * step), Step: step}
	want := "prometheus source: every result series of the feature queries between 1970-01-01T00:16:40Z and 1970-01-01T00:17:25Z lacked an entity label (pod, namespace), bad 2 series; aggregate with by (pod, namespace)"
	if _, err := only.Load(context.Background()); err == nil || err.Error() != want {
		t.Errorf("all series without an entity label: %v\nwant %s", err, want)
	}
}
