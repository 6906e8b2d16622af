package stream

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/stream/decode"
)

// TestNATSConsumerContentType checks the Content-Type header end to end.
// A message without headers, published as Telegraf's outputs.nats does
// (a core NATS publish of the serialized lines), and one of a type that
// names no format (application/octet-stream) are read as influx on
// omen.metrics. OpenMetrics text is read with its timestamps in seconds
// (fractional). A header that does not name a format leaves the choice
// to a subject that names one (application/xml on omen.metrics.influx,
// as a bridge passes upstream headers through), a +json type is JSON
// (application/cloudevents+json on omen.events), and a header whose
// parameters do not parse is read by its media type. Only on omen.metrics
// without a format token, where influx would be a guess, is an
// unrecognised type dead-lettered as unknown_format, its Omen-Dlq-Error
// naming it and the recognised types.
func TestNATSConsumerContentType(t *testing.T) {
	for _, srv := range natsServers {
		t.Run(srv.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, srv.start(t))
			app := &MemAppender{}
			reg := prometheus.NewRegistry()
			c := newConsumer(t, nc, app, testNATSOptions(), reg)
			setupStreams(t, c)

			now := time.Now()
			ns, ms := now.UnixNano(), now.UnixMilli()
			// Telegraf: no headers at all.
			if err := nc.Publish("omen.metrics", fmt.Appendf(nil, "cpu,namespace=shop,pod=cart-1 usage=0.5 %d\n", ns)); err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			publish(t, js, "omen.metrics", "application/octet-stream", fmt.Sprintf("mem,namespace=shop,pod=cart-1 value=1024 %d\n", ns))
			publish(t, js, "omen.metrics.prom", "application/openmetrics-text; version=1.0.0; charset=utf-8",
				fmt.Sprintf("# TYPE up gauge\nup{namespace=\"shop\",pod=\"cart-1\"} 1 %d.%03d\n# EOF\n", ms/1000, ms%1000))
			publish(t, js, "omen.metrics.influx", "application/xml", fmt.Sprintf("disk,namespace=shop,pod=cart-1 used=7 %d\n", ns))
			publish(t, js, "omen.metrics.prom", "text/plain;charset=utf-8,", fmt.Sprintf("queue{namespace=\"shop\",pod=\"cart-1\"} 3 %d\n", ms))
			publish(t, js, "omen.events", "application/cloudevents+json",
				fmt.Sprintf(`{"time":%q,"namespace":"shop","pod":"cart-1","reason":"ModuleLoadError"}`, now.UTC().Format(time.RFC3339)))
			xmlSeq := publish(t, js, "omen.metrics", "application/xml", "<up>1</up>")

			stop := runConsumer(t, c)
			waitFor(t, "five samples and an event", func() bool {
				s, e, _ := app.Counts()
				return s >= 5 && e >= 1
			})
			dlq := fetchDLQ(t, js, 1)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range app.Samples() {
				got = append(got, fmt.Sprintf("%s %d", s.Labels.Get("__name__"), s.T))
			}
			slices.Sort(got)
			want := []string{"cpu_usage " + fmt.Sprint(ms), "disk_used " + fmt.Sprint(ms), "mem " + fmt.Sprint(ms), "queue " + fmt.Sprint(ms), "up " + fmt.Sprint(ms)}
			if !slices.Equal(got, want) {
				t.Errorf("stored samples %q, want %q (OpenMetrics' up at the publish time: seconds read as seconds)", got, want)
			}
			if _, e, _ := app.Counts(); e != 1 {
				t.Errorf("stored %d events, want 1 (application/cloudevents+json on omen.events)", e)
			}
			if len(dlq) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dlq))
			}
			h := dlq[0].Headers()
			if s := h.Get(HeaderDLQSequence); s != fmt.Sprint(xmlSeq) {
				t.Fatalf("dead letter of sequence %s, want %d (application/xml on omen.metrics): %v", s, xmlSeq, h)
			}
			if r := h.Get(HeaderDLQReason); r != decode.ReasonUnknownFormat {
				t.Errorf("reason %q, want %q (error %q)", r, decode.ReasonUnknownFormat, h.Get(HeaderDLQError))
			}
			msg := h.Get(HeaderDLQError)
			for _, s := range []string{`content type "application/xml"`, "omen.metrics.influx", "application/x-influx-line-protocol", "application/json", "application/openmetrics-text", "version=0.0.4"} {
				if !strings.Contains(msg, s) {
					t.Errorf("Omen-Dlq-Error %q does not mention %q", msg, s)
				}
			}
			if strings.Contains(msg, "influx payload") {
				t.Errorf("Omen-Dlq-Error %q: decoded as influx", msg)
			}
			if h.Get("Content-Type") != "application/xml" {
				t.Errorf("dead letter keeps Content-Type %q", h.Get("Content-Type"))
			}
			if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", decode.ReasonUnknownFormat); v != 1 {
				t.Errorf("omen_ingest_errors_total{reason=unknown_format} = %v, want 1", v)
			}
		})
	}
}
