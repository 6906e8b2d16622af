package stream

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/stream/decode"
)

// TestNATSConsumerContentType checks the Content-Type header on
// omen.metrics end to end: a type omen does not read (OpenMetrics text,
// XML) is dead-lettered as unknown_format with an Omen-Dlq-Error naming
// it and the recognised types, where it was decoded as influx and
// dead-lettered as "malformed: field without value"; a message without
// headers, published as Telegraf's outputs.nats does (a core NATS
// publish of the serialized lines), and one of a type that names no
// format (application/octet-stream) are still read as influx.
func TestNATSConsumerContentType(t *testing.T) {
	for _, srv := range natsServers {
		t.Run(srv.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, srv.start(t))
			app := &MemAppender{}
			reg := prometheus.NewRegistry()
			c := newConsumer(t, nc, app, testNATSOptions(), reg)
			setupStreams(t, c)

			ns := time.Now().UnixNano()
			// Telegraf: no headers at all.
			if err := nc.Publish("omen.metrics", fmt.Appendf(nil, "cpu,namespace=shop,pod=cart-1 usage=0.5 %d\n", ns)); err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			publish(t, js, "omen.metrics", "application/octet-stream", fmt.Sprintf("mem,namespace=shop,pod=cart-1 value=1024 %d\n", ns))
			openMetrics := "application/openmetrics-text; version=1.0.0"
			omSeq := publish(t, js, "omen.metrics", openMetrics, "# TYPE up gauge\nup{job=\"a\"} 1\n# EOF\n")
			xmlSeq := publish(t, js, "omen.metrics", "application/xml", "<up>1</up>")

			stop := runConsumer(t, c)
			waitFor(t, "the two influx samples", func() bool {
				s, _, _ := app.Counts()
				return s >= 2
			})
			dlq := fetchDLQ(t, js, 2)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if s, _, _ := app.Counts(); s != 2 {
				t.Fatalf("stored %d samples, want 2 (cpu_usage, mem)", s)
			}
			want := map[string]string{fmt.Sprint(omSeq): openMetrics, fmt.Sprint(xmlSeq): "application/xml"}
			for _, m := range dlq {
				h := m.Headers()
				ct, ok := want[h.Get(HeaderDLQSequence)]
				if !ok {
					t.Fatalf("unexpected dead letter %v", h)
				}
				delete(want, h.Get(HeaderDLQSequence))
				if r := h.Get(HeaderDLQReason); r != decode.ReasonUnknownFormat {
					t.Errorf("dead letter of %q: reason %q, want %q (error %q)", ct, r, decode.ReasonUnknownFormat, h.Get(HeaderDLQError))
				}
				msg := h.Get(HeaderDLQError)
				for _, s := range []string{fmt.Sprintf("content type %q", ct), "application/x-influx-line-protocol", "application/json", "version=0.0.4"} {
					if !strings.Contains(msg, s) {
						t.Errorf("dead letter of %q: Omen-Dlq-Error %q does not mention %q", ct, msg, s)
					}
				}
				if strings.Contains(msg, "influx payload") {
					t.Errorf("dead letter of %q: Omen-Dlq-Error %q: decoded as influx", ct, msg)
				}
				if h.Get("Content-Type") != ct {
					t.Errorf("dead letter of %q keeps Content-Type %q", ct, h.Get("Content-Type"))
				}
			}
			if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", decode.ReasonUnknownFormat); v != 2 {
				t.Errorf("omen_ingest_errors_total{reason=unknown_format} = %v, want 2", v)
			}
		})
	}
}
