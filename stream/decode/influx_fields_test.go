package decode

import (
	"fmt"
	"strings"
	"testing"
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

// TestInfluxFieldLimitOption: Options.MaxInfluxFields replaces the
// default cap; a negative one is refused.
func TestInfluxFieldLimitOption(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		fields int
		ok     bool
	}{
		{name: "at a configured cap", max: 8, fields: 8, ok: true},
		{name: "over a configured cap", max: 8, fields: 9},
		{name: "default cap", max: 0, fields: 9, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDecoder(t, Options{MaxInfluxFields: tt.max})
			res, _ := decodeAll(t, d, FormatInflux, manyFields(tt.fields, 0))
			if tt.ok {
				if len(res.Samples) != tt.fields || len(res.Errors) != 0 {
					t.Fatalf("%d samples, errors %v; want %d samples", len(res.Samples), res.Errors, tt.fields)
				}
				return
			}
			if len(res.Samples) != 0 || len(res.Errors) != 1 || res.Errors[0].Reason != ReasonMalformed ||
				!strings.Contains(res.Errors[0].Msg, fmt.Sprintf("more than %d fields", tt.max)) {
				t.Fatalf("%d samples, errors %v; want one malformed naming %d fields", len(res.Samples), res.Errors, tt.max)
			}
		})
	}
	if _, err := New(Options{MaxInfluxFields: -1}); err == nil || !strings.Contains(err.Error(), "max influx fields -1") {
		t.Fatalf("New with MaxInfluxFields -1: %v", err)
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

// BenchmarkInfluxManyFields holds the cost per field (linear: the
// duplicate check uses a map beyond 32 fields; the quadratic one made a
// 1024-field line 83× a 128-field one). A timed test would be noise on a
// shared machine; TestInfluxFieldLimit bounds the fields of a line.
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
