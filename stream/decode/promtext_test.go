package decode

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestPromText(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		in      string
		samples []string
		errors  []string
	}{
		{
			name: "samples with and without timestamps",
			in: "# HELP up Up.\n# TYPE up gauge\nup{job=\"a\",instance=\"x:1\"} 1\n" +
				"up{job=\"b\"} 0 1700000000000\nno_labels 2.5e3\n",
			samples: []string{
				`{__name__="up", instance="x:1", job="a"} 1700000040000 1`,
				`{__name__="up", job="b"} 1700000000000 0`,
				`{__name__="no_labels"} 1700000040000 2500`,
			},
		},
		{
			name:    "no trailing newline",
			in:      `m{a="b"} 1`,
			samples: []string{`{__name__="m", a="b"} 1700000040000 1`},
		},
		{
			name:    "escaped label values and empty values dropped",
			in:      "m{a=\"x\\\"y\\\\z\\n\",b=\"\"} 1\n",
			samples: []string{`{__name__="m", a="x\"y\\z\n"} 1700000040000 1`},
		},
		{
			name:    "quoted UTF-8 names are sanitized",
			in:      "{\"my.metric\",\"app.kubernetes.io/name\"=\"x\"} 1\n",
			samples: []string{`{__name__="my_metric", app_kubernetes_io_name="x"} 1700000040000 1`},
		},
		{
			name: "syntax errors keep the good lines",
			in:   "a 1\nb{ 2\nc 3\nd x\n# TYPE e nonsense\ne 5\n{} 6\n",
			samples: []string{
				`{__name__="a"} 1700000040000 1`, `{__name__="c"} 1700000040000 3`, `{__name__="e"} 1700000040000 5`,
			},
			errors: []string{"malformed@2", "malformed@4", "malformed@5", "malformed@7"},
		},
		{
			// A summary quantile without observations is NaN; Prometheus
			// keeps NaN and ±Inf as values.
			name: "NaN and Inf are values",
			in:   "# TYPE s summary\ns{quantile=\"0.5\"} NaN\ns_sum 0\ns_count 0\nb +Inf\nc -Inf\nd 4\n",
			samples: []string{
				`{__name__="s", quantile="0.5"} 1700000040000 NaN`, `{__name__="s_sum"} 1700000040000 0`,
				`{__name__="s_count"} 1700000040000 0`, `{__name__="b"} 1700000040000 +Inf`,
				`{__name__="c"} 1700000040000 -Inf`, `{__name__="d"} 1700000040000 4`,
			},
		},
		{
			name:    "too old and too new",
			in:      "a 1 1690000000000\n\n# c\nb 2 1800000000000\nc 3 1700000000000\n",
			samples: []string{`{__name__="c"} 1700000000000 3`},
			errors:  []string{"too_old@1", "too_new@4"},
		},
		{
			name:    "too many labels",
			opts:    Options{MaxLabels: 2},
			in:      "a{x=\"1\"} 1\nb{x=\"1\",y=\"2\"} 1\n",
			samples: []string{`{__name__="a", x="1"} 1700000040000 1`},
			errors:  []string{"too_many_labels@2"},
		},
		{
			name:    "required labels",
			opts:    Options{RequiredLabels: []string{"namespace"}},
			in:      "a{namespace=\"n\"} 1\nb 1\n",
			samples: []string{`{__name__="a", namespace="n"} 1700000040000 1`},
			errors:  []string{"missing_labels@2"},
		},
		{
			name:   "only garbage",
			in:     "this is not prometheus\n",
			errors: []string{"malformed@1"},
		},
		{
			name: "metadata only: a batch of nothing",
			in:   "# HELP m A counter without children.\n# TYPE m counter\n# just a comment\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecoder(t, tc.opts)
			for pass := 0; pass < 2; pass++ {
				res, _ := decodeAll(t, d, FormatPromText, tc.in)
				equalStrings(t, "samples", fmtSamples(res.Samples), tc.samples)
				equalStrings(t, "errors", fmtErrors(res.Errors), tc.errors)
			}
		})
	}
}

func TestPromTextFixture(t *testing.T) {
	payload, err := os.ReadFile("testdata/kube-state-metrics.prom")
	if err != nil {
		t.Fatal(err)
	}
	d := newDecoder(t, Options{})
	res, err := decodeAll(t, d, FormatPromText, string(payload))
	if err != nil {
		t.Fatal(err)
	}
	got := fmtSamples(res.Samples)
	if len(got) != 7 || len(res.Errors) != 0 {
		t.Fatalf("got %d samples, %v errors:\n%s", len(got), res.Errors, strings.Join(got, "\n"))
	}
	for _, want := range []string{
		`{__name__="kube_pod_container_status_restarts_total", container="payments", namespace="shop", pod="payments-5c6d7-abcde", uid="0b4f6a2e-7e1d-4c3b-8a9f-1d2e3f4a5b6c"} 1700000040000 17`,
		`{__name__="kube_deployment_status_replicas_unavailable", deployment="payments", namespace="shop"} 1700000000000 1`,
		`{__name__="kube_pod_container_resource_limits", container="cart", namespace="shop", node="node-1", pod="cart-7d9f8b6c5-x2x9k", resource="memory", uid="5f0c6c1e-0d2a-4b9e-9c5a-0e7b9f1d2c3a", unit="byte"} 1700000040000 2.68435456e+08`,
	} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("missing %s", want)
		}
	}
}

