package features

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// lockedBuffer is a bytes.Buffer safe for concurrent use (a logger's).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestHeadCardinalityWarns: new series refused for MaxSeries are warned
// of, at most once a minute, each warning with the samples dropped since
// the last one (which add up to omen_feature_dropped_total{reason=
// "cardinality"}), the limit and the configuration key to raise. Before,
// one remote-write request of 5,000 new series past max_series 1000 was
// answered 204 and 4,000 series were silently never predicted (reviewer r1
// finding 2).
func TestHeadCardinalityWarns(t *testing.T) {
	tests := []struct {
		name   string
		append func(h *Head, s []telemetry.Sample) error
	}{
		{name: "append", append: func(h *Head, s []telemetry.Sample) error { _, err := h.Append(s); return err }},
		{name: "append concurrent", append: func(h *Head, s []telemetry.Sample) error {
			_, err := h.AppendConcurrent([][]telemetry.Sample{s[:len(s)/2], s[len(s)/2:]}, 4)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			logs := &lockedBuffer{}
			now := time.UnixMilli(base)
			h := newTestHead(t, reg, HeadOptions{MaxSeries: 1000, Registerer: reg, Now: func() time.Time { return now },
				Logger: slog.New(slog.NewTextHandler(logs, nil))})
			pods := 0
			burst := func(n int) {
				t.Helper()
				s := make([]telemetry.Sample, n)
				for i := range s {
					s[i] = telemetry.Sample{Labels: labels.FromStrings("__name__", "m", "pod", fmt.Sprintf("p%d", pods)), T: base, V: 1}
					pods++
				}
				if err := tt.append(h, s); err != nil {
					t.Fatal(err)
				}
			}
			warned := regexp.MustCompile(`level=WARN msg="new series refused[^\n]*samples_dropped=(\d+) max_series=1000 series=1000 example_series="?\{__name__=\\?"m\\?", pod=\\?"p\d+\\?"\}`)
			sum := func() (warnings, total int) {
				t.Helper()
				for _, m := range warned.FindAllStringSubmatch(logs.String(), -1) {
					n, _ := strconv.Atoi(m[1])
					warnings, total = warnings+1, total+n
				}
				return warnings, total
			}

			burst(5000) // one request: 4,000 refused
			if w, n := sum(); w != 1 || n != 4000 {
				t.Fatalf("after a burst of 4,000 refused: %d warnings naming %d samples, want 1 naming 4000:\n%s", w, n, logs.String())
			}
			if !strings.Contains(logs.String(), "raise max_series") {
				t.Errorf("the warning does not name the configuration key to raise:\n%s", logs.String())
			}
			if d := dropped(t, reg, ReasonCardinality); d != 4000 {
				t.Errorf("omen_feature_dropped_total{reason=\"cardinality\"} = %v, want 4000", d)
			}
			// More within the minute: counted, not warned of yet.
			now = now.Add(30 * time.Second)
			burst(300)
			if w, _ := sum(); w != 1 {
				t.Errorf("%d warnings within a minute, want 1:\n%s", w, logs.String())
			}
			// The next drop a minute after the warning names them all.
			now = now.Add(31 * time.Second)
			burst(10)
			w, n := sum()
			if w != 2 || n != 4310 {
				t.Errorf("%d warnings naming %d samples, want 2 naming 4310:\n%s", w, n, logs.String())
			}
			if d := dropped(t, reg, ReasonCardinality); d != float64(n) {
				t.Errorf("omen_feature_dropped_total{reason=\"cardinality\"} = %v, the warnings name %d", d, n)
			}
			if !strings.Contains(logs.String(), "since=1m1s") {
				t.Errorf("the second warning does not say since when:\n%s", logs.String())
			}
		})
	}
}
