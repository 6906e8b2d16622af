package decode

import (
	"strings"
	"testing"
)

// Events.k8s.io/v1 examples (k8s.io/api/events/v1 Event: regarding, note,
// series, deprecatedCount, deprecatedFirstTimestamp, deprecatedLastTimestamp,
// deprecatedSource, reportingController, reportingInstance) with their
// core/v1 equivalents.
const (
	// v1BackOff is the kubelet's crash loop event in a series of 5.
	v1BackOff = `{"apiVersion":"events.k8s.io/v1","kind":"Event",
		"metadata":{"name":"web-1.17a8f3c1d2e4b5a6","namespace":"shop","uid":"5d1e0c8a-7b2f-4c3d-9e8f-0a1b2c3d4e5f","creationTimestamp":"2023-11-14T22:05:00Z"},
		"eventTime":"2023-11-14T22:05:00.123456Z",
		"series":{"count":5,"lastObservedTime":"2023-11-14T22:13:10.000000Z"},
		"reportingController":"kubelet","reportingInstance":"node-1","action":"Restarting",
		"reason":"BackOff",
		"regarding":{"kind":"Pod","namespace":"shop","name":"web-1","uid":"0f6c","apiVersion":"v1","fieldPath":"spec.containers{app}","labels":{"app":"web"}},
		"note":"Back-off restarting failed container app in pod web-1_shop(0f6c)",
		"type":"Warning",
		"deprecatedSource":{"component":"kubelet","host":"node-1"}}`
	coreBackOff = `{"apiVersion":"v1","kind":"Event",
		"metadata":{"name":"web-1.17a8f3c1d2e4b5a6","namespace":"shop","uid":"5d1e0c8a-7b2f-4c3d-9e8f-0a1b2c3d4e5f","creationTimestamp":"2023-11-14T22:05:00Z"},
		"reason":"BackOff","message":"Back-off restarting failed container app in pod web-1_shop(0f6c)",
		"source":{"component":"kubelet","host":"node-1"},
		"firstTimestamp":"2023-11-14T22:05:00Z","lastTimestamp":"2023-11-14T22:13:10Z","count":5,"type":"Warning",
		"involvedObject":{"kind":"Pod","namespace":"shop","name":"web-1","uid":"0f6c","apiVersion":"v1","fieldPath":"spec.containers{app}","labels":{"app":"web"}}}`
	wantBackOff = `kubernetes BackOff Warning {app="web", container="app", kind="Pod", name="web-1", namespace="shop", node="node-1", pod="web-1"} 1699999990000 5  uid=5d1e0c8a-7b2f-4c3d-9e8f-0a1b2c3d4e5f msg="Back-off restarting failed container app in pod web-1_shop(0f6c)"`

	// v1Converted is a core/v1 event read through the events.k8s.io/v1
	// API: only the deprecated fields carry its count and times.
	v1Converted = `{"apiVersion":"events.k8s.io/v1","kind":"Event",
		"metadata":{"name":"cart-1.17a8","namespace":"shop","uid":"u-conv"},
		"eventTime":null,"reason":"FailedMount","type":"Warning",
		"regarding":{"kind":"Pod","namespace":"shop","name":"cart-1"},
		"note":"MountVolume.SetUp failed for volume \"config\" : configmap \"cart-config\" not found",
		"deprecatedSource":{"component":"kubelet","host":"node-2"},
		"deprecatedFirstTimestamp":"2023-11-14T22:01:00Z","deprecatedLastTimestamp":"2023-11-14T22:12:00Z","deprecatedCount":17}`
	coreConverted = `{"metadata":{"name":"cart-1.17a8","namespace":"shop","uid":"u-conv"},
		"reason":"FailedMount","type":"Warning","message":"MountVolume.SetUp failed for volume \"config\" : configmap \"cart-config\" not found",
		"source":{"component":"kubelet","host":"node-2"},"involvedObject":{"kind":"Pod","namespace":"shop","name":"cart-1"},
		"firstTimestamp":"2023-11-14T22:01:00Z","lastTimestamp":"2023-11-14T22:12:00Z","count":17}`
	wantConverted = `kubernetes FailedMount Warning {kind="Pod", name="cart-1", namespace="shop", node="node-2", pod="cart-1"} 1699999920000 17  uid=u-conv msg="MountVolume.SetUp failed for volume \"config\" : configmap \"cart-config\" not found"`

	// v1Singleton is a new-style event without series or deprecated
	// fields: count 1, time eventTime, no node.
	v1Singleton = `{"apiVersion":"events.k8s.io/v1","kind":"Event",
		"metadata":{"name":"web.17a9","namespace":"shop","uid":"u-single"},
		"eventTime":"2023-11-14T22:10:30.500000Z","reportingController":"deployment-controller","reportingInstance":"",
		"action":"ScalingReplicaSet","reason":"ScalingReplicaSet","type":"Normal",
		"regarding":{"apiVersion":"apps/v1","kind":"Deployment","namespace":"shop","name":"web"},
		"note":"Scaled up replica set web-5c6d7 to 3"}`
	coreSingleton = `{"metadata":{"name":"web.17a9","namespace":"shop","uid":"u-single"},
		"eventTime":"2023-11-14T22:10:30.500000Z","reason":"ScalingReplicaSet","type":"Normal",
		"involvedObject":{"apiVersion":"apps/v1","kind":"Deployment","namespace":"shop","name":"web"},
		"message":"Scaled up replica set web-5c6d7 to 3"}`
	wantSingleton = `kubernetes ScalingReplicaSet Normal {kind="Deployment", name="web", namespace="shop"} 1699999830500 1  uid=u-single msg="Scaled up replica set web-5c6d7 to 3"`
)

