package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"go.uber.org/goleak"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/stream/decode"
)

// pushToPrometheus remote-writes wr to a real Prometheus.
func pushToPrometheus(t testing.TB, promURL string, wr *prompb.WriteRequest) {
	t.Helper()
	raw, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, promURL+"/api/v1/write", strings.NewReader(string(snappy.Encode(nil, raw))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("remote write to prometheus: %s: %s", resp.Status, body)
	}
}

func TestPollerAgainstPrometheus(t *testing.T) {
	verifyNoLeaks(t)
	promURL := testenv.Prometheus(t, "")
	const step = 15 * time.Second
	t0 := time.Now().Add(-15 * time.Minute).Truncate(step)
	const n = 40
	ts := prompb.TimeSeries{Labels: []prompb.Label{
		{Name: "__name__", Value: "omen_test_restarts_total"},
		{Name: "instance", Value: "node-1:9100"},
		{Name: "namespace", Value: "shop"},
		{Name: "pod", Value: "cart-1"},
	}}
	for i := range n {
		ts.Samples = append(ts.Samples, prompb.Sample{Value: float64(i), Timestamp: t0.Add(time.Duration(i) * step).UnixMilli()})
	}
	// A failure that ends at step 20: `omen_test_waiting > 0` is empty
	// from there on, and the backfill ends its series at step 20 with a
	// stale marker.
	waiting := prompb.TimeSeries{Labels: []prompb.Label{
		{Name: "__name__", Value: "omen_test_waiting"},
		{Name: "namespace", Value: "shop"},
		{Name: "pod", Value: "cart-1"},
	}}
	for i := range n {
		v := 1.0
		if i >= 20 {
			v = 0
		}
		waiting.Samples = append(waiting.Samples, prompb.Sample{Value: v, Timestamp: t0.Add(time.Duration(i) * step).UnixMilli()})
	}
	pushToPrometheus(t, promURL, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ts, waiting}})

	app := &MemAppender{}
	reg := prometheus.NewRegistry()
	p, err := NewPoller(app, PollerOptions{
		URL: promURL,
		Queries: map[string]string{
			"restarts":      `omen_test_restarts_total`,
			"restarts_rate": `rate(omen_test_restarts_total[1m])`,
			"waiting":       `omen_test_waiting > 0`,
		},
		Step:              step,
		EntityLabels:      []string{"namespace", "pod", "container"},
		MaxPointsPerQuery: 7, // force several range queries per backfill
	}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	end := t0.Add((n - 1) * step)
	if err := p.Backfill(ctx, t0, end); err != nil {
		t.Fatal(err)
	}
	want := labels.FromStrings("__name__", "restarts", "namespace", "shop", "pod", "cart-1")
	var restarts, rates int
	var waitingAt, waitingStale []int64 // steps from t0
	for _, s := range app.Samples() {
		switch s.Labels.Get("__name__") {
		case "waiting":
			i := (s.T - t0.UnixMilli()) / step.Milliseconds()
			if value.IsStaleNaN(s.V) {
				waitingStale = append(waitingStale, i)
			} else {
				waitingAt = append(waitingAt, i)
			}
		case "restarts":
			if !labels.Equal(s.Labels, want) {
				t.Fatalf("labels %s, want %s", s.Labels, want)
			}
			i := (s.T - t0.UnixMilli()) / step.Milliseconds()
			if s.T != t0.Add(time.Duration(i)*step).UnixMilli() || s.V != float64(i) {
				t.Fatalf("sample at %d = %v, want %v", s.T, s.V, i)
			}
			restarts++
		case "restarts_rate":
			// Once the 1m window is full of samples the rate is exact.
			if s.T >= t0.Add(4*step).UnixMilli() && math.Abs(s.V-1.0/15) > 1e-9 {
				t.Fatalf("rate %v at %d, want 1/15", s.V, s.T)
			}
			rates++
		}
	}
	if restarts != n {
		t.Fatalf("backfilled %d restarts samples, want %d", restarts, n)
	}
	if rates < n-5 {
		t.Fatalf("backfilled %d rate samples, want about %d", rates, n-4)
	}
	if len(waitingAt) != 20 || waitingAt[19] != 19 {
		t.Fatalf("backfilled waiting at steps %v, want 0..19", waitingAt)
	}
	if !slices.Equal(waitingStale, []int64{20}) {
		t.Fatalf("waiting's stale markers at steps %v, want [20]: the step its result is empty from", waitingStale)
	}
	if got := len(app.Batches()); got < 2*6 {
		t.Fatalf("backfill made %d appends, want one per query and chunk (≥ 12)", got)
	}

	// Instant evaluation at a known time.
	before := len(app.Samples())
	at := t0.Add(20 * step)
	if err := p.Eval(ctx, at); err != nil {
		t.Fatal(err)
	}
	got := app.Samples()[before:]
	if len(got) != 2 {
		t.Fatalf("instant eval gave %d samples, want 2: %v", len(got), got)
	}
	for _, s := range got {
		if s.T != at.UnixMilli() {
			t.Fatalf("instant sample time %d, want %d", s.T, at.UnixMilli())
		}
		if s.Labels.Get("__name__") == "restarts" && s.V != 20 {
			t.Fatalf("restarts at t0+20 steps = %v, want 20", s.V)
		}
	}

	// The run loop evaluates at each step (a short one here).
	p2, err := NewPoller(app, PollerOptions{URL: promURL, Queries: map[string]string{"up1": "vector(1)"}, Step: 100 * time.Millisecond}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p2.Run(rctx) }()
	waitFor(t, "three run-loop evaluations", func() bool {
		c := 0
		for _, s := range app.Samples() {
			if s.Labels.Get("__name__") == "up1" && s.V == 1 && s.T%100 == 0 {
				c++
			}
		}
		return c >= 3
	})
	rcancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, n := counterValue(t, reg, "omen_ingested_samples_total", "source", p.Source()), len(app.Samples()); v != float64(n) {
		t.Fatalf("ingested counter %v, want %d", v, n)
	}

	// A failure that ends while the run loop polls: its series ends at
	// the first poll whose result lacks it, with a stale marker (the
	// poller's previous result had it), not 5 minutes later.
	live := &MemAppender{}
	p3, err := NewPoller(live, PollerOptions{URL: promURL, Queries: map[string]string{"waiting": `omen_test_live_waiting > 0`},
		Step: 200 * time.Millisecond, EntityLabels: []string{"namespace", "pod"}}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pushLive := func(v float64) int64 {
		now := time.Now().UnixMilli()
		pushToPrometheus(t, promURL, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
			Labels:  []prompb.Label{{Name: "__name__", Value: "omen_test_live_waiting"}, {Name: "namespace", Value: "shop"}, {Name: "pod", Value: "cart-1"}},
			Samples: []prompb.Sample{{Value: v, Timestamp: now}},
		}}})
		return now
	}
	liveOf := func() (values, marks []int64) {
		for _, s := range live.Samples() {
			if value.IsStaleNaN(s.V) {
				marks = append(marks, s.T)
			} else {
				values = append(values, s.T)
			}
		}
		return values, marks
	}
	pushLive(1)
	rctx, rcancel = context.WithCancel(ctx)
	go func() { done <- p3.Run(rctx) }()
	waitFor(t, "a live poll of the failure", func() bool { v, _ := liveOf(); return len(v) > 0 })
	ended := pushLive(0)
	waitFor(t, "the failure's stale marker", func() bool { _, m := liveOf(); return len(m) > 0 })
	rcancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	values, marks := liveOf()
	if len(marks) != 1 || marks[0] < ended || values[len(values)-1] >= marks[0] {
		t.Fatalf("live polls: values at %v, stale markers at %v; want one marker, at or after the failure's end %d, after the last value", values, marks, ended)
	}

	// A bad query fails without retries.
	bad, err := NewPoller(app, PollerOptions{URL: promURL, Queries: map[string]string{"bad": "rate(x[1m]"}}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Eval(ctx, at); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Fatalf("bad query error = %v", err)
	}
}

