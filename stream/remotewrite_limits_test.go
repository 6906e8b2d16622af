package stream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"

	"github.com/omen-sre/omen/stream/decode"
	"github.com/omen-sre/omen/telemetry"
)

// A series beyond the decoders' label limits is refused with 400 naming
// the limit (too_many_labels), the request's good series are stored.
func TestRemoteWriteLabelLimits(t *testing.T) {
	many := []string{"__name__", "m"}
	for i := range decode.DefaultMaxLabels {
		many = append(many, fmt.Sprintf("l%03d", i), "v")
	}
	for _, tc := range []struct {
		name string
		bad  prompb.TimeSeries
		msg  string
	}{
		{"long value", series(1, 1, "__name__", "m", "pod", strings.Repeat("p", 70000)), "limit of 2048 bytes"},
		{"long name", series(1, 1, "__name__", "m", strings.Repeat("n", 2049), "x"), "limit of 2048 bytes"},
		{"too many", series(1, 1, many...), "limit of 64 labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := &MemAppender{}
			h, reg := newTestReceiver(t, app, RemoteWriteOptions{})
			body := encodeWriteRequest(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
				series(1, 1, "__name__", "up", "job", "a"), tc.bad,
			}})
			for pass := range 2 { // the second pass hits the label cache
				rec := post(h, body, nil)
				if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tc.msg) {
					t.Fatalf("pass %d: status %d body %q, want 400 naming %q", pass, rec.Code, rec.Body.String(), tc.msg)
				}
			}
			if s, _, _ := app.Counts(); s != 2 {
				t.Fatalf("stored %d samples, want the good series' 2", s)
			}
			if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", decode.ReasonTooManyLabels); v != 2 {
				t.Fatalf("too_many_labels = %v, want 2", v)
			}
		})
	}
	// At the limits a series is accepted; empty values do not count.
	app := &MemAppender{}
	h, _ := newTestReceiver(t, app, RemoteWriteOptions{})
	ok := []string{"__name__", "m", "a", "", "pod", strings.Repeat("p", 2048)}
	for i := range decode.DefaultMaxLabels - 2 {
		ok = append(ok, fmt.Sprintf("z%03d", i), "v")
	}
	if rec := post(h, encodeWriteRequest(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{series(1, 1, ok...)}}), nil); rec.Code != 204 {
		t.Fatalf("series at the limits: status %d %q", rec.Code, rec.Body.String())
	}
}

// Samples outside the MaxSampleAge / MaxSampleFuture window are dropped and
// counted; the others are stored.
func TestRemoteWriteTimeWindow(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	app := &MemAppender{}
	reg := prometheus.NewRegistry()
	h, err := NewRemoteWriteReceiver(app, RemoteWriteOptions{Now: func() time.Time { return now }}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := series(0, 0, "__name__", "m")
	ts.Samples = []prompb.Sample{
		{Value: 1, Timestamp: now.Add(-3 * time.Hour).UnixMilli()},
		{Value: 2, Timestamp: now.Add(-time.Hour).UnixMilli()},
		{Value: 3, Timestamp: now.Add(5 * time.Minute).UnixMilli()},
		{Value: 4, Timestamp: now.Add(50 * 365 * 24 * time.Hour).UnixMilli()},
	}
	if rec := post(h, encodeWriteRequest(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ts}}), nil); rec.Code != 204 {
		t.Fatalf("status %d %q", rec.Code, rec.Body.String())
	}
	got := app.Samples()
	if len(got) != 2 || got[0].V != 2 || got[1].V != 3 {
		t.Fatalf("stored %v, want the samples of values 2 and 3", got)
	}
	for reason, want := range map[string]float64{decode.ReasonTooOld: 1, decode.ReasonTooNew: 1} {
		if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", reason); v != want {
			t.Fatalf("%s = %v, want %v", reason, v, want)
		}
	}
}

// rawSeries encodes a TimeSeries of one __name__ label and n empty samples
// (2 bytes each on the wire).
func rawEmptySamples(n int) []byte {
	field := func(num int, b []byte) []byte {
		out := []byte{byte(num<<3 | 2)}
		l := len(b)
		for l >= 0x80 {
			out = append(out, byte(l)|0x80)
			l >>= 7
		}
		return append(append(out, byte(l)), b...)
	}
	ts := field(1, append(field(1, []byte("__name__")), field(2, []byte("x"))...))
	for range n {
		ts = append(ts, 0x12, 0x00)
	}
	return field(1, ts)
}

