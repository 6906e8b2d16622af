package decode

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// fuzzDecode checks the decoder contract on one payload: no panic, valid
// samples and events, known reasons, a non-nil error exactly when nothing
// was produced, and the same output when the payload is decoded again
// through the series cache.
func fuzzDecode(t *testing.T, f Format, payload []byte) {
	d := newDecoder(t, Options{CacheSize: 8, MaxAge: -1, MaxFuture: -1})
	var first, second Result
	err := d.Decode(f, payload, testRecv, &first)
	checkResult(t, &first, 0, 0, 0, err)
	if len(first.Samples) == 0 && len(first.Events) == 0 && len(first.Errors) == 0 && !emptyPayload(f, payload) {
		t.Fatalf("Decode(%q) took a payload that is no empty batch for one: nothing decoded and nothing rejected", payload)
	}
	err2 := d.Decode(f, payload, testRecv, &second)
	checkResult(t, &second, 0, 0, 0, err2)
	if !slices.Equal(fmtSamples(first.Samples), fmtSamples(second.Samples)) ||
		!slices.Equal(fmtErrors(first.Errors), fmtErrors(second.Errors)) ||
		len(first.Events) != len(second.Events) {
		t.Fatalf("second decode differs:\n%v %v\n%v %v", fmtSamples(first.Samples), first.Errors, fmtSamples(second.Samples), second.Errors)
	}
	// The bounded default options must hold too.
	d = newDecoder(t, Options{})
	var third Result
	err3 := d.Decode(f, payload, testRecv, &third)
	checkResult(t, &third, 0, 0, 0, err3)
}