// TestEventsK8sIOv1 decodes events.k8s.io/v1 Event objects to the same
// telemetry.Event as their core/v1 equivalents: labels from regarding as
// from involvedObject, the message from note, the count from series.count
// or deprecatedCount (1 without), the time the latest of eventTime,
// series.lastObservedTime and the deprecated timestamps, the UID from
// metadata.uid. Until they were read, an events.k8s.io/v1 object was
// rejected as a Kubernetes event without involvedObject.
func TestEventsK8sIOv1(t *testing.T) {
	tests := []struct {
		name       string
		v1, core   string
		want       string
		formatsAll bool
	}{
		{name: "pod back-off series", v1: v1BackOff, core: coreBackOff, want: wantBackOff},
		{name: "converted from core", v1: v1Converted, core: coreConverted, want: wantConverted},
		{name: "singleton deployment", v1: v1Singleton, core: coreSingleton, want: wantSingleton},
		{
			name: "deprecatedCount above series.count",
			v1: `{"apiVersion":"events.k8s.io/v1","metadata":{"namespace":"a","uid":"u"},"reason":"Unhealthy","type":"Warning",
				"eventTime":"2023-11-14T22:10:00.000000Z","series":{"count":3,"lastObservedTime":"2023-11-14T22:11:00.000000Z"},"deprecatedCount":4,
				"regarding":{"kind":"Pod","namespace":"a","name":"p","fieldPath":"spec.initContainers{init}"},"note":"Readiness probe failed"}`,
			core: `{"metadata":{"namespace":"a","uid":"u"},"reason":"Unhealthy","type":"Warning","count":4,"lastTimestamp":"2023-11-14T22:11:00Z",
				"involvedObject":{"kind":"Pod","namespace":"a","name":"p","fieldPath":"spec.initContainers{init}"},"message":"Readiness probe failed"}`,
			want: `kubernetes Unhealthy Warning {container="init", kind="Pod", name="p", namespace="a", pod="p"} 1699999860000 4  uid=u msg="Readiness probe failed"`,
		},
		{
			name: "namespace from metadata, snake_case deprecated fields",
			v1: `{"metadata":{"namespace":"a","uid":"u2"},"reason":"NodeNotReady","type":"Warning",
				"regarding":{"kind":"Node","name":"n1"},"note":"Node n1 status is now: NodeNotReady",
				"deprecated_source":{"host":"n1"},"deprecated_count":2,"deprecated_first_timestamp":"2023-11-14T22:00:00Z","deprecated_last_timestamp":"2023-11-14T22:09:00Z"}`,
			core: `{"metadata":{"namespace":"a","uid":"u2"},"reason":"NodeNotReady","type":"Warning",
				"involved_object":{"kind":"Node","name":"n1"},"message":"Node n1 status is now: NodeNotReady",
				"source":{"host":"n1"},"count":2,"first_timestamp":"2023-11-14T22:00:00Z","last_timestamp":"2023-11-14T22:09:00Z"}`,
			want: `kubernetes NodeNotReady Warning {kind="Node", name="n1", namespace="a", node="n1"} 1699999740000 2  uid=u2 msg="Node n1 status is now: NodeNotReady"`,
		},
		{
			name: "regarding without metadata, by shape too",
			v1:   `{"reason":"Killing","type":"Normal","regarding":{"kind":"Pod","namespace":"a","name":"p"},"note":"Stopping container app"}`,
			core: `{"reason":"Killing","type":"Normal","involvedObject":{"kind":"Pod","namespace":"a","name":"p"},"message":"Stopping container app"}`,
			want: `kubernetes Killing Normal {kind="Pod", name="p", namespace="a", pod="p"} 1700000040000 1  uid= msg="Stopping container app"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range []Format{FormatKubernetesEvents, FormatEvents} {
				got := decodeOne(t, f, tc.v1)
				core := decodeOne(t, f, tc.core)
				if got != tc.want {
					t.Errorf("%v: events.k8s.io/v1 event\n got  %s\n want %s", f, got, tc.want)
				}
				if core != tc.want {
					t.Errorf("%v: core/v1 event\n got  %s\n want %s", f, core, tc.want)
				}
			}
		})
	}
}

// decodeOne decodes a payload that must hold exactly one event and no
// error, and renders the event.
func decodeOne(t *testing.T, f Format, payload string) string {
	t.Helper()
	d := newDecoder(t, Options{})
	res, err := decodeAll(t, d, f, payload)
	if err != nil || len(res.Events) != 1 || len(res.Errors) != 0 {
		t.Fatalf("%v: %d events, errors %v, err %v", f, len(res.Events), fmtErrors(res.Errors), err)
	}
	return fmtEvent(res.Events[0])
}

// TestEventsK8sIOv1Envelopes: the exporter wrappers the decoder accepts for
// core/v1 events (a list, an EventList's items, a watch event's object,
// Vector's "event", a JSON event in "message", newline-delimited JSON)
// carry events.k8s.io/v1 objects too.
func TestEventsK8sIOv1Envelopes(t *testing.T) {
	one := strings.Join(strings.Fields(v1BackOff), " ")
	quoted := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(one)
	tests := []struct {
		name    string
		in      string
		want    []string
		k8sOnly bool // FormatEvents takes a raw log line for a module event
	}{
		{"array", "[" + v1BackOff + "," + v1Singleton + "]", []string{wantBackOff, wantSingleton}, false},
		{"event list", `{"apiVersion":"events.k8s.io/v1","kind":"EventList","metadata":{"resourceVersion":"1"},"items":[` + v1BackOff + "," + v1Converted + "]}", []string{wantBackOff, wantConverted}, false},
		{"watch event", `{"type":"ADDED","object":` + v1BackOff + "}\n" + `{"type":"MODIFIED","object":` + one + "}", []string{wantBackOff, wantBackOff}, false},
		{"vector event", `{"event":` + v1Converted + `,"source_type":"http_server","timestamp":"2023-11-14T22:12:01.123Z"}`, []string{wantConverted}, false},
		{"JSON in message", `{"message":"` + quoted + `","timestamp":"2023-11-14T22:13:11Z"}`, []string{wantBackOff}, true},
		{"ndjson", strings.Join(strings.Fields(v1Singleton), " ") + "\n" + one, []string{wantSingleton, wantBackOff}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			formats := []Format{FormatKubernetesEvents, FormatEvents}
			if tc.k8sOnly {
				formats = formats[:1]
			}
			for _, f := range formats {
				d := newDecoder(t, Options{})
				res, err := decodeAll(t, d, f, tc.in)
				if err != nil {
					t.Fatalf("%v: %v", f, err)
				}
				equalStrings(t, string(f)+" events", fmtEvents(t, res), tc.want)
				equalStrings(t, string(f)+" errors", fmtErrors(res.Errors), nil)
			}
		})
	}
}

// TestEventsK8sIOv1Errors: events.k8s.io/v1 fields are validated like their
// core/v1 counterparts, and an events.k8s.io object without regarding is a
// rejected Kubernetes event, not a module event, when chosen by shape.
func TestEventsK8sIOv1Errors(t *testing.T) {
	in := strings.Join([]string{
		`{"apiVersion":"events.k8s.io/v1","reason":"X","note":"n"}`,                                         // 1 no regarding
		`{"regarding":{"kind":"Pod","name":"p"},"note":"n"}`,                                                // 2 no reason
		`{"reason":"X","regarding":{"name":"p"},"series":{"count":"5"}}`,                                    // 3 wrong type
		`{"reason":"X","regarding":{"name":"p"},"deprecatedCount":-1}`,                                      // 4 invalid count
		`{"reason":"X","regarding":{"name":"p"},"deprecatedLastTimestamp":"then"}`,                          // 5 bad time
		`{"reason":"X","regarding":{"name":"p"},"deprecatedFirstTimestamp":"2020-01-01T00:00:00Z"}`,         // 6 too old
		`{"reason":"X","regarding":{"name":"p"},"eventTime":"2030-01-01T00:00:00.000000Z"}`,                 // 7 too new
		`{"reason":"X","regarding":{"name":"p"},"note":5}`,                                                  // 8 wrong type
		`{"reason":"X","regarding":{"name":"p","labels":{"a":1}}}`,                                          // 9 wrong type
		`{"apiVersion":"events.k8s.io/v1beta1","reason":"OK","regarding":{"name":"p"},"deprecatedCount":0}`, // 10 good
	}, "\n")
	want := []string{`kubernetes OK  {name="p"} 1700000040000 1  uid= msg=""`}
	errs := []string{
		"malformed@1", "malformed@2", "wrong_type@3", "invalid_value@4", "malformed@5", "too_old@6",
		"too_new@7", "wrong_type@8", "wrong_type@9",
	}
	for _, f := range []Format{FormatKubernetesEvents, FormatEvents} {
		d := newDecoder(t, Options{})
		res, _ := decodeAll(t, d, f, in)
		equalStrings(t, string(f)+" events", fmtEvents(t, res), want)
		equalStrings(t, string(f)+" errors", fmtErrors(res.Errors), errs)
	}
}
