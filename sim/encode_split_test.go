package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/stream/decode"
)

// TestPayloadsSplitEvents encodes the first ticks of a 2,030-pod fleet: at
// ticks 2-4 about 2,000 pods report Pulled, Created and Started, 1.09-1.15 MB
// of Kubernetes events as one JSON array, over the decoder's 1 MiB limit
// (dead-lettered too_large). The events must come as several messages, each
// at most DefaultMaxPayload bytes with an MsgID of its own, and decoding them
// must give every event of the tick.
func TestPayloadsSplitEvents(t *testing.T) {
	f := newFleet(t, Options{Seed: 1, Services: ScaleReplicas(DefaultServices(), 70), DeployEvery: -1, GlitchEvery: -1})
	maxBytes, maxMsgs := 0, 0
	for range 5 {
		tk := f.Advance()
		pls, err := tk.Payloads(FormatInflux, "", "")
		if err != nil {
			t.Fatal(err)
		}
		dec, err := decode.New(decode.Options{Now: func() time.Time { return tk.Time }})
		if err != nil {
			t.Fatal(err)
		}
		var res decode.Result
		k8s, k8sBytes, ids := 0, 0, map[string]bool{}
		for _, p := range pls {
			if len(p.Data) > DefaultMaxPayload {
				t.Errorf("tick %d %s %s: %d bytes, want at most %d", tk.Seq, p.Subject, p.MsgID, len(p.Data), DefaultMaxPayload)
			}
			if ids[p.MsgID] {
				t.Errorf("tick %d: MsgID %s repeated", tk.Seq, p.MsgID)
			}
			ids[p.MsgID] = true
			if p.Subject == DefaultEventsSubject+"."+TokenK8sEvents {
				k8s++
				k8sBytes += len(p.Data)
			}
			if !strings.HasPrefix(p.Subject, DefaultEventsSubject) {
				continue
			}
			df, err := decode.Detect(p.Subject, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := dec.Decode(df, p.Data, tk.Time, &res); err != nil {
				t.Fatalf("tick %d %s %s: %v", tk.Seq, p.Subject, p.MsgID, err)
			}
		}
		if len(res.Errors) > 0 {
			t.Fatalf("tick %d: decode errors %v", tk.Seq, res.Errors[:min(3, len(res.Errors))])
		}
		compareEvents(t, tk.Events, res.Events)
		if k8sBytes > maxBytes {
			maxBytes, maxMsgs = k8sBytes, k8s
		}
		t.Logf("tick %d, %d pods, %d events: %d k8s event messages, %d bytes", tk.Seq, len(f.Pods()), len(tk.Events), k8s, k8sBytes)
	}
	if maxBytes <= decode.DefaultMaxMessageBytes || maxMsgs < 2 {
		t.Fatalf("largest tick's k8s events: %d bytes in %d messages, want more than %d bytes in several", maxBytes, maxMsgs, decode.DefaultMaxMessageBytes)
	}
}

func TestSplitJSONArray(t *testing.T) {
	items := []any{"aaaa", "bbbb", strings.Repeat("c", 20), "dd"}
	tests := []struct {
		max  int
		want []string
	}{
		{max: 100, want: []string{`["aaaa","bbbb","cccccccccccccccccccc","dd"]`}},
		{max: 15, want: []string{`["aaaa","bbbb"]`, `["cccccccccccccccccccc"]`, `["dd"]`}},
		{max: 14, want: []string{`["aaaa"]`, `["bbbb"]`, `["cccccccccccccccccccc"]`, `["dd"]`}},
	}
	for _, tt := range tests {
		got, err := splitJSONArray(items, tt.max)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("max %d: %q, want %q", tt.max, got, tt.want)
		}
		for i := range got {
			if string(got[i]) != tt.want[i] {
				t.Errorf("max %d part %d: %s, want %s", tt.max, i, got[i], tt.want[i])
			}
		}
	}
	if got, err := splitJSONArray(nil, 10); err != nil || len(got) != 0 {
		t.Errorf("no items: %q, %v", got, err)
	}
}
