package decode

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		subject, contentType string
		want                 Format
		wantErr              bool
	}{
		{"omen.metrics", "", FormatInflux, false},
		{"omen.metrics.influx", "", FormatInflux, false},
		{"omen.metrics.influx.p3", "", FormatInflux, false},
		{"omen.metrics.prom", "", FormatPromText, false},
		{"omen.metrics.prometheus.p0", "", FormatPromText, false},
		{"omen.metrics.json", "", FormatJSON, false},
		{"omen.metrics.JSON", "", FormatJSON, false},
		{"prod.omen.metrics.lp", "", FormatInflux, false},
		{"omen.metrics.xml", "", "", true},
		{"omen.metrics.p3", "", "", true},
		{"omen.events", "", FormatEvents, false},
		{"omen.events.k8s", "", FormatKubernetesEvents, false},
		{"omen.events.kubernetes.p1", "", FormatKubernetesEvents, false},
		{"omen.events.module", "", FormatModuleEvents, false},
		{"omen.events.json", "", FormatEvents, false},
		{"omen.events.csv", "", "", true},
		{"something.else", "", "", true},
		{"", "", "", true},
		// Content-Type wins when recognised.
		{"omen.metrics.influx", "text/plain; version=0.0.4; charset=utf-8", FormatPromText, false},
		{"", "text/plain; version=0.0.4", FormatPromText, false},
		{"omen.metrics.prom", "application/x-influx-line-protocol", FormatInflux, false},
		{"", "application/x-influx-line-protocol", FormatInflux, false},
		{"omen.metrics", "application/json", FormatJSON, false},
		{"omen.metrics.influx", "application/json; charset=utf-8", FormatJSON, false},
		{"omen.events", "application/json", FormatEvents, false},
		{"omen.events.k8s", "application/x-ndjson", FormatKubernetesEvents, false},
		{"omen.events.module.p2", "application/json", FormatModuleEvents, false},
		{"other", "application/json", "", true},
		// Content-Types that name no format leave the choice to the subject,
		// as no header does (Telegraf's outputs.nats sends none).
		{"omen.metrics", "text/plain; charset=utf-8", FormatInflux, false},
		{"omen.metrics.prom", "text/plain", FormatPromText, false},
		{"omen.metrics", "application/octet-stream", FormatInflux, false},
		{"omen.events", "application/octet-stream", FormatEvents, false},
		{"omen.metrics", " ", FormatInflux, false},
		{"other", "application/octet-stream", "", true},
		// A recognised Content-Type that contradicts the subject's format
		// token wins, as it did before unrecognised ones were refused.
		{"omen.metrics.json", "application/x-influx-line-protocol", FormatInflux, false},
		// OpenMetrics (timestamps in seconds: FormatOpenMetrics converts).
		{"omen.metrics.prom", "application/openmetrics-text; version=1.0.0; charset=utf-8", FormatOpenMetrics, false},
		{"omen.metrics", "application/openmetrics-text; version=1.0.0", FormatOpenMetrics, false},
		{"omen.metrics.influx", "application/openmetrics-text", FormatOpenMetrics, false},
		// Other JSON spellings: +json suffixes (CloudEvents-based event
		// forwarders), text/json, application/x-json.
		{"omen.events", "application/cloudevents+json; charset=utf-8", FormatEvents, false},
		{"omen.events.k8s", "application/cloudevents-batch+json", FormatKubernetesEvents, false},
		{"omen.metrics.json", "text/json", FormatJSON, false},
		{"omen.metrics.json", "application/x-json", FormatJSON, false},
		{"omen.metrics", "application/vnd.api+json", FormatJSON, false},
		{"omen.metrics.json", "application/+json", FormatJSON, false},
		// A header whose parameters do not parse is read by its media type
		// (net/http does the same).
		{"omen.metrics.prom", "text/plain;charset=utf-8,", FormatPromText, false},
		{"omen.metrics", "text/plain;charset=utf-8,", FormatInflux, false},
		{"omen.metrics", "application/json;charset=utf-8,", FormatJSON, false},
		// An unrecognised Content-Type on a subject that names its format
		// (bridges pass upstream headers through): the subject decides.
		{"omen.metrics.influx", "application/xml", FormatInflux, false},
		{"omen.metrics.prom", "application/x-protobuf", FormatPromText, false},
		{"omen.metrics.json", ";;;", FormatJSON, false},
		{"omen.events", "text/csv", FormatEvents, false},
		{"omen.events.module", "text/html", FormatModuleEvents, false},
		{"omen.metrics.xml", "application/xml", "", true},
		// On a metrics subject without a format token it is an error naming
		// it (influx would be a guess, dead-lettered as malformed line
		// protocol).
		{"omen.metrics", "application/xml", "", true},
		{"omen.metrics", "application/x-protobuf", "", true},
		{"prod.omen.metrics", "text/csv", "", true},
		{"omen.metrics", ";;;", "", true},
		{"other", "application/xml", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.subject+"|"+tc.contentType, func(t *testing.T) {
			got, err := Detect(tc.subject, tc.contentType)
			if tc.wantErr {
				e, ok := AsError(err)
				if !ok || e.Reason != ReasonUnknownFormat {
					t.Fatalf("Detect = %q, %v; want an unknown_format error", got, err)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("content type %q", strings.TrimSpace(tc.contentType))) {
					t.Fatalf("Detect error %q does not name the content type %q", err, tc.contentType)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Detect = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestDetectUnsupportedContentType checks that the error for an
// unrecognised Content-Type names it and lists every recognised one, so
// that a dead letter's Omen-Dlq-Error tells the publisher what to send.
func TestDetectUnsupportedContentType(t *testing.T) {
	for _, ct := range []string{"application/x-protobuf", "application/xml", ";;;"} {
		_, err := Detect("omen.metrics", ct)
		e, ok := AsError(err)
		if !ok || e.Reason != ReasonUnknownFormat {
			t.Fatalf("Detect(omen.metrics, %q) = %v; want an unknown_format error", ct, err)
		}
		msg := err.Error()
		for _, want := range append(ContentTypes(), fmt.Sprintf("content type %q", ct), "version=0.0.4", "+json", "omen.metrics.influx", "no Content-Type") {
			if !strings.Contains(msg, want) {
				t.Errorf("Detect(omen.metrics, %q) error %q does not mention %q", ct, msg, want)
			}
		}
		if len(msg) > 1024 {
			t.Errorf("error of %d bytes is cut in Omen-Dlq-Error (1024)", len(msg))
		}
	}
	// Every recognised type gives a format, none an error.
	for _, ct := range ContentTypes() {
		if _, err := Detect("omen.metrics", ct); err != nil {
			t.Errorf("Detect(omen.metrics, %q) = %v; want a format", ct, err)
		}
	}
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"defaults", Options{}, true},
		{"all set", Options{MaxAge: time.Hour, MaxFuture: time.Minute, MaxMessageBytes: 10, MaxLabels: 3, MaxLabelValueLen: 5, Precision: time.Millisecond, RequiredLabels: []string{"namespace"}, CacheSize: 1, MaxErrorDetails: 1}, true},
		{"bad precision", Options{Precision: time.Minute}, false},
		{"negative bytes", Options{MaxMessageBytes: -1}, false},
		{"negative labels", Options{MaxLabels: -1}, false},
		{"negative value len", Options{MaxLabelValueLen: -1}, false},
		{"negative cache", Options{CacheSize: -1}, false},
		{"negative details", Options{MaxErrorDetails: -1}, false},
		{"bad required label", Options{RequiredLabels: []string{"a-b"}}, false},
		{"bad required event label", Options{RequiredEventLabels: []string{""}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestDecodePayloadErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		format  Format
		in      string
		reason  string
		nErrors int
	}{
		{"too large", Options{MaxMessageBytes: 8}, FormatInflux, "m f=1 1700000000000000000", ReasonTooLarge, 1},
		{"too large json", Options{MaxMessageBytes: 8}, FormatJSON, `{"samples":[]}`, ReasonTooLarge, 1},
		{"unknown format", Options{}, Format("xml"), "<a/>", ReasonUnknownFormat, 1},
		{"all bad", Options{}, FormatInflux, "a\nb\nc", ReasonMalformed, 3},
		{"all too old", Options{}, FormatInflux, "m f=1 1", ReasonTooOld, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecoder(t, tc.opts)
			var res Result
			err := d.Decode(tc.format, []byte(tc.in), testRecv, &res)
			checkResult(t, &res, 0, 0, 0, err)
			e, ok := AsError(err)
			if !ok || e.Reason != tc.reason {
				t.Fatalf("Decode = %v, want reason %s", err, tc.reason)
			}
			if len(res.Errors) != tc.nErrors {
				t.Fatalf("got errors %v, want %d", res.Errors, tc.nErrors)
			}
		})
	}
}

func TestResultAccumulatesAndResets(t *testing.T) {
	d := newDecoder(t, Options{})
	var res Result
	for i := 0; i < 3; i++ {
		if err := d.Decode(FormatInflux, []byte("m f=1\nbad"), testRecv, &res); err != nil {
			t.Fatal(err)
		}
	}
	if len(res.Samples) != 3 || len(res.Errors) != 3 {
		t.Fatalf("got %d samples %d errors, want 3 and 3", len(res.Samples), len(res.Errors))
	}
	res.Reset()
	if len(res.Samples) != 0 || len(res.Errors) != 0 || len(res.Events) != 0 || cap(res.Samples) < 3 {
		t.Fatalf("Reset left %+v", res)
	}
}

func TestZeroReceivedUsesNow(t *testing.T) {
	d := newDecoder(t, Options{})
	var res Result
	if err := d.Decode(FormatInflux, []byte("m f=1"), time.Time{}, &res); err != nil {
		t.Fatal(err)
	}
	if got := res.Samples[0].T; got != testNow.UnixMilli() {
		t.Fatalf("T = %d, want %d", got, testNow.UnixMilli())
	}
}

// TestNoAliasing checks that samples and events stay intact when the
// caller reuses the payload buffer.
func TestNoAliasing(t *testing.T) {
	payloads := []struct {
		f  Format
		in string
	}{
		{FormatInflux, "mmm,ttt=vvv fff=1"},
		{FormatPromText, `mmm{ttt="vvv"} 1`},
		{FormatJSON, `{"labels":{"__name__":"mmm","ttt":"vvv"},"v":1}`},
		{FormatModuleEvents, `{"reason":"rrr","pod":"vvv","message":"xxx"}`},
		{FormatKubernetesEvents, `{"reason":"rrr","message":"xxx","involvedObject":{"kind":"Pod","name":"vvv"}}`},
	}
	for _, p := range payloads {
		t.Run(string(p.f), func(t *testing.T) {
			d := newDecoder(t, Options{})
			buf := []byte(p.in)
			var res Result
			if err := d.Decode(p.f, buf, testRecv, &res); err != nil {
				t.Fatal(err)
			}
			before := fmt.Sprint(res.Samples, res.Events)
			for i := range buf {
				buf[i] = 'X'
			}
			if after := fmt.Sprint(res.Samples, res.Events); after != before {
				t.Fatalf("result changed with the payload:\n%s\n%s", before, after)
			}
		})
	}
}

// TestCacheEviction decodes more series than the cache holds, repeatedly,
// and checks every sample keeps its own labels.
func TestCacheEviction(t *testing.T) {
	d := newDecoder(t, Options{CacheSize: 4})
	var b strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "m,s=%d f=%d\n", i%13, i%13)
	}
	for pass := 0; pass < 3; pass++ {
		var res Result
		if err := d.Decode(FormatInflux, []byte(b.String()), testRecv, &res); err != nil {
			t.Fatal(err)
		}
		for _, s := range res.Samples {
			if got, want := s.Labels.Get("s"), fmt.Sprint(s.V); got != want {
				t.Fatalf("sample %s has label s=%s", fmtSample(s), got)
			}
		}
		if n := d.cache.len(); n > 8 {
			t.Fatalf("cache holds %d entries, want at most 8", n)
		}
	}
}

func TestErrorDetails(t *testing.T) {
	d := newDecoder(t, Options{MaxErrorDetails: 2})
	var res Result
	err := d.Decode(FormatInflux, []byte("a\nb\nc\nd"), testRecv, &res)
	if err == nil {
		t.Fatal("want an error")
	}
	if len(res.Errors) != 4 {
		t.Fatalf("got %d errors, want 4", len(res.Errors))
	}
	for i, e := range res.Errors {
		if (e.Msg != "") != (i < 2) {
			t.Errorf("error %d: %q", i, e.Msg)
		}
		if !strings.Contains(e.Error(), fmt.Sprintf("line %d: malformed", i+1)) {
			t.Errorf("Error() = %q", e.Error())
		}
	}
	if !errors.Is(err, res.Errors[0]) {
		t.Errorf("returned error %v does not wrap the first Error", err)
	}
}

func TestReasonsAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		if seen[r] || r == "" {
			t.Fatalf("duplicate or empty reason %q", r)
		}
		seen[r] = true
	}
	if len(seen) != 10 {
		t.Fatalf("got %d reasons, want 10", len(seen))
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		f    Format
		in   string
		want string
	}{
		{FormatInflux, "m f=abc", `line 1: malformed: invalid field value: "abc"`},
		{FormatInflux, "m f=1 12x", `line 1: malformed: invalid timestamp: "12x"`},
		{FormatInflux, "m,a=1,a=2 f=1", "line 1: malformed: duplicate label a"},
		{FormatInflux, `m s="x"`, `line 1: string_field: field "s" value "\"x\""`},
		{FormatInflux, "m f=1 1", `line 1: too_old: timestamp 1970-01-01T00:00:00Z of field "f"`},
		{FormatPromText, "a{", `line 1: malformed: expected label name, got "\n" ("INVALID") while parsing: "a{\n"`},
		{FormatJSON, `{"labels":{"__name__":"m"},"v":true}`, `line 1: wrong_type: value "true"`},
		{FormatKubernetesEvents, `{"reason":"X"}`, "line 1: malformed: kubernetes event has no involvedObject or regarding"},
		{FormatModuleEvents, `{"reason":"X","count":-1}`, `line 1: invalid_value: count "-1"`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d := newDecoder(t, Options{})
			var res Result
			_ = d.Decode(tc.f, []byte(tc.in), testRecv, &res)
			if len(res.Errors) != 1 || res.Errors[0].Error() != tc.want {
				t.Fatalf("errors %q, want %q", res.Errors, tc.want)
			}
		})
	}
}

