package decode

import (
	"math"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

const ts = " 1700000000000000000" // 2023-11-14T22:13:20Z in ns

func TestInflux(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		in      string
		samples []string
		errors  []string
	}{
		{
			name:    "float field",
			in:      "cpu,host=a usage=1.5" + ts,
			samples: []string{`{__name__="cpu_usage", host="a"} 1700000000000 1.5`},
		},
		{
			name:    "value field is the measurement",
			in:      "temp,room=k value=21.5" + ts,
			samples: []string{`{__name__="temp", room="k"} 1700000000000 21.5`},
		},
		{
			name:    "prometheus measurement is dropped",
			in:      "prometheus,job=x up=1,http_requests_total=7u" + ts,
			samples: []string{`{__name__="up", job="x"} 1700000000000 1`, `{__name__="http_requests_total", job="x"} 1700000000000 7`},
		},
		{
			name: "integer unsigned bool",
			in:   "m a=-3i,b=4u,c=t,d=FALSE,e=True,f=F" + ts,
			samples: []string{
				`{__name__="m_a"} 1700000000000 -3`, `{__name__="m_b"} 1700000000000 4`,
				`{__name__="m_c"} 1700000000000 1`, `{__name__="m_d"} 1700000000000 0`,
				`{__name__="m_e"} 1700000000000 1`, `{__name__="m_f"} 1700000000000 0`,
			},
		},
		{
			name: "float forms",
			in:   "m a=-0.25,b=1.5e3,c=.5,d=1.,e=+2,f=123456789012345678901234567890,g=0.1" + ts,
			samples: []string{
				`{__name__="m_a"} 1700000000000 -0.25`, `{__name__="m_b"} 1700000000000 1500`,
				`{__name__="m_c"} 1700000000000 0.5`, `{__name__="m_d"} 1700000000000 1`,
				`{__name__="m_e"} 1700000000000 2`, `{__name__="m_f"} 1700000000000 1.2345678901234568e+29`,
				`{__name__="m_g"} 1700000000000 0.1`,
			},
		},
		{
			name:    "string fields are skipped and counted",
			in:      `m,h=a s="x y, z=1",n=2,t="" ` + ts[1:],
			samples: []string{`{__name__="m_n", h="a"} 1700000000000 2`},
			errors:  []string{"string_field@1", "string_field@1"},
		},
		{
			name:   "only string fields",
			in:     `m s="x"` + ts,
			errors: []string{"string_field@1"},
		},
		{
			name:    "repeated field key: last wins",
			in:      `m f=1,g=2,f="s",f=3` + ts,
			samples: []string{`{__name__="m_g"} 1700000000000 2`, `{__name__="m_f"} 1700000000000 3`},
		},
		{
			name:    "missing timestamp takes receive time",
			in:      "m f=1\nm g=2  \n",
			samples: []string{`{__name__="m_f"} 1700000040000 1`, `{__name__="m_g"} 1700000040000 2`},
		},
		{
			name: "escapes",
			in:   `my\ meas,tag\ key=val\,ue\=x,path=C:\\data,odd=a\b field\=k=1,f\,2=2` + ts,
			samples: []string{
				`{__name__="my_meas_field_k", odd="a\\b", path="C:\\data", tag_key="val,ue=x"} 1700000000000 1`,
				`{__name__="my_meas_f_2", odd="a\\b", path="C:\\data", tag_key="val,ue=x"} 1700000000000 2`,
			},
		},
		{
			name:    "sanitized names like telegraf",
			in:      "1cpu.load,host.name=x,-y=z,ü=1 v-1=1" + ts,
			samples: []string{`{__name__="cpu_load_v_1", host_name="x", y="z"} 1700000000000 1`},
		},
		{
			name:    "empty tag values are dropped",
			in:      "m,a=,b=x f=1" + ts,
			samples: []string{`{__name__="m_f", b="x"} 1700000000000 1`},
		},
		{
			name:    "comments blank lines CRLF and leading spaces",
			in:      "# comment\r\n\r\n  m f=1" + ts + "\r\nm g=2\r\n\n",
			samples: []string{`{__name__="m_f"} 1700000000000 1`, `{__name__="m_g"} 1700000040000 2`},
		},
		{
			name: "malformed lines keep good ones and count lines",
			in: strings.Join([]string{
				"m",                 // 1 no fields
				"m f",               // 2 field without value
				"m f=",              // 3 empty value
				"m f=abc",           // 4 bad value
				"m f=1 abc",         // 5 bad timestamp
				"m f=1 1 2",         // 6 garbage after timestamp
				"m =1",              // 7 empty key
				"m f=1i2",           // 8 bad integer
				"m f=-u",            // 9 bad unsigned
				"m f=0x10",          // 10 hex float
				`m f="a"b`,          // 11 garbage after string
				"m f=1,",            // 12 trailing comma
				"ok f=1" + ts,       // 13 good
				`m s="multi`,        // 14 string spanning lines
				`line",f=2` + ts,    // 15 (inside the string)
				"ok g=2" + ts,       // 16 good
				`m f="unterminated`, // 17
			}, "\n"),
			samples: []string{
				`{__name__="ok_f"} 1700000000000 1`,
				`{__name__="m_f"} 1700000000000 2`,
				`{__name__="ok_g"} 1700000000000 2`,
			},
			errors: []string{
				"malformed@1", "malformed@2", "malformed@3", "malformed@4", "malformed@5", "malformed@6",
				"malformed@7", "malformed@8", "malformed@9", "malformed@10", "malformed@11", "malformed@12",
				"string_field@14", "malformed@17",
			},
		},
		{
			name:    "series key errors",
			in:      ",t=1 f=1" + ts + "\nm,tag f=1" + ts + "\nm,=v f=1" + ts + "\nm,a=1,a=2 f=1" + ts + "\nm,__name__=x f=1" + ts + "\n... value=1" + ts + "\n... f=1" + ts,
			samples: []string{`{__name__="f"} 1700000000000 1`},
			errors:  []string{"malformed@1", "malformed@2", "malformed@3", "malformed@4", "malformed@5", "malformed@6"},
		},
		{
			name:   "invalid UTF-8 tag value",
			in:     "m,a=\xff\xfe f=1" + ts,
			errors: []string{"malformed@1"},
		},
		{
			name:    "invalid values",
			in:      "m a=NaN,b=+Inf,c=-inf,d=1e400,e=99999999999999999999i,f=18446744073709551616u,g=1" + ts,
			samples: []string{`{__name__="m_g"} 1700000000000 1`},
			errors:  []string{"invalid_value@1", "invalid_value@1", "invalid_value@1", "invalid_value@1", "invalid_value@1", "invalid_value@1"},
		},
		{
			name:   "too old and too new, one error per field",
			in:     "m a=1,b=2 1690000000000000000\nm a=1 1800000000000000000",
			errors: []string{"too_old@1", "too_old@1", "too_new@2"},
		},
		{
			name:    "max age disabled",
			opts:    Options{MaxAge: -1, MaxFuture: -1},
			in:      "m a=1 1000000000\nm a=2 1800000000000000000",
			samples: []string{`{__name__="m_a"} 1000 1`, `{__name__="m_a"} 1800000000000 2`},
		},
		{
			name:    "precision seconds",
			opts:    Options{Precision: time.Second},
			in:      "m a=1 1700000000\nm a=2 9223372036854775807",
			samples: []string{`{__name__="m_a"} 1700000000000 1`},
			errors:  []string{"too_new@2"},
		},
		{
			name:    "precision micro and milli",
			opts:    Options{Precision: time.Microsecond, MaxAge: -1},
			in:      "m a=1 1700000000000999\nm a=2 -1",
			samples: []string{`{__name__="m_a"} 1700000000000 1`, `{__name__="m_a"} -1 2`},
		},
		{
			name:    "too many labels",
			opts:    Options{MaxLabels: 3},
			in:      "m,a=1,b=2 f=1" + ts + "\nm,a=1,b=2,c=3 f=1" + ts,
			samples: []string{`{__name__="m_f", a="1", b="2"} 1700000000000 1`},
			errors:  []string{"too_many_labels@2"},
		},
		{
			name:    "label value too long",
			opts:    Options{MaxLabelValueLen: 4},
			in:      "m,a=1234 f=1" + ts + "\nm,a=12345 f=1" + ts,
			samples: []string{`{__name__="m_f", a="1234"} 1700000000000 1`},
			errors:  []string{"too_many_labels@2"},
		},
		{
			name:    "required labels",
			opts:    Options{RequiredLabels: []string{"namespace"}},
			in:      "m,namespace=a f=1" + ts + "\nm,pod=b f=1" + ts + "\nm,namespace= f=1" + ts,
			samples: []string{`{__name__="m_f", namespace="a"} 1700000000000 1`},
			errors:  []string{"missing_labels@2", "missing_labels@3"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecoder(t, tc.opts)
			// Twice: the second pass is served from the series cache.
			for pass := 0; pass < 2; pass++ {
				res, _ := decodeAll(t, d, FormatInflux, tc.in)
				equalStrings(t, "samples", fmtSamples(res.Samples), tc.samples)
				equalStrings(t, "errors", fmtErrors(res.Errors), tc.errors)
			}
		})
	}
}