func addFixture(f *testing.F, name string) {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

func FuzzInflux(f *testing.F) {
	addFixture(f, "telegraf.lp")
	for _, s := range []string{
		"m,t=v f=1.5,g=2i,h=3u,i=t,j=\"s\" 1700000000000000000",
		`my\ m,t\,k=v\=x\\ f\=1=1`,
		"m s=\"a\nb\",f=1\r\n",
		"m f=1e400,g=NaN,h=99999999999999999999i 1",
		"prometheus,a=b up=1",
		// Empty batches: nothing to decode, nothing rejected.
		"", " \n\r\n", "# comment only\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) { fuzzDecode(t, FormatInflux, payload) })
}

func FuzzPromText(f *testing.F) {
	addFixture(f, "kube-state-metrics.prom")
	for _, s := range []string{
		"a{b=\"c\\\"d\"} 1 1700000000000\nb NaN\n",
		"{\"a.b\",\"c.d\"=\"e\"} 1\n",
		"a 1\nb{ 2\nc 3",
		"", "\r\n", "# HELP m Help.\n# TYPE m counter\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) { fuzzDecode(t, FormatPromText, payload) })
}

func FuzzOpenMetrics(f *testing.F) {
	for _, s := range []string{
		"# TYPE up gauge\nup{job=\"a\"} 1\n# EOF",
		"a{b=\"c\\\"d\"} 1 1700000000.25\nb NaN\n# EOF\n",
		"# TYPE req counter\nreq_total 5 1700000000 # {trace_id=\"x\"} 1 1699999999.5\nreq_created 1.6e9\n# EOF\n",
		"a 1\nb{ 2\nc 3", "a 1\n# EOF\nb 2\n",
		"", "\r\n", "# EOF\n", "# EOF\n# EOF\n", "# HELP m Help.\n# TYPE m counter\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) { fuzzDecode(t, FormatOpenMetrics, payload) })
}

func FuzzJSONSamples(f *testing.F) {
	for _, s := range []string{
		`{"samples":[{"labels":{"__name__":"m","namespace":"a","pod":"b"},"t":1700000000000,"v":1.5}]}`,
		`[{"labels":{"__name__":"m"},"timestamp":"2023-11-14T22:13:20Z","v":"stale"}]`,
		"{\"labels\":{\"__name__\":\"m\"},\"v\":1}\n{bad\n{\"labels\":{\"__name__\":\"n\"},\"v\":\"2\"}",
		`{"samples":[{"labels":{"__name__":"1.x","a-b":"c"},"t":"x","v":true}]}`,
		// Empty batches, and what only looks like one.
		"", "[]", "null", `{"samples":[]}`, `{"samples":null}`, "[]\n{\"Samples\":null}", "{}", "[null]", "[[]]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		fuzzDecode(t, FormatJSON, payload)
		// The fast path and the encoding/json path agree.
		fast, slow := newDecoder(t, Options{}), newDecoder(t, Options{})
		slow.json.noFast = true
		var rf, rs Result
		errF := fast.Decode(FormatJSON, payload, testRecv, &rf)
		errS := slow.Decode(FormatJSON, payload, testRecv, &rs)
		if !slices.Equal(fmtSamples(rf.Samples), fmtSamples(rs.Samples)) ||
			!slices.Equal(fmtErrors(rf.Errors), fmtErrors(rs.Errors)) || (errF == nil) != (errS == nil) {
			t.Fatalf("fast and slow JSON paths differ:\nfast %v %v %v\nslow %v %v %v",
				fmtSamples(rf.Samples), fmtErrors(rf.Errors), errF, fmtSamples(rs.Samples), fmtErrors(rs.Errors), errS)
		}
	})
}

func FuzzK8sEvent(f *testing.F) {
	addFixture(f, "k8s-event-exporter.json")
	addFixture(f, "vector-k8s-event.json")
	for _, s := range []string{
		`{"type":"ADDED","object":{"reason":"Killing","involvedObject":{"kind":"Pod","namespace":"a","name":"p"}}}`,
		`{"items":[{"reason":"X","series":{"count":3,"lastObservedTime":"2023-11-14T22:13:00Z"},"involvedObject":{"kind":"Pod","name":"p","fieldPath":"spec.containers{c}","labels":{"a.b/c":"d"}}}]}`,
		`{"message":"{\"reason\":\"OOMKilling\",\"involvedObject\":{\"kind\":\"Node\",\"name\":\"n1\"}}"}`,
		// events.k8s.io/v1: a series, an EventList, a watch event, the deprecated fields.
		v1BackOff,
		`{"apiVersion":"events.k8s.io/v1","kind":"EventList","items":[` + v1Converted + `,` + v1Singleton + `]}`,
		`{"type":"ADDED","object":{"apiVersion":"events.k8s.io/v1","reason":"Killing","regarding":{"kind":"Pod","namespace":"a","name":"p"},"note":"Stopping container app","series":{"count":2,"lastObservedTime":"2023-11-14T22:13:00.000000Z"}}}`,
		`{"reason":"X","regarding":{"name":"p"},"deprecated_count":3,"deprecated_last_timestamp":"2023-11-14T22:13:00Z","deprecated_source":{"host":"n"}}`,
		// Empty batches.
		"", "[]", "null", `{"apiVersion":"v1","kind":"List","items":[]}`, `{"items":null,"events":[{"reason":"X"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		fuzzDecode(t, FormatKubernetesEvents, payload)
		fuzzDecode(t, FormatEvents, payload)
	})
}

func FuzzModuleEvent(f *testing.F) {
	addFixture(f, "module-events.ndjson")
	for _, s := range []string{
		`{"time":1700000000000,"namespace":"a","pod":"p","module":"m","reason":"ModuleLoadError","count":2}`,
		`{"events":[{"reason":"MountFailed","time":"2023-11-14T22:13:20Z"}]}`,
		`[{"reason":"X","count":"1"},{"reason":"Y","count":-1}]`,
		"", " \n", `{"events":[]}`, `{"events":null}`, "{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		fuzzDecode(t, FormatModuleEvents, payload)
		fuzzDecode(t, FormatEvents, payload)
	})
}

// FuzzDetect checks Detect on any subject and Content-Type: no panic, a
// known format or an unknown_format error naming the content type, and
// no header (Telegraf's outputs.nats sends none) never an error on a
// metrics subject without a format token, and no header at all an error
// on omen.metrics.influx, .prom or .json (the subject decides for an
// unrecognised one).
func FuzzDetect(f *testing.F) {
	for _, s := range [][2]string{
		{"omen.metrics", ""}, {"omen.metrics.prom", "text/plain; version=0.0.4"},
		{"omen.events.k8s", "application/json"}, {"omen.metrics", "application/openmetrics-text; version=1.0.0"},
		{"omen.metrics", "application/xml"}, {"omen.metrics", ";;;"}, {"x.metrics.json.p1", "application/octet-stream"},
		{"omen.metrics.influx", "application/xml"}, {"omen.events", "application/cloudevents+json"},
		{"omen.metrics.prom", "text/plain;charset=utf-8,"}, {"omen.metrics.json", "text/json"},
	} {
		f.Add(s[0], s[1])
	}
	known := []Format{FormatInflux, FormatPromText, FormatOpenMetrics, FormatJSON, FormatKubernetesEvents, FormatModuleEvents, FormatEvents}
	f.Fuzz(func(t *testing.T, subject, contentType string) {
		got, err := Detect(subject, contentType)
		if err != nil && slices.Contains([]string{"omen.metrics.influx", "omen.metrics.prom", "omen.metrics.json"}, subject) {
			t.Fatalf("Detect(%q, %q) = %v; want the subject's or the header's format", subject, contentType, err)
		}
		if err != nil {
			e, ok := AsError(err)
			if !ok || e.Reason != ReasonUnknownFormat || !strings.Contains(err.Error(), fmt.Sprintf("content type %q", strings.TrimSpace(contentType))) {
				t.Fatalf("Detect(%q, %q) = %v; want an unknown_format error naming the content type", subject, contentType, err)
			}
			return
		}
		if !slices.Contains(known, got) {
			t.Fatalf("Detect(%q, %q) = %q, not a decodable format", subject, contentType, got)
		}
		if strings.TrimSpace(contentType) == "" && subject == "omen.metrics" && got != FormatInflux {
			t.Fatalf("Detect(omen.metrics, no header) = %q, want influx", got)
		}
	})
}