// TestPromTextNoWriteBeyondPayload checks that decoding never writes into
// the spare capacity of the caller's buffer.
func TestPromTextNoWriteBeyondPayload(t *testing.T) {
	buf := make([]byte, 0, 64)
	buf = append(buf, "a 1"...)
	full := buf[:cap(buf)]
	for i := len(buf); i < len(full); i++ {
		full[i] = 'Z'
	}
	d := newDecoder(t, Options{})
	var res Result
	if err := d.Decode(FormatPromText, buf, testRecv, &res); err != nil {
		t.Fatal(err)
	}
	if full[len(buf)] != 'Z' {
		t.Fatalf("decoder wrote %q beyond the payload", full[len(buf)])
	}
}

// TestPromTextNULLine: the Prometheus parser takes a NUL starting a line
// for the end of its input: the lines after it were dropped unreported.
// They are decoded, and the NUL line is malformed.
func TestPromTextNULLine(t *testing.T) {
	d := newDecoder(t, Options{})
	res, err := decodeAll(t, d, FormatPromText, "a 1\n\x00b 2\nc 3\n")
	if err != nil {
		t.Fatal(err)
	}
	equalStrings(t, "samples", fmtSamples(res.Samples), []string{`{__name__="a"} 1700000040000 1`, `{__name__="c"} 1700000040000 3`})
	equalStrings(t, "errors", fmtErrors(res.Errors), []string{"malformed@2"})
}

// TestOpenMetrics checks OpenMetrics text (application/openmetrics-text,
// FormatOpenMetrics): its timestamps are seconds, fractional allowed,
// and become milliseconds; the Prometheus text decoder reads the same
// digits as milliseconds (its format's unit), so 1700000000 is a time
// in 1970, and refuses a fractional one.
func TestOpenMetrics(t *testing.T) {
	tests := []struct {
		name, payload string
		f             Format
		samples       []string
		errors        []string
	}{
		{"reviewer's payload", "# TYPE up gauge\nup{job=\"a\"} 1\n# EOF", FormatOpenMetrics,
			[]string{`{__name__="up", job="a"} 1700000040000 1`}, nil},
		{"seconds", "# TYPE up gauge\nup{job=\"a\"} 1 1700000000\n# EOF\n", FormatOpenMetrics,
			[]string{`{__name__="up", job="a"} 1700000000000 1`}, nil},
		{"fractional seconds", "up{job=\"a\"} 2 1700000000.25\nup{job=\"b\"} 3 1.7e9\n# EOF\n", FormatOpenMetrics,
			[]string{`{__name__="up", job="a"} 1700000000250 2`, `{__name__="up", job="b"} 1700000000000 3`}, nil},
		{"no # EOF (cut by a bridge)", "up{job=\"a\"} 1 1700000000\nup{job=\"b\"} 0", FormatOpenMetrics,
			[]string{`{__name__="up", job="a"} 1700000000000 1`, `{__name__="up", job="b"} 1700000040000 0`}, nil},
		{"counter, exemplar, _created", "# TYPE req counter\nreq_total{code=\"200\"} 5 1700000000 # {trace_id=\"abc\"} 1 1699999999.5\nreq_created{code=\"200\"} 1699990000\n# EOF\n", FormatOpenMetrics,
			[]string{`{__name__="req_total", code="200"} 1700000000000 5`, `{__name__="req_created", code="200"} 1700000040000 1.69999e+09`}, nil},
		{"bad line among good", "up{job=\"a\"} 1 1700000000\nup{job=\"b\" 1\nup{job=\"c\"} 2 1700000000.5\n# EOF\n", FormatOpenMetrics,
			[]string{`{__name__="up", job="a"} 1700000000000 1`, `{__name__="up", job="c"} 1700000000500 2`}, []string{"malformed@2"}},
		{"milliseconds are not seconds", "up{job=\"a\"} 1 1700000000000\n# EOF\n", FormatOpenMetrics,
			nil, []string{"too_new@1"}},
		{"empty exposition", "# EOF\n", FormatOpenMetrics, nil, nil},
		{"lines after # EOF are read", "a 1\n# EOF\nb 2 1700000000\n", FormatOpenMetrics,
			[]string{`{__name__="a"} 1700000040000 1`, `{__name__="b"} 1700000000000 2`}, nil},
		// The same digits as Prometheus text are milliseconds.
		{"prom text: milliseconds", "up{job=\"a\"} 1 1700000000000\n", FormatPromText,
			[]string{`{__name__="up", job="a"} 1700000000000 1`}, nil},
		{"prom text: seconds are a time in 1970", "up{job=\"a\"} 1 1700000000\n", FormatPromText,
			nil, []string{"too_old@1"}},
		{"prom text: fractional refused", "up{job=\"a\"} 1 1700000000.5\n", FormatPromText,
			nil, []string{"malformed@1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var res Result
			err := newDecoder(t, Options{}).Decode(tc.f, []byte(tc.payload), testRecv, &res)
			if got := fmtSamples(res.Samples); !slices.Equal(got, tc.samples) && (len(got) != 0 || len(tc.samples) != 0) {
				t.Errorf("samples = %q, want %q", got, tc.samples)
			}
			if got := fmtErrors(res.Errors); !slices.Equal(got, tc.errors) && (len(got) != 0 || len(tc.errors) != 0) {
				t.Errorf("errors = %q, want %q (%v)", got, tc.errors, res.Errors)
			}
			if (err != nil) != (len(tc.samples) == 0 && len(tc.errors) > 0) {
				t.Errorf("Decode error %v", err)
			}
		})
	}
}