func TestInfluxFixture(t *testing.T) {
	payload, err := os.ReadFile("testdata/telegraf.lp")
	if err != nil {
		t.Fatal(err)
	}
	d := newDecoder(t, Options{})
	res, err := decodeAll(t, d, FormatInflux, string(payload))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		`{__name__="cpu_usage_user", cpu="cpu-total", host="node-1"} 1700000000000 12.5`: true,
		`{__name__="mem_total", host="node-1"} 1700000000000 1.6777216e+10`:              true,
		`{__name__="kubernetes_pod_container_restarts_total", container_name="payments", host="node-1", namespace="shop", node_name="node-1", phase="Running", pod_name="payments-5c6d7-abcde", readiness="unready", state="waiting"} 1700000000000 17`: true,
		`{__name__="module_load_errors_total", namespace="shop", pod="cart-7d9f8b6c5-x2x9k", url="http://cart:9090/metrics"} 1700000000000 4`:                                                                                                           true,
		`{__name__="system_uptime", host="node-1"} 1700000000000 86400`:                                true,
		`{__name__="app_status", host="node-1", label_x="a,b", path="C:\\data"} 1700000000000 1`:       true,
		`{__name__="app_status_is_up", host="node-1", label_x="a,b", path="C:\\data"} 1700000000000 0`: true,
	}
	for _, s := range fmtSamples(res.Samples) {
		delete(want, s)
	}
	for s := range want {
		t.Errorf("missing sample %s", s)
	}
	if got := len(res.Samples); got != 21 {
		t.Errorf("got %d samples, want 21:\n%s", got, strings.Join(fmtSamples(res.Samples), "\n"))
	}
	equalStrings(t, "errors", fmtErrors(res.Errors), []string{"string_field@4", "string_field@5", "string_field@7"})
}

// TestParseFloatFast checks the fast float path against strconv on random
// decimals.
func TestParseFloatFast(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200000; i++ {
		var s string
		switch i % 4 {
		case 0:
			s = strconv.FormatFloat(rng.Float64()*math.Pow(10, float64(rng.Intn(30)-15)), 'f', -1, 64)
		case 1:
			s = strconv.FormatFloat(rng.NormFloat64()*1e6, 'f', rng.Intn(8), 64)
		case 2:
			s = strconv.Itoa(rng.Intn(1 << 30))
		default:
			s = "0." + strings.Repeat("0", rng.Intn(10)) + strconv.Itoa(rng.Intn(1<<40))
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		got, reason := parseInfluxValue([]byte(s))
		if reason != "" || got != want {
			t.Fatalf("parse %q: got %v (%q), want %v", s, got, reason, want)
		}
	}
}
