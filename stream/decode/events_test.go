package decode

import (
	"os"
	"strings"
	"testing"
)

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fmtEvents(t *testing.T, res *Result) []string {
	t.Helper()
	out := make([]string, 0, len(res.Events))
	for _, e := range res.Events {
		out = append(out, fmtEvent(e))
	}
	return out
}

func TestEventFixtures(t *testing.T) {
	const (
		exporter = `kubernetes BackOff Warning {app="payments", app_kubernetes_io_name="payments", container="payments", kind="Pod", name="payments-5c6d7-abcde", namespace="shop", node="node-1", pod="payments-5c6d7-abcde", pod_template_hash="5c6d7"} 1699999990000 17  uid=9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d msg="Back-off restarting failed container payments in pod payments-5c6d7-abcde_shop(0b4f6a2e-7e1d-4c3b-8a9f-1d2e3f4a5b6c)"`
		vector   = `kubernetes FailedMount Warning {app="cart", kind="Pod", name="cart-7d9f8b6c5-x2x9k", namespace="shop", node="node-2", pod="cart-7d9f8b6c5-x2x9k", service="cart"} 1699999920000 2  uid=aa11bb22-cc33-4d44-8e55-ff6677889900 msg="MountVolume.SetUp failed for volume \"config\" : configmap \"cart-config\" not found"`
		module1  = `module ModuleLoadError error {container="payments", module="fraud-rules", namespace="shop", pod="payments-5c6d7-abcde", service="payments"} 1699999950000 1  uid= msg="cannot load module fraud-rules: plugin.Open: undefined symbol"`
		module2  = `module DependencyUnreachable warn {container="payments", module="ledger-client", namespace="shop", pod="payments-5c6d7-abcde", service="payments"} 1700000010000 3  uid= msg="dial tcp ledger:5432: connect: connection refused"`
		module3  = `module ConfigLoadFailed error {container="cart", module="config", namespace="shop", pod="cart-7d9f8b6c5-x2x9k"} 1699999985250 1  uid= msg="yaml: line 12: mapping values are not allowed in this context"`
	)
	tests := []struct {
		name   string
		format Format
		in     string
		want   []string
	}{
		{"exporter", FormatKubernetesEvents, readFixture(t, "k8s-event-exporter.json"), []string{exporter}},
		{"exporter by shape", FormatEvents, readFixture(t, "k8s-event-exporter.json"), []string{exporter}},
		{"vector", FormatKubernetesEvents, readFixture(t, "vector-k8s-event.json"), []string{vector}},
		{"module", FormatModuleEvents, readFixture(t, "module-events.ndjson"), []string{module1, module2, module3}},
		{"module by shape", FormatEvents, readFixture(t, "module-events.ndjson"), []string{module1, module2, module3}},
		{
			"mixed array by shape", FormatEvents,
			"[" + readFixture(t, "k8s-event-exporter.json") + "," + readFixture(t, "vector-k8s-event.json") + "," +
				strings.Split(readFixture(t, "module-events.ndjson"), "\n")[1] + "]",
			[]string{exporter, vector, module2},
		},
		{
			"event list and module envelope", FormatEvents,
			`{"kind":"EventList","items":[` + readFixture(t, "k8s-event-exporter.json") + "]}\n" +
				`{"events":[` + strings.Split(readFixture(t, "module-events.ndjson"), "\n")[2] + "]}",
			[]string{exporter, module3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecoder(t, Options{})
			res, err := decodeAll(t, d, tc.format, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			equalStrings(t, "events", fmtEvents(t, res), tc.want)
			equalStrings(t, "errors", fmtErrors(res.Errors), nil)
		})
	}
}

func TestKubernetesEvents(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		in     string
		want   []string
		errors []string
	}{
		{
			name: "series, eventTime and init container",
			in: `{"metadata":{"namespace":"ns","uid":"u1"},"reason":"Failed","type":"Warning","eventTime":"2023-11-14T22:13:00.123456Z",
				"series":{"count":9,"lastObservedTime":"2023-11-14T22:13:30.000000Z"},"count":0,
				"involvedObject":{"kind":"Pod","name":"p","fieldPath":"spec.initContainers{init-db}"}}`,
			want: []string{`kubernetes Failed Warning {container="init-db", kind="Pod", name="p", namespace="ns", pod="p"} 1700000010000 9  uid=u1 msg=""`},
		},
		{
			name: "non-pod object, no times",
			in:   `{"metadata":{"namespace":"ns"},"reason":"ScalingReplicaSet","type":"Normal","involvedObject":{"kind":"Deployment","namespace":"ns","name":"web","labels":{"__x":"y","kind":"z"}}}`,
			want: []string{`kubernetes ScalingReplicaSet Normal {kind="Deployment", name="web", namespace="ns"} 1700000040000 1  uid= msg=""`},
		},
		{
			name: "watch event envelope and JSON in message",
			in: `{"type":"ADDED","object":{"reason":"Killing","involvedObject":{"kind":"Pod","namespace":"a","name":"p"}}}` + "\n" +
				`{"message":"{\"reason\":\"OOMKilling\",\"involvedObject\":{\"kind\":\"Node\",\"name\":\"n1\"},\"source\":{\"host\":\"n1\"}}","timestamp":"x"}`,
			want: []string{
				`kubernetes Killing  {kind="Pod", name="p", namespace="a", pod="p"} 1700000040000 1  uid= msg=""`,
				`kubernetes OOMKilling  {kind="Node", name="n1", node="n1"} 1700000040000 1  uid= msg=""`,
			},
		},
		{
			name: "bad events",
			in: strings.Join([]string{
				`{"reason":"BackOff"}`,                                                                // 1 no involvedObject (module by shape is not asked for)
				`{"involvedObject":{"kind":"Pod","name":"p"}}`,                                        // 2 no reason
				`{"reason":"X","count":"5","involvedObject":{"name":"p"}}`,                            // 3 wrong type
				`{"reason":"X","count":-5,"involvedObject":{"name":"p"}}`,                             // 4 invalid count
				`{"reason":"X","lastTimestamp":"then","involvedObject":{}}`,                           // 5 bad time
				`{"reason":"X","lastTimestamp":"2020-01-01T00:00:00Z","involvedObject":{"name":"p"}}`, // 6 too old
				`{"reason":"X","lastTimestamp":"2030-01-01T00:00:00Z","involvedObject":{"name":"p"}}`, // 7 too new
				`{"reason":"X","involvedObject":{"name":"p","labels":{"a":1}}}`,                       // 8 wrong type
				`{"reason":"X",`, // 9 malformed
				`[1]`,            // 10 wrong type
				`{"reason":"OK","involvedObject":{"name":"p"}}`, // 11 good
			}, "\n"),
			want: []string{`kubernetes OK  {name="p"} 1700000040000 1  uid= msg=""`},
			errors: []string{
				"malformed@1", "malformed@2", "wrong_type@3", "invalid_value@4", "malformed@5", "too_old@6",
				"too_new@7", "wrong_type@8", "malformed@9", "wrong_type@10",
			},
		},
		{
			name:   "too many labels",
			opts:   Options{MaxLabels: 3},
			in:     `{"reason":"X","involvedObject":{"kind":"Pod","namespace":"n","name":"p"}}`,
			errors: []string{"too_many_labels@1"},
		},
		{
			name:   "required event labels",
			opts:   Options{RequiredEventLabels: []string{"namespace"}},
			in:     `[{"reason":"X","involvedObject":{"kind":"Node","name":"n"}},{"reason":"Y","involvedObject":{"namespace":"a"}}]`,
			want:   []string{`kubernetes Y  {namespace="a"} 1700000040000 1  uid= msg=""`},
			errors: []string{"missing_labels@1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecoder(t, tc.opts)
			res, _ := decodeAll(t, d, FormatKubernetesEvents, tc.in)
			equalStrings(t, "events", fmtEvents(t, res), tc.want)
			equalStrings(t, "errors", fmtErrors(res.Errors), tc.errors)
		})
	}
}

