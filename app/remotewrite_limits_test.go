package app

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/omen-sre/omen/telemetry"
)

// TestRemoteWriteIngestLimits: remote-write gets the ingest time window
// (a sample 50 years ahead no longer moves the head's clock) and the
// decoders' label limits (a 70,000-byte pod label is refused with 400, the
// request's good series stored); the head drops far-future samples itself
// too; the HTTP server bounds reading a request.
func TestRemoteWriteIngestLimits(t *testing.T) {
	a := startApp(t, t.TempDir(), nil)
	now := time.Now()
	future := now.Add(50 * 365 * 24 * time.Hour).UnixMilli()
	lbl := func(kv ...string) []prompb.Label {
		var ls []prompb.Label
		for i := 0; i < len(kv); i += 2 {
			ls = append(ls, prompb.Label{Name: kv[i], Value: kv[i+1]})
		}
		return ls
	}
	wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{
			Labels:  lbl("__name__", "container_memory_working_set_bytes", "container", "app", "namespace", "shop", "pod", "cart-0"),
			Samples: []prompb.Sample{{Value: 100, Timestamp: now.UnixMilli()}, {Value: 1, Timestamp: future}},
		},
		{
			Labels:  lbl("__name__", "container_memory_working_set_bytes", "container", "app", "namespace", "shop", "pod", strings.Repeat("p", 70000)),
			Samples: []prompb.Sample{{Value: 100, Timestamp: now.UnixMilli()}},
		},
	}}
	raw, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, raw)))
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "2048 bytes") {
		t.Fatalf("remote-write status %d %q, want 400 naming the label length limit", resp.StatusCode, body)
	}
	waitFor(t, "the good sample in the head", 10*time.Second, func() bool { return a.head.NumSeries() == 1 })
	if maxT := a.head.MaxTime(); maxT > time.Now().Add(time.Minute).UnixMilli() {
		t.Fatalf("head clock at %v after a remote-written sample 50 years ahead", time.UnixMilli(maxT))
	}
	if w := a.ingest.watermark.Load(); w > time.Now().Add(time.Minute).UnixMilli() {
		t.Fatalf("ingest watermark at %v after a remote-written sample 50 years ahead", time.UnixMilli(w))
	}

	// The head's own bound (max_sample_future, 10m by default).
	if _, err := a.head.Append([]telemetry.Sample{{Labels: labels.FromStrings("__name__", "m", "pod", "x"), T: future, V: 1}}); err != nil {
		t.Fatal(err)
	}
	if maxT := a.head.MaxTime(); maxT > time.Now().Add(time.Minute).UnixMilli() {
		t.Fatalf("head clock at %v after appending a sample 50 years ahead", time.UnixMilli(maxT))
	}

	if a.srv.ReadTimeout <= 0 || a.srv.IdleTimeout <= 0 || a.srv.WriteTimeout != 0 {
		t.Fatalf("HTTP server timeouts read %v idle %v write %v; want read and idle bounded, write unbounded (streamed answers)",
			a.srv.ReadTimeout, a.srv.IdleTimeout, a.srv.WriteTimeout)
	}
}
