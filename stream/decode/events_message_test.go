package decode

import (
	"testing"
)

// TestK8sEventMessage: the decoder carries a Kubernetes event's message
// unchanged (JSON escapes undone, the API server's aggregation prefix
// kept), in every envelope: event features and failure labels match
// message patterns against it (features.EventFeature.Messages), the
// kubelet reporting several failures under one reason.
func TestK8sEventMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "kubelet config error",
			in:   `{"reason":"Failed","type":"Warning","count":4,"message":"Error: configmap \"cfg\" not found","involvedObject":{"kind":"Pod","namespace":"shop","name":"web-1","fieldPath":"spec.containers{app}"},"lastTimestamp":"2023-11-14T22:13:10Z"}`,
			want: `Error: configmap "cfg" not found`},
		{name: "aggregated crash loop back-off",
			in:   `{"reason":"BackOff","type":"Warning","count":11,"message":"(combined from similar events): Back-off restarting failed container app in pod web-1_shop(0f6c)","involvedObject":{"kind":"Pod","namespace":"shop","name":"web-1"},"lastTimestamp":"2023-11-14T22:13:10Z"}`,
			want: "(combined from similar events): Back-off restarting failed container app in pod web-1_shop(0f6c)"},
		{name: "snake_case in an event envelope",
			in:   `{"event":{"reason":"BackOff","message":"Back-off pulling image \"web:1\"","involved_object":{"kind":"Pod","namespace":"shop","name":"web-1"},"last_timestamp":"2023-11-14T22:13:10Z"}}`,
			want: `Back-off pulling image "web:1"`},
		{name: "unicode escapes",
			in:   `{"reason":"Failed","message":"Error: couldn't find key caf\u00e9 in Secret shop/db\u0021","involvedObject":{"kind":"Pod","namespace":"shop","name":"web-1"},"lastTimestamp":"2023-11-14T22:13:10Z"}`,
			want: "Error: couldn't find key café in Secret shop/db!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range []Format{FormatKubernetesEvents, FormatEvents} {
				d := newDecoder(t, Options{})
				res, err := decodeAll(t, d, f, tt.in)
				if err != nil || len(res.Events) != 1 {
					t.Fatalf("%v: %d events, errors %v, err %v", f, len(res.Events), fmtErrors(res.Errors), err)
				}
				if got := res.Events[0].Message; got != tt.want {
					t.Errorf("%v: message %q, want %q", f, got, tt.want)
				}
			}
		})
	}
}
