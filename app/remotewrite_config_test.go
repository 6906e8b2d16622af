package app

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/omen-sre/omen/stream"
)

// rwRequest builds a remote-write request of series series with samples
// samples each (one extra label of labelLen bytes each), timestamped now.
func rwRequest(t *testing.T, series, samples, labelLen int) []byte {
	t.Helper()
	now := time.Now().UnixMilli()
	var wr prompb.WriteRequest
	for s := range series {
		ts := prompb.TimeSeries{Labels: []prompb.Label{
			{Name: "__name__", Value: "container_memory_working_set_bytes"},
			{Name: "container", Value: "app"},
			{Name: "namespace", Value: "shop"},
			{Name: "pod", Value: fmt.Sprintf("cart-%d", s)},
			{Name: "zone", Value: strings.Repeat("z", labelLen)},
		}}
		for i := range samples {
			ts.Samples = append(ts.Samples, prompb.Sample{Value: float64(i), Timestamp: now - int64(samples-i)})
		}
		wr.Timeseries = append(wr.Timeseries, ts)
	}
	raw, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, raw)
}

func postRemoteWrite(t *testing.T, a *App, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+"/api/v1/write", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRemoteWriteConfiguredLimits: the remote_write section's limits reach
// the receiver: each request just over a configured (small) limit is
// refused with the receiver's status, one within them all is stored.
func TestRemoteWriteConfiguredLimits(t *testing.T) {
	const limits = `
remote_write:
  max_samples_per_request: 6
  max_series_per_request: 3
  max_labels: 5
  max_label_value_length: 100
  max_decoded_bytes: 2048
`
	a := startApp(t, t.TempDir(), func(o *Options) { o.Config = loadConfig(t, testConfigYAML+limits) })
	tests := []struct {
		name                      string
		series, samples, labelLen int
		status                    int
		body                      string // substring of the answer
	}{
		{name: "within the limits", series: 3, samples: 2, labelLen: 10, status: http.StatusNoContent},
		{name: "over max_samples_per_request", series: 1, samples: 7, labelLen: 10, status: http.StatusRequestEntityTooLarge, body: "samples"},
		{name: "over max_series_per_request", series: 4, samples: 1, labelLen: 10, status: http.StatusRequestEntityTooLarge, body: "series"},
		{name: "over max_label_value_length", series: 1, samples: 1, labelLen: 101, status: http.StatusBadRequest, body: "100 bytes"},
		{name: "over max_decoded_bytes", series: 3, samples: 1, labelLen: 100 * 7, status: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := postRemoteWrite(t, a, rwRequest(t, tt.series, tt.samples, tt.labelLen))
			if status != tt.status || !strings.Contains(body, tt.body) {
				t.Fatalf("status %d %q, want %d containing %q", status, body, tt.status, tt.body)
			}
		})
	}
	// max_labels: 5 counts __name__; the five labels of rwRequest fit, a
	// sixth does not.
	t.Run("over max_labels", func(t *testing.T) {
		var wr prompb.WriteRequest
		wr.Timeseries = []prompb.TimeSeries{{Labels: []prompb.Label{
			{Name: "__name__", Value: "m"}, {Name: "a", Value: "1"}, {Name: "b", Value: "1"},
			{Name: "c", Value: "1"}, {Name: "namespace", Value: "shop"}, {Name: "pod", Value: "x"},
		}, Samples: []prompb.Sample{{Value: 1, Timestamp: time.Now().UnixMilli()}}}}
		raw, err := wr.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if status, body := postRemoteWrite(t, a, snappy.Encode(nil, raw)); status != http.StatusBadRequest || !strings.Contains(body, "5 labels") {
			t.Fatalf("status %d %q, want 400 naming the 5-label limit", status, body)
		}
	})
}

// TestRemoteWriteOptionsFromConfig: every remote_write key, and the
// ingest time window, reach their stream.RemoteWriteOptions field.
func TestRemoteWriteOptionsFromConfig(t *testing.T) {
	cfg := loadConfig(t, `
ingest:
  max_sample_age: 3h
  max_sample_future: 7m
remote_write:
  max_decoded_bytes: 4096
  max_samples_per_request: 11
  max_series_per_request: 12
  max_in_flight: 13
  in_flight_wait: 14s
  max_labels: 15
  max_label_value_length: 16
  label_cache_size: 17
  label_cache_bytes: 18
  append_timeout: 19s
`)
	got := remoteWriteOptions(cfg)
	want := stream.RemoteWriteOptions{
		// The ingester tells remote-write batches by it (ingester.marked).
		Source: remoteWriteSource,
		RemoteWriteLimits: stream.RemoteWriteLimits{
			MaxDecodedBytes: 4096, MaxSamplesPerRequest: 11, MaxSeriesPerRequest: 12,
			MaxInFlight: 13, InFlightWait: 14 * time.Second, MaxLabels: 15, MaxLabelValueLen: 16,
			LabelCacheSize: 17, LabelCacheBytes: 18, AppendTimeout: 19 * time.Second,
		},
		MaxSampleAge: 3 * time.Hour, MaxSampleFuture: 7 * time.Minute,
		LabelCacheIdle: 15 * time.Minute, // the default lookback
	}
	if got.Now != nil {
		t.Errorf("Now set: %p", got.Now)
	}
	got.Now = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("options\n%+v\nwant\n%+v", got, want)
	}
}