// TestDetectThenDecode runs every fixture through Detect and Decode the way
// the NATS consumer does.
func TestDetectThenDecode(t *testing.T) {
	tests := []struct {
		subject, contentType, fixture string
		samples, events               int
	}{
		{"omen.metrics.influx.p3", "", "telegraf.lp", 21, 0},
		{"omen.metrics", "", "telegraf.lp", 21, 0},
		{"omen.metrics.prom", "", "kube-state-metrics.prom", 7, 0},
		{"omen.metrics", "text/plain; version=0.0.4", "kube-state-metrics.prom", 7, 0},
		{"omen.metrics.influx", "application/xml", "telegraf.lp", 21, 0},
		{"omen.events", "application/cloudevents+json", "k8s-event-exporter.json", 0, 1},
		{"omen.events", "", "k8s-event-exporter.json", 0, 1},
		{"omen.events.k8s", "application/json", "vector-k8s-event.json", 0, 1},
		{"omen.events", "", "module-events.ndjson", 0, 3},
		{"omen.events.module.p0", "", "module-events.ndjson", 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.subject+"/"+tc.fixture, func(t *testing.T) {
			f, err := Detect(tc.subject, tc.contentType)
			if err != nil {
				t.Fatal(err)
			}
			res, err := decodeAll(t, newDecoder(t, Options{}), f, readFixture(t, tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Samples) != tc.samples || len(res.Events) != tc.events {
				t.Fatalf("%s: got %d samples %d events, want %d and %d", f, len(res.Samples), len(res.Events), tc.samples, tc.events)
			}
		})
	}
}
