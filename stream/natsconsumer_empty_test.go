package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestNATSConsumerEmptyBatches: a well-formed message of no sample or
// event (an empty JSON batch, an empty or blank payload, comment or
// metadata lines only, an empty EventList) is acknowledged and counted
// (outcome="acked"), and its empty batch appended, not dead-lettered as
// malformed; a JSON object that is neither a batch nor a sample still is.
func TestNATSConsumerEmptyBatches(t *testing.T) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	app := &MemAppender{}
	reg := prometheus.NewRegistry()
	c := newConsumer(t, nc, app, testNATSOptions(), reg)
	setupStreams(t, c)
	empty := []struct{ subject, body string }{
		{"omen.metrics.json", "[]"},
		{"omen.metrics.json", `{"samples":[]}`},
		{"omen.metrics.json", `{"samples":null}`},
		{"omen.metrics.json", "null"},
		{"omen.metrics.influx", ""},
		{"omen.metrics.influx", "# no metrics this interval\n\n"},
		{"omen.metrics.prom", "# HELP m A counter vector without children.\n# TYPE m counter\n"},
		{"omen.metrics.prom", " \n"},
		{"omen.events", `{"apiVersion":"v1","kind":"List","items":[],"metadata":{"resourceVersion":""}}`},
		{"omen.events.module", `{"events":[]}`},
	}
	for _, m := range empty {
		publish(t, js, m.subject, "", m.body)
	}
	publish(t, js, "omen.metrics.json", "", "{}")
	publish(t, js, "omen.metrics.influx", "", fmt.Sprintf("m,namespace=a,pod=b v=1 %d", time.Now().UnixNano()))
	stop := runConsumer(t, c)
	outcome := func(o string) float64 { return counterValue(t, reg, "omen_nats_messages_total", "outcome", o) }
	waitFor(t, "every message handled", func() bool {
		return outcome("acked")+outcome("dead_letter") == float64(len(empty)+2)
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if a, d := outcome("acked"), outcome("dead_letter"); a != float64(len(empty)+1) || d != 1 {
		t.Fatalf("acked %v, dead-lettered %v; want %d acked (the empty batches and the sample), 1 dead letter ({})", a, d, len(empty)+1)
	}
	dl := fetchDLQ(t, js, 1)
	if got := string(dl[0].Data()); got != "{}" {
		t.Fatalf("dead letter %q, want {}", got)
	}
	if n := len(app.Batches()); n != len(empty)+1 {
		t.Fatalf("%d batches appended, want %d (the empty ones too: their sequences are stored)", n, len(empty)+1)
	}
	if s, _, _ := app.Counts(); s != 1 {
		t.Fatalf("%d samples appended, want 1", s)
	}
	for _, r := range []string{"malformed", "wrong_type"} {
		if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", r); v != map[string]float64{"malformed": 1}[r] {
			t.Errorf("omen_ingest_errors_total{reason=%q} = %v", r, v)
		}
	}
}
