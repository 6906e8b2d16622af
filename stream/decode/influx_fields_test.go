package decode

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// manyFields is a line of n fields f0…f(n-1) (keys repeating every
// distinct when distinct > 0) with values 0…n-1.
func manyFields(n, distinct int) string {
	var b strings.Builder
	b.WriteString("m,namespace=a,pod=b ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		k := i
		if distinct > 0 {
			k = i % distinct
		}
		fmt.Fprintf(&b, "f%d=%d", k, i)
	}
	b.WriteString(ts + "\n")
	return b.String()
}

func TestInfluxFieldLimit(t *testing.T) {
	d := newDecoder(t, Options{})
	res, err := decodeAll(t, d, FormatInflux, manyFields(MaxInfluxFields, 0))
	if err != nil || len(res.Samples) != MaxInfluxFields {
		t.Fatalf("%d fields: %v, %d samples", MaxInfluxFields, err, len(res.Samples))
	}
	res, err = decodeAll(t, d, FormatInflux, manyFields(MaxInfluxFields+1, 0)+"m,namespace=a,pod=b v=1"+ts+"\n")
	if err != nil || len(res.Samples) != 1 {
		t.Fatalf("next line: %v, %d samples", err, len(res.Samples))
	}
	if len(res.Errors) != 1 || res.Errors[0].Reason != ReasonMalformed || res.Errors[0].Line != 1 ||
		!strings.Contains(res.Errors[0].Msg, "more than 1024 fields") {
		t.Fatalf("errors %v, want one malformed on line 1", res.Errors)
	}
}

// Repeated keys on a long line (the map path) keep the last value, like
// short lines (the pairwise path).
func TestInfluxRepeatedFieldsLong(t *testing.T) {
	for _, tc := range []struct{ n, distinct int }{{12, 4}, {600, 40}, {1024, 7}} {
		d := newDecoder(t, Options{})
		res, err := decodeAll(t, d, FormatInflux, manyFields(tc.n, tc.distinct))
		if err != nil || len(res.Samples) != tc.distinct {
			t.Fatalf("%+v: %v, %d samples, want %d", tc, err, len(res.Samples), tc.distinct)
		}
		for _, s := range res.Samples {
			var k int
			fmt.Sscanf(strings.TrimPrefix(s.Labels.Get("__name__"), "m_f"), "%d", &k)
			last := (tc.n-1-k)/tc.distinct*tc.distinct + k
			if s.V != float64(last) {
				t.Errorf("%+v: field f%d = %v, want the last value %d", tc, k, s.V, last)
			}
		}
	}
}

// The cost of a line grows linearly with its fields: 1024 fields cost
// about 8 × 128 fields, not 64×. Measured in CPU time of the best of 5 runs,
// with a 6× allowance for noise (lines beyond the 256 fields an entry caches build their series afresh: ~3× per field); the quadratic duplicate check made it 83×.
func TestInfluxFieldsLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	cost := func(n int) time.Duration {
		p := []byte(manyFields(n, 0))
		d := newDecoder(t, Options{})
		best := time.Duration(1 << 62)
		for r := 0; r < 5; r++ {
			var res Result
			st := time.Now()
			for i := 0; i < 20; i++ {
				res.Reset()
				_ = d.Decode(FormatInflux, p, testRecv, &res)
			}
			best = min(best, time.Since(st))
		}
		return best
	}
	small, large := cost(128), cost(1024)
	t.Logf("128 fields: %v, 1024 fields: %v (×%.1f)", small/20, large/20, float64(large)/float64(small))
	if large > 48*small {
		t.Errorf("1024 fields cost %.1f× 128 fields, want about 8×", float64(large)/float64(small))
	}
}

func BenchmarkInfluxManyFields(b *testing.B) {
	for _, n := range []int{32, 128, 1024} {
		p := []byte(manyFields(n, 0))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d := newDecoder(b, Options{})
			var res Result
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				res.Reset()
				if err := d.Decode(FormatInflux, p, testRecv, &res); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/field")
		})
	}
}
