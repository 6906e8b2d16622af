package features

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"gopkg.in/yaml.v3"

	"github.com/omen-sre/omen/telemetry"
)

// FuzzHeadAppend appends an arbitrary sequence of samples (times moving back
// and forth, repeated times, stale markers) to two series and checks what the
// Head returns for the window against a simple model: the first value
// appended at each time wins, and samples older than the window at their
// arrival are dropped.
func FuzzHeadAppend(f *testing.F) {
	f.Add([]byte{1, 1, 1, 2, 1, 3, 0xff, 4, 1, 5})
	f.Add([]byte{10, 1, 10, 2, 0xf6, 3, 5, 4, 5, 5, 0x80, 6, 0x7f, 7})
	f.Add([]byte{15, 1, 15, 2, 15, 255, 15, 3, 0xe2, 9, 1, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		const lookback = time.Minute
		h, err := NewHead(HeadOptions{Lookback: lookback, Shards: 2})
		if err != nil {
			t.Fatal(err)
		}
		lsets := []labels.Labels{
			labels.FromStrings("__name__", "m", "s", "0"),
			labels.FromStrings("__name__", "m", "s", "1"),
		}
		type key struct {
			s int
			t int64
		}
		model := map[key]float64{}
		maxT := int64(math.MinInt64)
		cursor := base
		for i := 0; i+1 < len(data); i += 2 {
			cursor += int64(int8(data[i])) * sec
			s := int(data[i+1]) % 2
			v := float64(data[i+1] >> 1)
			if data[i+1] == 255 {
				v = math.Float64frombits(value.StaleNaN)
			}
			n, err := h.Append([]telemetry.Sample{{Labels: lsets[s], T: cursor, V: v}})
			if err != nil {
				t.Fatal(err)
			}
			maxT = max(maxT, cursor)
			k := key{s, cursor}
			_, exists := model[k]
			want := 1
			switch {
			case cursor <= maxT-lookback.Milliseconds(), exists:
				want = 0
			case value.IsStaleNaN(v) && !seriesHeld(h, lsets[s]):
				want = 0 // a stale marker does not create a series
			}
			if n != want {
				t.Fatalf("step %d: appended %d, want %d (t=%d v=%v)", i/2, n, want, cursor-base, v)
			}
			if n == 1 {
				model[k] = v
			}
		}
		if maxT == math.MinInt64 {
			return
		}
		mint := maxT - lookback.Milliseconds() + 1
		got := readAll(t, h, mint, maxT)
		for s, l := range lsets {
			var want []tv
			for k, v := range model {
				if k.s == s && k.t >= mint {
					want = append(want, tv{k.t, v})
				}
			}
			g := got[l.String()]
			if len(g) != len(want) {
				t.Fatalf("series %d: %d samples in the window, want %d", s, len(g), len(want))
			}
			for i, x := range g {
				if i > 0 && x.t <= g[i-1].t {
					t.Fatalf("series %d: times not increasing", s)
				}
				if v := model[key{s, x.t}]; math.Float64bits(v) != math.Float64bits(x.v) {
					t.Fatalf("series %d at %d: %v, want %v", s, x.t-base, x.v, v)
				}
			}
		}
	})
}

// seriesHeld reports whether h holds a series with labels l.
func seriesHeld(h *Head, l labels.Labels) bool {
	hash := l.Hash()
	sh := &h.shards[hash&h.mask]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.get(hash, l) != nil
}

// FuzzConfig decodes arbitrary YAML as a Config strictly, as the
// configuration loader does; Validate, Resolved and compile must not panic,
// and a valid configuration must compile.
func FuzzConfig(f *testing.F) {
	f.Add([]byte("entity_labels: [service]\nfeatures:\n  - name: r\n    expr: sum by (${entity}) (rate(x[5m]))\n"))
	f.Add([]byte("event_features:\n  - name: b\n    reasons: [BackOff]\n    window: 5m\nlabels:\n  - name: l\n    expr: up == 0\n"))
	f.Add([]byte("step: 1m\nlookback: 2m\nfeatures:\n  - name: x\n    expr: x offset 1m\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return
		}
		_ = c.Resolved()
		err := c.Validate()
		if _, cerr := compile(c, DefaultLookbackDelta); (err == nil) != (cerr == nil) {
			t.Fatalf("Validate %v but compile %v", err, cerr)
		}
	})
}
