package api

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/omen-sre/omen/store"
)

// FuzzAppendVector: every vector encodes as one valid JSON line that
// decodes to the same values (non-finite ones as null).
func FuzzAppendVector(f *testing.F) {
	f.Add(int64(1), uint32(1), 1.5, math.NaN(), true)
	f.Add(int64(-1), uint32(0), math.Inf(1), 1e-300, false)
	f.Fuzz(func(t *testing.T, ts int64, schema uint32, a, b float64, fail bool) {
		line := appendVector(nil, store.Vector{T: ts, Schema: schema, Values: []float64{a, b}, Failure: []bool{fail}})
		if line[len(line)-1] != '\n' || !json.Valid(line) {
			t.Fatalf("not one JSON line: %q", line)
		}
		var got struct {
			T int64      `json:"t"`
			S uint32     `json:"s"`
			V []*float64 `json:"v"`
			F []bool     `json:"f"`
		}
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatal(err)
		}
		if got.T != ts || got.S != schema || len(got.V) != 2 || len(got.F) != 1 || got.F[0] != fail {
			t.Fatalf("%q decoded as %+v", line, got)
		}
		for i, x := range []float64{a, b} {
			finite := !math.IsNaN(x) && !math.IsInf(x, 0)
			if finite != (got.V[i] != nil) || finite && *got.V[i] != x {
				t.Fatalf("value %d: %v encoded as %q", i, x, line)
			}
		}
	})
}

// FuzzFormatMs: times sent to the history endpoint come back to the
// millisecond.
func FuzzFormatMs(f *testing.F) {
	for _, ms := range []int64{0, 1, -1, 1764000000001, -1500, 1 << 62, -1 << 62} {
		f.Add(ms)
	}
	f.Fuzz(func(t *testing.T, ms int64) {
		const lim = int64(1e13) * 1000
		want := max(min(ms, lim), -lim)
		got, err := ParseTime(formatMs(ms))
		if err != nil || got.UnixMilli() != want {
			t.Fatalf("%d → %q → %v, %v", ms, formatMs(ms), got.UnixMilli(), err)
		}
	})
}
