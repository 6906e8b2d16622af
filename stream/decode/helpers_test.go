package decode

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/omen-sre/omen/telemetry"
)

// testNow is the fixed "now" of the tests: 2023-11-14T22:15:00Z, shortly
// after the fixtures' timestamps (1700000000 s = 22:13:20Z).
var testNow = time.Date(2023, 11, 14, 22, 15, 0, 0, time.UTC)

// testRecv is the receive time used for samples without a timestamp.
var testRecv = time.Date(2023, 11, 14, 22, 14, 0, 0, time.UTC)

func newDecoder(tb testing.TB, opts Options) *Decoder {
	tb.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	d, err := New(opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return d
}

// fmtSample renders a sample compactly: labels, time in ms, value.
func fmtSample(s telemetry.Sample) string {
	v := strconv.FormatFloat(s.V, 'g', -1, 64)
	if value.IsStaleNaN(s.V) {
		v = "stale"
	}
	return fmt.Sprintf("%s %d %s", s.Labels.String(), s.T, v)
}

func fmtSamples(ss []telemetry.Sample) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, fmtSample(s))
	}
	return out
}

// fmtErrors renders errors as "reason@line".
func fmtErrors(es []Error) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s@%d", e.Reason, e.Line))
	}
	return out
}

func fmtEvent(e telemetry.Event) string {
	return fmt.Sprintf("%s %s %s %s %d %d %s uid=%s msg=%q", e.Source, e.Reason, e.Type, e.Labels.String(), e.T, e.Count, "", e.UID, e.Message)
}

func equalStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// checkResult verifies the decoder's contract on the part of res appended by
// one Decode call (from the given offsets) and its returned error.
func checkResult(t *testing.T, res *Result, nS, nE, nErr int, err error) {
	t.Helper()
	known := Reasons()
	for _, s := range res.Samples[nS:] {
		if msg := sampleProblem(s); msg != "" {
			t.Fatalf("invalid sample %s: %s", fmtSample(s), msg)
		}
	}
	for _, e := range res.Events[nE:] {
		if msg := labelsProblem(e.Labels, false); msg != "" {
			t.Fatalf("invalid event labels %s: %s", e.Labels, msg)
		}
		if e.Count < 1 || e.Reason == "" || (e.Source != telemetry.SourceKubernetes && e.Source != telemetry.SourceModule) {
			t.Fatalf("invalid event %+v", e)
		}
	}
	for _, e := range res.Errors[nErr:] {
		if !slices.Contains(known, e.Reason) {
			t.Fatalf("unknown reason %q in %v", e.Reason, e)
		}
		if e.Line < 0 {
			t.Fatalf("negative line in %v", e)
		}
	}
	produced := len(res.Samples) > nS || len(res.Events) > nE
	switch {
	case produced && err != nil:
		t.Fatalf("Decode returned %v although it produced values", err)
	case !produced && err == nil && len(res.Errors) > nErr && !onlyStringFields(res.Errors[nErr:]):
		// Only a payload of string fields alone, or a well-formed batch
		// of nothing (no Error), is taken without error.
		t.Fatalf("Decode returned nil although it produced nothing and rejected %v", res.Errors[nErr:])
	case !produced && err != nil && onlyStringFields(res.Errors[nErr:]):
		t.Fatalf("Decode returned %v for a payload of string fields only (skipped by design, not dead-lettered)", err)
	case err != nil:
		de, ok := AsError(err)
		if !ok || !slices.Contains(known, de.Reason) {
			t.Fatalf("Decode error %v does not wrap an Error with a known reason", err)
		}
		if len(res.Errors) == nErr {
			t.Fatalf("Decode returned %v but recorded no Error", err)
		}
	}
}

// sampleProblem checks a sample's labels. Every float64 is a sample
// value (NaN, ±Inf and the stale marker included), as in Prometheus.
func sampleProblem(s telemetry.Sample) string {
	name := s.Labels.Get(pmodel.MetricNameLabel)
	if !validMetricName(name) {
		return fmt.Sprintf("invalid metric name %q", name)
	}
	return labelsProblem(s.Labels, true)
}

func labelsProblem(ls labels.Labels, metric bool) string {
	prev := ""
	var problem string
	n := 0
	ls.Range(func(l labels.Label) {
		n++
		switch {
		case problem != "":
		case l.Name <= prev && n > 1:
			problem = "labels not sorted or duplicated"
		case !validLabelName(l.Name):
			problem = fmt.Sprintf("invalid label name %q", l.Name)
		case l.Value == "":
			problem = fmt.Sprintf("empty value of %s", l.Name)
		case !utf8.ValidString(l.Value):
			problem = fmt.Sprintf("invalid UTF-8 in %s", l.Name)
		case strings.IndexByte(l.Value, 0) >= 0:
			problem = fmt.Sprintf("NUL byte in %s", l.Name)
		case !metric && strings.HasPrefix(l.Name, "__"):
			problem = fmt.Sprintf("reserved label %s on an event", l.Name)
		}
		prev = l.Name
	})
	if problem == "" && n > DefaultMaxLabels {
		problem = "too many labels"
	}
	return problem
}

// decodeOK decodes and fails the test on contract violations.
func decodeAll(t *testing.T, d *Decoder, f Format, payload string) (*Result, error) {
	t.Helper()
	var res Result
	err := d.Decode(f, []byte(payload), testRecv, &res)
	checkResult(t, &res, 0, 0, 0, err)
	return &res, err
}

var _ = errors.New

// onlyStringFields reports whether errs are string_field rejections, at
// least one.
func onlyStringFields(errs []Error) bool {
	return len(errs) > 0 && !slices.ContainsFunc(errs, func(e Error) bool { return e.Reason != ReasonStringField })
}
