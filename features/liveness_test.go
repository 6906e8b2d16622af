package features

import (
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// TestMemSeriesSize: memSeries stays in the 160-byte size class (its
// marked flag fills padding).
func TestMemSeriesSize(t *testing.T) {
	if n := unsafe.Sizeof(memSeries{}); n > 160 {
		t.Errorf("memSeries is %d bytes, want at most 160", n)
	}
}

// TestLivenessSources: Progress counts a series of a source without stale
// markers (Append: NATS) until 3 of its intervals of arriving data passed
// (at least Floor, at most Max), and one of a source that ends series with
// stale markers (AppendMarked: remote write) until Since: a remote-write
// shard that stalls 100 s while the others send holds its series' steps.
// The usual time between arrivals counts a flush delivered in pieces a
// second or so apart (a busy consumer's pulls) as one arrival: a 5 s
// series flushed every 60 s, one message a sample, whose flush came in 12
// pieces 1.2 s apart, still counts 95 s after it (a late flush with
// flush_jitter); counted as 12 arrivals its estimate fell to 29 s and it
// was released after 88 s.
func TestLivenessSources(t *testing.T) {
	const sec = int64(1000)
	live := Liveness{PerInterval: 3, Floor: 15 * sec, Max: 120 * sec}
	tests := []struct {
		name   string
		marked bool
		every  int64 // sample interval (ms)
		flush  int64 // arrival interval (ms): samples flushed together
		pieces int64 // the last flush arrives in pieces this far apart (ms; 0: at once)
		after  int64 // Last minus the series' last stamp (ms)
		want   bool
	}{
		{name: "nats 15s, 40s after", every: 15 * sec, flush: 15 * sec, after: 40 * sec, want: true},
		{name: "nats 15s, 50s after", every: 15 * sec, flush: 15 * sec, after: 50 * sec, want: false},
		{name: "remote write 15s, 100s after", marked: true, every: 15 * sec, flush: 15 * sec, after: 100 * sec, want: true},
		{name: "remote write 5s, 100s after", marked: true, every: 5 * sec, flush: 5 * sec, after: 100 * sec, want: true},
		{name: "nats flushed every 60s, 95s after", every: 5 * sec, flush: 60 * sec, after: 95 * sec, want: true},
		{name: "nats flush in pieces, 95s after", every: 5 * sec, flush: 60 * sec, pieces: 1200, after: 95 * sec, want: true},
		{name: "nats flush in pieces, 125s after", every: 5 * sec, flush: 60 * sec, pieces: 1200, after: 125 * sec, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHead(t, nil, HeadOptions{})
			lset := labels.FromStrings("__name__", "m", "pod", "a")
			appendAt := func(stamp, ts int64) {
				t.Helper()
				h.SetStamp(stamp)
				s := []telemetry.Sample{{Labels: lset, T: ts, V: 1}}
				var err error
				if tt.marked {
					_, err = h.AppendMarked(s)
				} else {
					_, err = h.Append(s)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			const start = int64(1_800_000_000_000)
			stamp, ts := start, start
			for range 20 { // flushes, each of flush/every samples 10 ms apart
				for range tt.flush / tt.every {
					appendAt(stamp, ts)
					ts += tt.every
					stamp += 10
				}
				stamp += tt.flush - tt.flush/tt.every*10
			}
			for range tt.flush / tt.every { // the last flush
				appendAt(stamp, ts)
				ts += tt.every
				stamp += max(tt.pieces, 10)
			}
			live := live
			live.Last = stamp - max(tt.pieces, 10) + tt.after
			if _, _, ok := h.Progress(live, parseSelectors(t, []string{""})); ok != tt.want {
				t.Errorf("counts as sending %v after its last arrival: %v, want %v", time.Duration(tt.after)*time.Millisecond, ok, tt.want)
			}
		})
	}
}
