package app

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/stream"
	"github.com/omen-sre/omen/telemetry"
)

// TestRemoteWriteNaNAndStaleFeatures sends what Prometheus sends (a summary
// quantile without observations is NaN; a series that disappears ends with
// a stale marker) through the receiver into a features Head and evaluates
// features over it: the NaN is no ingest error and reads as a NaN (missing)
// feature value, and the stale marker ends its series, while a series that
// just stops is carried forward for the 5m lookback.
func TestRemoteWriteNaNAndStaleFeatures(t *testing.T) {
	const (
		base = int64(1_800_000_000_000)
		sec  = int64(1000)
	)
	head, err := features.NewHead(features.HeadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = head.Close() })
	appended := 0
	app := stream.AppenderFunc(func(_ context.Context, batches []telemetry.Batch) error {
		for _, b := range batches {
			n, err := head.Append(b.Samples)
			if err != nil {
				return err
			}
			appended += n
		}
		return nil
	})
	reg := prometheus.NewRegistry()
	// No sample time window: the samples are of a fixed time.
	h, err := stream.NewRemoteWriteReceiver(app, stream.RemoteWriteOptions{MaxSampleAge: -1, MaxSampleFuture: -1}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}

	ts := func(name string, vs func(k int) float64, kv ...string) prompb.TimeSeries {
		var s prompb.TimeSeries
		kv = append([]string{"__name__", name, "namespace", "ns"}, kv...)
		for i := 0; i < len(kv); i += 2 {
			s.Labels = append(s.Labels, prompb.Label{Name: kv[i], Value: kv[i+1]})
		}
		for k := range 5 { // base … base+60s
			s.Samples = append(s.Samples, prompb.Sample{Value: vs(k), Timestamp: base + int64(k)*15*sec})
		}
		return s
	}
	nan := func(int) float64 { return math.NaN() }
	five := func(int) float64 { return 5 }
	ended := ts("g", five, "pod", "ended")
	ended.Samples = append(ended.Samples, prompb.Sample{Value: math.Float64frombits(value.StaleNaN), Timestamp: base + 75*sec})
	wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		ts("q", nan, "pod", "a", "quantile", "0.5"),
		ts("q_count", func(int) float64 { return 0 }, "pod", "a"),
		ended,
		ts("g", five, "pod", "stopped"),
	}}
	raw, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, stream.RemoteWritePath, bytes.NewReader(snappy.Encode(nil, raw)))
	req.Header.Set("Content-Type", "application/x-protobuf")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	errs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range errs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "omen_ingest_errors_total" && m.GetCounter().GetValue() != 0 {
				t.Fatalf("ingest errors counted: %v", m)
			}
		}
	}
	if appended != 21 {
		t.Fatalf("head appended %d samples, want 21", appended)
	}

	e, err := features.NewExtractor(features.ExtractorOptions{Head: head, Config: features.Config{Features: []features.Feature{
		{Name: "median", Expr: `q{quantile="0.5"}`},
		{Name: "count", Expr: `q_count`},
		// A NaN sample is an element of the vector, as in Prometheus.
		{Name: "quantiles", Expr: `count by (${entity}) (q)`},
		{Name: "g", Expr: `g`},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	eval := func(at int64) map[string][]float64 {
		t.Helper()
		vs, err := e.Evaluate(context.Background(), time.UnixMilli(at))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]float64{}
		for _, v := range vs {
			out[v.Entity] = v.Values
		}
		return out
	}
	for _, tc := range []struct {
		at      int64
		a       [3]float64 // median, count and quantiles of ns/a
		ended   float64    // g of ns/ended, NaN when absent
		stopped float64
	}{
		{at: base + 60*sec, a: [3]float64{math.NaN(), 0, 1}, ended: 5, stopped: 5},
		{at: base + 70*sec, a: [3]float64{math.NaN(), 0, 1}, ended: 5, stopped: 5},
		// The stale marker at +75s ends the series; the stopped one is
		// carried forward.
		{at: base + 75*sec, a: [3]float64{math.NaN(), 0, 1}, ended: math.NaN(), stopped: 5},
		{at: base + 180*sec, a: [3]float64{math.NaN(), 0, 1}, ended: math.NaN(), stopped: 5},
	} {
		got := eval(tc.at)
		a, ok := got["ns/a"]
		if !ok || !math.IsNaN(a[0]) || a[1] != tc.a[1] || a[2] != tc.a[2] {
			t.Fatalf("t=+%ds: ns/a = %v (present %v), want %v", (tc.at-base)/sec, a, ok, tc.a)
		}
		for _, w := range []struct {
			entity string
			want   float64
		}{{"ns/ended", tc.ended}, {"ns/stopped", tc.stopped}} {
			g := math.NaN()
			if v, ok := got[w.entity]; ok {
				g = v[3]
			}
			if math.Float64bits(g) != math.Float64bits(w.want) && !(math.IsNaN(g) && math.IsNaN(w.want)) {
				t.Fatalf("t=+%ds: %s g = %v, want %v", (tc.at-base)/sec, w.entity, g, w.want)
			}
		}
	}
}