// A request of more samples or series than the limits is refused with 413
// before they are decoded, and nothing of it is stored.
func TestRemoteWriteRequestLimits(t *testing.T) {
	app := &MemAppender{}
	h, reg := newTestReceiver(t, app, RemoteWriteOptions{})
	if rec := post(h, snappy.Encode(nil, rawEmptySamples(DefaultRWMaxSamplesPerRequest)), nil); rec.Code != 204 {
		t.Fatalf("%d samples: status %d %q", DefaultRWMaxSamplesPerRequest, rec.Code, rec.Body.String())
	}
	// The reviewer's request: 1.4 MB compressed, 15.7M empty samples.
	body := snappy.Encode(nil, rawEmptySamples(15<<20))
	rec := post(h, body, nil)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "100000 samples") {
		t.Fatalf("15M samples: status %d %q, want 413 naming the limit", rec.Code, rec.Body.String())
	}
	if s, _, _ := app.Counts(); s != DefaultRWMaxSamplesPerRequest {
		t.Fatalf("stored %d samples, want %d (none of the refused request)", s, DefaultRWMaxSamplesPerRequest)
	}
	if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", ReasonTooLarge); v != 1 {
		t.Fatalf("too_large = %v, want 1", v)
	}

	h, _ = newTestReceiver(t, app, RemoteWriteOptions{RemoteWriteLimits: RemoteWriteLimits{MaxSeriesPerRequest: 2}})
	var wr prompb.WriteRequest
	for i := range 3 {
		wr.Timeseries = append(wr.Timeseries, series(1, 1, "__name__", "m", "i", fmt.Sprint(i)))
	}
	if rec := post(h, encodeWriteRequest(t, &wr), nil); rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "2 series") {
		t.Fatalf("3 series: status %d %q, want 413", rec.Code, rec.Body.String())
	}
}

// Beyond MaxInFlight requests, one waits InFlightWait then gets 503 (which
// Prometheus retries by default; a 429 it would drop) with
// Retry-After.
func TestRemoteWriteInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	app := AppenderFunc(func(ctx context.Context, _ []telemetry.Batch) error {
		entered <- struct{}{}
		<-release
		return nil
	})
	h, reg := newTestReceiver(t, app, RemoteWriteOptions{RemoteWriteLimits: RemoteWriteLimits{MaxInFlight: 1, InFlightWait: 20 * time.Millisecond}})
	body := encodeWriteRequest(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{series(1, 1, "__name__", "up")}})
	var wg sync.WaitGroup
	wg.Go(func() {
		if rec := post(h, body, nil); rec.Code != 204 {
			t.Errorf("first request: status %d", rec.Code)
		}
	})
	<-entered
	rec := post(h, body, nil)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("second request: status %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	close(release)
	wg.Wait()
	go func() { <-entered }()
	if rec := post(h, body, nil); rec.Code != 204 {
		t.Fatalf("after the slot freed: status %d", rec.Code)
	}
	if v := counterValue(t, reg, "omen_remote_write_requests_total", "code", "503"); v != 1 {
		t.Fatalf("503 requests = %v, want 1", v)
	}
}

// A declared Content-Length does not allocate the whole body before it
// arrives.
func TestReadBodyGrowsWithData(t *testing.T) {
	buf, err := readBody(io.LimitReader(bytes.NewReader(make([]byte, 100)), 10), nil, 32<<20, 32<<20)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("short body: err %v, want unexpected EOF", err)
	}
	if cap(buf) > maxInitialBody {
		t.Fatalf("10 bytes of a declared 32 MiB body hold a %d-byte buffer, want at most %d", cap(buf), maxInitialBody)
	}
	data := bytes.Repeat([]byte("abc"), 1<<20)
	buf, err = readBody(bytes.NewReader(data), nil, int64(len(data)), 32<<20)
	if err != nil || !bytes.Equal(buf, data) {
		t.Fatalf("full body: err %v, %d bytes", err, len(buf))
	}
	if _, err := readBody(bytes.NewReader(data), nil, int64(len(data)), 1<<20); err != errTooLarge {
		t.Fatalf("over the limit: err %v", err)
	}
}

// The label cache is bounded in bytes: large label sets do not pile up.
func TestRemoteWriteLabelCacheBytes(t *testing.T) {
	const limit = 1 << 20
	h, _ := newTestReceiver(t, &MemAppender{CountOnly: true}, RemoteWriteOptions{RemoteWriteLimits: RemoteWriteLimits{LabelCacheBytes: limit, MaxLabelValueLen: 1 << 20}})
	for r := range 20 { // 2,000 sets of ≈ 2 KB each
		var wr prompb.WriteRequest
		for i := range 100 {
			v := strings.Repeat(string(rune('a'+i%26)), 1000) + fmt.Sprint(r*100+i)
			wr.Timeseries = append(wr.Timeseries, series(1, 1, "__name__", "m", "big", v))
		}
		if rec := post(h, encodeWriteRequest(t, &wr), nil); rec.Code != 204 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if b := h.limits.Load().cache.bytes(); b > limit || b == 0 {
		t.Fatalf("cache holds %d bytes, bound %d", b, limit)
	}
	// Rejected huge sets (the reviewer's 8 MiB values) are not kept.
	h, _ = newTestReceiver(t, &MemAppender{CountOnly: true}, RemoteWriteOptions{})
	for i := range 4 {
		v := strings.Repeat(string(rune('a'+i)), 8<<20)
		if rec := post(h, encodeWriteRequest(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{series(1, 1, "__name__", "m", "big", v)}}), nil); rec.Code != 400 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if n, b := h.limits.Load().cache.len(), h.limits.Load().cache.bytes(); n != 0 || b != 0 {
		t.Fatalf("cache holds %d sets, %d bytes of rejected 8 MiB sets", n, b)
	}
}