// fakePrometheus answers /api/v1/query with the responses in order.
func fakePrometheus(t *testing.T, responses ...func(w http.ResponseWriter)) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(calls.Add(1)) - 1
		if i >= len(responses) {
			i = len(responses) - 1
		}
		responses[i](w)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func jsonResponse(code int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

func TestPollerErrors(t *testing.T) {
	defer goleak.VerifyNone(t)
	ok := jsonResponse(200, `{"status":"success","warnings":["partial data"],"data":{"resultType":"vector","result":[
		{"metric":{"__name__":"x","pod":"a"},"value":[1700000000,"1.5"]},
		{"metric":{"pod":"b"},"value":[1700000000,"NaN"]},
		{"metric":{"pod":"c"},"value":[1700000000,"+Inf"]}]}}`)
	unavailable := jsonResponse(503, `{"status":"error","errorType":"unavailable","error":"overloaded"}`)
	badData := jsonResponse(400, `{"status":"error","errorType":"bad_data","error":"parse error"}`)
	// A proxy's rate limit in front of Prometheus: no JSON body.
	tooMany := func(w http.ResponseWriter) { http.Error(w, "slow down", http.StatusTooManyRequests) }
	forbidden := func(w http.ResponseWriter) { http.Error(w, "no", http.StatusForbidden) }
	scalar := jsonResponse(200, `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}`)
	hang := func(w http.ResponseWriter) { time.Sleep(300 * time.Millisecond); ok(w) }
	// NaN and ±Inf are PromQL results (histogram_quantile over no
	// requests), not ingest errors.
	all := []float64{1.5, math.NaN(), math.Inf(1)}
	for _, tc := range []struct {
		name      string
		responses []func(http.ResponseWriter)
		appErr    error
		wantErr   bool
		wantCalls int32
		want      []float64
	}{
		{name: "ok with warnings, NaN and Inf kept", responses: []func(http.ResponseWriter){ok}, wantCalls: 1, want: all},
		{name: "retry after 503", responses: []func(http.ResponseWriter){unavailable, unavailable, ok}, wantCalls: 3, want: all},
		{name: "gives up after retries", responses: []func(http.ResponseWriter){unavailable}, wantErr: true, wantCalls: 3},
		{name: "bad data not retried", responses: []func(http.ResponseWriter){badData}, wantErr: true, wantCalls: 1},
		{name: "retry after 429", responses: []func(http.ResponseWriter){tooMany, ok}, wantCalls: 2, want: all},
		// 2 calls: the client's POST, then its GET fallback on a 403; no retry.
		{name: "403 not retried", responses: []func(http.ResponseWriter){forbidden}, wantErr: true, wantCalls: 2},
		{name: "timeout retried", responses: []func(http.ResponseWriter){hang, ok}, wantCalls: 2, want: all},
		{name: "scalar", responses: []func(http.ResponseWriter){scalar}, wantCalls: 1, want: []float64{3}},
		{name: "append retried", responses: []func(http.ResponseWriter){ok}, appErr: errors.New("busy"), wantCalls: 1, want: all},
		{name: "append invalid not retried", responses: []func(http.ResponseWriter){ok}, appErr: fmt.Errorf("x: %w", ErrInvalid), wantErr: true, wantCalls: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := fakePrometheus(t, tc.responses...)
			app := &MemAppender{}
			if tc.appErr != nil {
				app.FailNext(1, tc.appErr)
			}
			reg := prometheus.NewRegistry()
			p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"q": "x"}, MaxRetries: 2, RetryBackoff: time.Millisecond, Timeout: 100 * time.Millisecond}, reg, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Eval(context.Background(), time.Unix(1700000000, 0))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if c := calls.Load(); c != tc.wantCalls {
				t.Fatalf("%d queries, want %d", c, tc.wantCalls)
			}
			var got []float64
			for _, s := range app.Samples() {
				if s.Labels.Get("__name__") != "q" || s.T != 1700000000000 {
					t.Fatalf("sample %+v", s)
				}
				got = append(got, s.V)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("values %v, want %v", got, tc.want)
			}
			if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", decode.ReasonInvalidValue); v != 0 {
				t.Fatalf("invalid_value errors %v, want 0", v)
			}
		})
	}
}

func TestPollerOptionsValidation(t *testing.T) {
	q := map[string]string{"a": "up"}
	for _, o := range []PollerOptions{
		{Queries: q},
		{URL: "ftp://x", Queries: q},
		{URL: "http://127.0.0.1:9090"},
		{URL: "http://127.0.0.1:9090", Queries: map[string]string{"a": " "}},
		{URL: "http://127.0.0.1:9090", Queries: q, MaxPointsPerQuery: 20000},
		{URL: "http://127.0.0.1:9090", Queries: q, Step: time.Microsecond},
	} {
		if _, err := NewPoller(&MemAppender{}, o, nil, nil); err == nil {
			t.Fatalf("options %+v accepted", o)
		}
	}
}
