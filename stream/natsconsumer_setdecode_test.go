package stream

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/stream/decode"
)

// TestNATSConsumerSetDecodeOptions: a running consumer decodes the
// batches after SetDecodeOptions with the new options (a series over a
// lowered MaxLabels is dropped as too_many_labels, the message's other
// series stored), and invalid options are refused leaving the old ones.
func TestNATSConsumerSetDecodeOptions(t *testing.T) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	mem := &MemAppender{}
	reg := prometheus.NewRegistry()
	c := newConsumer(t, nc, mem, testNATSOptions(), reg)
	setupStreams(t, c)
	stop := runConsumer(t, c)
	// Two series per message: "few" has 3 labels (__name__ included),
	// "many" has 5.
	msg := func(i int) string {
		ts := time.Now().UnixNano()
		return fmt.Sprintf("few,pod=p%d v=1 %d\nmany,pod=p%d,a=1,b=1,c=1 v=1 %d\n", i, ts, i, ts)
	}
	tooMany := func() float64 {
		return counterValue(t, reg, "omen_ingest_errors_total", "reason", decode.ReasonTooManyLabels)
	}

	publish(t, js, "omen.metrics.influx", "", msg(0))
	waitFor(t, "both series of the first message", func() bool { s, _, _ := mem.Counts(); return s == 2 })

	if err := c.SetDecodeOptions(decode.Options{MaxLabels: -1}); err == nil || !strings.Contains(err.Error(), "max labels -1") {
		t.Fatalf("SetDecodeOptions(MaxLabels -1) = %v, want an error", err)
	}
	publish(t, js, "omen.metrics.influx", "", msg(1))
	waitFor(t, "both series of the second message (invalid options refused)", func() bool { s, _, _ := mem.Counts(); return s == 4 })
	if v := tooMany(); v != 0 {
		t.Fatalf("too_many_labels %v before the change, want 0", v)
	}

	if err := c.SetDecodeOptions(decode.Options{MaxLabels: 4}); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "omen.metrics.influx", "", msg(2))
	waitFor(t, "the too_many_labels count", func() bool { return tooMany() == 1 })
	waitFor(t, "the third message's small series", func() bool { s, _, _ := mem.Counts(); return s == 5 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := mem.Counts(); s != 5 {
		t.Fatalf("stored %d samples, want 5", s)
	}
}
