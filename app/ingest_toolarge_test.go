package app

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/omen-sre/omen/internal/testenv"
)

// natsMessages returns omen_nats_messages_total{outcome=outcome} of a,
// summed over consumers.
func natsMessages(t *testing.T, a *App, outcome string) float64 {
	t.Helper()
	mfs, err := a.opts.Gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "omen_nats_messages_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// TestIngestTooLarge: with a 1 MiB value log (records of at most 512 KiB),
// a remote-write request that encodes to several MiB is stored (the store
// splits it; before, Badger refused it on every retry and the receiver
// answered 503 for ever); a request whose one series is too long for any
// record is answered 400 (permanent: Prometheus drops it instead of
// retrying for ever) without Badger's hex dump; a NATS event that long is
// dead-lettered instead of redelivered for ever.
func TestIngestTooLarge(t *testing.T) {
	var logs testenv.SyncBuffer
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.Config.Storage.ValueLogFileSize = 1 << 20
		o.Config.RemoteWrite.MaxLabelValueLength = 1 << 20
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	r := rand.New(rand.NewPCG(5, 6))
	huge := make([]byte, 700<<10)
	for i := range huge {
		huge[i] = byte('a' + r.IntN(26))
	}
	now := time.Now().UnixMilli()
	post := func(wr prompb.WriteRequest) (int, string) {
		t.Helper()
		raw, err := wr.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return postRemoteWrite(t, a, snappy.Encode(nil, raw))
	}
	series := func(pod string) prompb.TimeSeries {
		return prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "m"}, {Name: "namespace", Value: "shop"}, {Name: "pod", Value: pod}},
			Samples: []prompb.Sample{{Value: 1, Timestamp: now}},
		}
	}

	var big prompb.WriteRequest
	for i := range 60000 {
		big.Timeseries = append(big.Timeseries, series(fmt.Sprintf("p-%d-%d", i, r.Uint64())))
	}
	if code, body := post(big); code != http.StatusNoContent {
		t.Fatalf("request of 60000 series: %d %q, want 204", code, body)
	}
	if _, samples := countBatches(t, a.Store()); samples != 60000 {
		t.Fatalf("stored %d samples, want 60000", samples)
	}

	code, body := post(prompb.WriteRequest{Timeseries: []prompb.TimeSeries{series(string(huge))}})
	if code != http.StatusBadRequest || !strings.Contains(body, "too large to store") || strings.Contains(body, "00000000") || len(body) > 1000 {
		t.Fatalf("request with a 700 KiB label: %d %.300q; want 400 naming the limit, no dump", code, body)
	}
	if l := logs.String(); !strings.Contains(l, "remote-write request dropped") || strings.Contains(l, "00000000") {
		t.Fatalf("log after the refused request: want a warning without a dump, got\n%.2000s", l)
	}

	ev := fmt.Sprintf(`{"time":%d,"namespace":"shop","pod":"cart-1","reason":"ModuleLoadError","message":%q}`, now, huge)
	publish(t, a.NATSURL(), "omen.events.module", []byte(ev))
	waitFor(t, "the too-large event dead-lettered", 30*time.Second, func() bool { return natsMessages(t, a, "dead_letter") == 1 })
	if n := natsMessages(t, a, "nacked"); n != 0 {
		t.Fatalf("%v messages nacked, want 0", n)
	}
}
