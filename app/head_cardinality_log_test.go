package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestMaxSeriesDropsLogged: remote-written series beyond max_series are
// warned of in the daemon's log, naming the limit (reviewer r1 finding 2:
// the request was answered 204 and nothing said the series were dropped;
// the head had no logger).
func TestMaxSeriesDropsLogged(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.Config.MaxSeries = 3
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	now := time.Now().UnixMilli()
	var wr prompb.WriteRequest
	for i := range 10 {
		wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{
			Labels: []prompb.Label{{Name: "__name__", Value: "container_memory_working_set_bytes"}, {Name: "container", Value: "app"},
				{Name: "namespace", Value: "shop"}, {Name: "pod", Value: fmt.Sprintf("cart-%d", i)}},
			Samples: []prompb.Sample{{Value: 100, Timestamp: now}},
		})
	}
	raw, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if status, body := postRemoteWrite(t, a, snappy.Encode(nil, raw)); status != http.StatusNoContent {
		t.Fatalf("remote-write status %d %q", status, body)
	}
	waitFor(t, "the max_series warning", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "new series refused") && strings.Contains(logs.String(), "max_series=3")
	})
}
