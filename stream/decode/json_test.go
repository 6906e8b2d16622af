package decode

import (
	"testing"
)

func TestJSONSamples(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		in      string
		samples []string
		errors  []string
	}{
		{
			name: "envelope",
			in: `{"samples":[
				{"labels":{"__name__":"m","namespace":"a","pod":"b"},"t":1700000000000,"v":1.5},
				{"labels":{"__name__":"m","namespace":"a","pod":"c"},"timestamp":"2023-11-14T22:13:20.5Z","v":"2.5"},
				{"labels":{"__name__":"m","namespace":"a","pod":"d"},"v":-3}
			]}`,
			samples: []string{
				`{__name__="m", namespace="a", pod="b"} 1700000000000 1.5`,
				`{__name__="m", namespace="a", pod="c"} 1700000000500 2.5`,
				`{__name__="m", namespace="a", pod="d"} 1700000040000 -3`,
			},
		},
		{
			name:    "bare array and t as RFC3339",
			in:      `[{"labels":{"__name__":"m"},"t":"2023-11-14T22:13:20Z","v":1},{"labels":{"__name__":"n"},"t":1.7e12,"v":2}]`,
			samples: []string{`{__name__="m"} 1700000000000 1`, `{__name__="n"} 1700000000000 2`},
		},
		{
			name:    "single sample",
			in:      `{"labels":{"__name__":"m"},"v":1e3}`,
			samples: []string{`{__name__="m"} 1700000040000 1000`},
		},
		{
			name:    "NDJSON of envelopes and samples with a bad line",
			in:      "{\"samples\":[{\"labels\":{\"__name__\":\"a\"},\"v\":1}]}\n{not json\n\n{\"labels\":{\"__name__\":\"b\"},\"v\":2}\n",
			samples: []string{`{__name__="a"} 1700000040000 1`, `{__name__="b"} 1700000040000 2`},
			errors:  []string{"malformed@2"},
		},
		{
			name:    "stale marker passes",
			in:      `{"samples":[{"labels":{"__name__":"m"},"v":"stale"}]}`,
			samples: []string{`{__name__="m"} 1700000040000 stale`},
		},
		{
			name:    "names are sanitized, empty values dropped",
			in:      `{"samples":[{"labels":{"__name__":"http.requests","app.kubernetes.io/name":"x","e":""},"v":1}]}`,
			samples: []string{`{__name__="http_requests", app_kubernetes_io_name="x"} 1700000040000 1`},
		},
		{
			name: "bad samples",
			in: `{"samples":[
				{"labels":{"__name__":"ok"},"v":1},
				{"labels":{"__name__":"m"},"v":true},
				{"labels":{"__name__":"m"},"v":"abc"},
				{"labels":{"__name__":"m"},"v":"NaN"},
				{"labels":{"__name__":"m"},"v":"-Inf"},
				{"labels":{"__name__":"m"},"v":1e999},
				{"labels":{"__name__":"m"}},
				{"v":1},
				{"labels":{"pod":"x"},"v":1},
				{"labels":["__name__","m"],"v":1},
				{"labels":{"__name__":"m","a":1},"v":1},
				{"labels":{"__name__":"m"},"t":true,"v":1},
				{"labels":{"__name__":"m"},"t":"yesterday","v":1},
				{"labels":{"__name__":"m"},"t":1690000000000,"v":1},
				{"labels":{"__name__":"m"},"timestamp":"2030-01-01T00:00:00Z","v":1},
				{"labels":{"__name__":"1"},"v":1},
				{"labels":{"__name__":"m","a":"\ud800"},"v":1},
				"string",
				{"labels":{"__name__":"m"},"v":{"x":1}}
			]}`,
			// encoding/json turns invalid UTF-8 and lone surrogates into U+FFFD.
			// "NaN" and "-Inf" are values (Prometheus' JSON writes them so);
			// 1e999 is beyond float64.
			samples: []string{
				`{__name__="ok"} 1700000040000 1`, `{__name__="m"} 1700000040000 NaN`, `{__name__="m"} 1700000040000 -Inf`,
				"{__name__=\"m\", a=\"\ufffd\"} 1700000040000 1",
			},
			errors: []string{
				"wrong_type@2", "wrong_type@3", "invalid_value@6",
				"malformed@7", "malformed@8", "malformed@9", "wrong_type@10", "wrong_type@11",
				"wrong_type@12", "malformed@13", "too_old@14", "too_new@15", "malformed@16",
				"wrong_type@18", "wrong_type@19",
			},
		},
		{
			name:    "too many labels",
			opts:    Options{MaxLabels: 2},
			in:      `[{"labels":{"__name__":"m","a":"1"},"v":1},{"labels":{"__name__":"m","a":"1","b":"2"},"v":1}]`,
			samples: []string{`{__name__="m", a="1"} 1700000040000 1`},
			errors:  []string{"too_many_labels@2"},
		},
		{
			name:    "required labels",
			opts:    Options{RequiredLabels: []string{"namespace", "pod"}},
			in:      `[{"labels":{"__name__":"m","namespace":"a","pod":"p"},"v":1},{"labels":{"__name__":"m","namespace":"a"},"v":1}]`,
			samples: []string{`{__name__="m", namespace="a", pod="p"} 1700000040000 1`},
			errors:  []string{"missing_labels@2"},
		},
		{
			name: "keys in other case, escaped keys, unknown keys",
			in: `{"SAMPLES":[{"Labels":{"__name__":"a"},"V":1},{"l\u0061bels":{"__name__":"b"},"v":2,"x":{"y":[1,"]}"]}}],` +
				`"other":"}"}`,
			samples: []string{`{__name__="a"} 1700000040000 1`, `{__name__="b"} 1700000040000 2`},
		},
		{
			name:    "samples not an array, elements not objects",
			in:      `{"samples":{"labels":{"__name__":"a"},"v":1}}` + "\n" + `{"samples":[1,null,{"labels":{"__name__":"a"},"v":1}]}`,
			samples: []string{`{__name__="a"} 1700000040000 1`},
			errors:  []string{"wrong_type@1", "wrong_type@2", "malformed@3"},
		},
		{
			name:   "empty envelopes, then a sample: empty batches are no item",
			in:     `{"samples":[]}` + "\n" + `{"samples":null}` + "\n" + `{"labels":{"__name__":"m"},"v":"x"}`,
			errors: []string{"wrong_type@1"},
		},
		{
			name:   "neither samples nor a sample",
			in:     `{}` + "\n" + `{"sample":[]}`,
			errors: []string{"malformed@1", "malformed@2"},
		},
		{
			name:   "scalar",
			in:     `42`,
			errors: []string{"wrong_type@1"},
		},
		{
			name:   "truncated",
			in:     `{"samples":[{"labels":{"__name__":"m"},"v":1}`,
			errors: []string{"malformed@1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, slow := range []bool{false, true} {
				d := newDecoder(t, tc.opts)
				d.json.noFast = slow
				for pass := 0; pass < 2; pass++ {
					res, _ := decodeAll(t, d, FormatJSON, tc.in)
					equalStrings(t, "samples", fmtSamples(res.Samples), tc.samples)
					equalStrings(t, "errors", fmtErrors(res.Errors), tc.errors)
				}
			}
		})
	}
}