func TestModuleEvents(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		in     string
		want   []string
		errors []string
	}{
		{
			name: "defaults",
			in:   `{"reason":"MountFailed","pod":"p","count":0}`,
			want: []string{`module MountFailed error {pod="p"} 1700000040000 1  uid= msg=""`},
		},
		{
			name: "timestamp alias and node",
			in:   `[{"timestamp":"2023-11-14T22:13:20Z","reason":"RegistrationFailed","node":"n1","level":"warn","count":2}]`,
			want: []string{`module RegistrationFailed warn {node="n1"} 1700000000000 2  uid= msg=""`},
		},
		{
			name: "bad module events",
			in: strings.Join([]string{
				`{"pod":"p"}`,                                  // 1 no reason
				`{"reason":"X","count":"1"}`,                   // 2 wrong type
				`{"reason":"X","count":1.5}`,                   // 3 invalid
				`{"reason":"X","time":"soon"}`,                 // 4 malformed
				`{"reason":"X","time":true}`,                   // 5 wrong type
				`{"reason":"X","time":1000}`,                   // 6 too old
				`{"reason":"X","time":"2099-01-01T00:00:00Z"}`, // 7 too new
				`{"reason":5}`,                                 // 8 wrong type
				`nope`,                                         // 9 malformed
				`{"reason":"OK","module":"m"}`,                 // 10 good
			}, "\n"),
			want: []string{`module OK error {module="m"} 1700000040000 1  uid= msg=""`},
			errors: []string{
				"malformed@1", "wrong_type@2", "invalid_value@3", "malformed@4", "wrong_type@5",
				"too_old@6", "too_new@7", "wrong_type@8", "malformed@9",
			},
		},
		{
			name:   "required event labels",
			opts:   Options{RequiredEventLabels: []string{"module"}},
			in:     `{"reason":"X","pod":"p"}`,
			errors: []string{"missing_labels@1"},
		},
		{
			name:   "label too long",
			opts:   Options{MaxLabelValueLen: 3},
			in:     `{"reason":"X","pod":"pod-1"}`,
			errors: []string{"too_many_labels@1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecoder(t, tc.opts)
			res, _ := decodeAll(t, d, FormatModuleEvents, tc.in)
			equalStrings(t, "events", fmtEvents(t, res), tc.want)
			equalStrings(t, "errors", fmtErrors(res.Errors), tc.errors)
		})
	}
}
