package stream

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/stream/natsembed"
)

// lineProtocolPayload returns a Telegraf-like payload of lines lines with
// two fields each (2×lines samples), timestamped ts (ns).
func lineProtocolPayload(lines int, ts int64) []byte {
	var sb strings.Builder
	for i := range lines {
		fmt.Fprintf(&sb, "kube_pod,namespace=ns-%d,pod=pod-%d,container=app,node=node-%d cpu_usage=%d.25,restarts=%di %d\n",
			i%7, i, i%13, i, i%5, ts)
	}
	return []byte(sb.String())
}

// BenchmarkNATSIngest measures embedded NATS JetStream → consumer (fetch,
// decode line protocol, one Append per fetch, ack) → in-memory appender.
// Each op is one message of 1000 samples; messages are published before
// the timer starts.
func BenchmarkNATSIngest(b *testing.B) {
	srv, err := natsembed.Start(natsembed.Options{ListenAddress: "127.0.0.1:0", StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	app := &MemAppender{CountOnly: true}
	c, err := NewNATSConsumer(nc, app, NATSOptions{}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := c.Setup(ctx); err != nil {
		b.Fatal(err)
	}
	const lines = 500
	payload := lineProtocolPayload(lines, time.Now().UnixNano())
	for range b.N {
		if _, err := js.PublishAsync("omen.metrics.influx", payload); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		b.Fatal("publish did not complete")
	}
	want := b.N * lines * 2
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for {
		if s, _, _ := app.Counts(); s >= want {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if s, _, _ := app.Counts(); s != want {
		b.Fatalf("stored %d samples, want %d", s, want)
	}
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "samples/s")
}
