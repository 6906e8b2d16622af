package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// recordDecoders are the decoders of every binary record kind but batches
// (FuzzDecodeBatch), indexed by the fuzz input's first byte.
var recordDecoders = []struct {
	name   string
	decode func([]byte) (any, error)
	sample func() []byte
}{
	{"vector", func(b []byte) (any, error) { return decodeVector(b) }, func() []byte {
		return encodeVector(3, &Vector{Values: []float64{1, 2.5}, Failure: []bool{true, false, true}})
	}},
	{"event", func(b []byte) (any, error) { return decodeEvent(b) }, func() []byte {
		return encodeEvent(&telemetry.Event{Source: "kubernetes", Reason: "BackOff", Type: "Warning", Count: 3,
			Labels: labels.FromStrings("namespace", "ns", "pod", "p"), Message: "m", UID: "u"})
	}},
	{"prediction", func(b []byte) (any, error) { return decodePrediction(b) }, func() []byte {
		return encodePrediction(&Prediction{Entity: "ns/p", T: 5, Prob: 0.5, Anomaly: 1, ModelVersion: "v1", Threshold: 0.7})
	}},
	{"entity", func(b []byte) (any, error) { return decodeEntity(b) }, func() []byte {
		return encodeEntity(&EntityInfo{FirstSeen: 1, LastSeen: 2, Labels: map[string]string{"a": "b"}})
	}},
	{"outbox", func(b []byte) (any, error) { return decodeOutboxItem(b) }, func() []byte {
		return encodeOutboxItem(&OutboxItem{Created: 9, Targets: []string{"am1", "am2"}, Payload: []byte("[]")})
	}},
	{"alert", func(b []byte) (any, error) { return decodeAlertState(b) }, func() []byte {
		return encodeAlertState(&AlertState{Fingerprint: "f", State: AlertFiring, ActiveAt: 1, Labels: map[string]string{"x": "y"}, Data: []byte("{}")})
	}},
	{"prediction_history", func(b []byte) (any, error) { return decodePredictionAt(b, "ns/p", 5) }, func() []byte {
		return encodePredictionAt(&Prediction{Entity: "ns/p", T: 5, Prob: 0.5, Anomaly: 1, ModelVersion: "v1", Threshold: 0.7})
	}},
	{"outbox_since", func(b []byte) (any, error) { return decodeOutboxItem(b) }, func() []byte {
		return encodeOutboxItem(&OutboxItem{Created: 9, Since: 4, Targets: []string{"am1"}, Payload: []byte("[]")})
	}},
}

// FuzzDecodeRecord checks that no record decoder panics on arbitrary input
// and that each fails with errCorrupt.
func FuzzDecodeRecord(f *testing.F) {
	for i, d := range recordDecoders {
		enc := d.sample()
		f.Add(append([]byte{byte(i)}, enc...))
		f.Add(append([]byte{byte(i)}, enc[:len(enc)/2]...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		d := recordDecoders[int(data[0])%len(recordDecoders)]
		if _, err := d.decode(data[1:]); err != nil && !errors.Is(err, errCorrupt) {
			t.Fatalf("%s: error %v does not wrap errCorrupt", d.name, err)
		}
	})
}

func TestRecordDecodersRejectTruncation(t *testing.T) {
	for _, d := range recordDecoders {
		enc := d.sample()
		if _, err := d.decode(enc); err != nil {
			t.Fatalf("%s: decode of a valid record: %v", d.name, err)
		}
		for n := 0; n < len(enc); n++ {
			if _, err := d.decode(enc[:n]); !errors.Is(err, errCorrupt) {
				t.Fatalf("%s truncated to %d of %d bytes: err %v, want errCorrupt", d.name, n, len(enc), err)
			}
		}
	}
}

// TestRecordFuzzSeedsCheckedIn writes (-update) or checks the seeds in
// testdata/fuzz/FuzzDecodeRecord.
func TestRecordFuzzSeedsCheckedIn(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeRecord")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, d := range recordDecoders {
			data := append([]byte{byte(i)}, d.sample()...)
			if err := os.WriteFile(filepath.Join(dir, d.name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(recordDecoders) {
		t.Fatalf("%d seed files, want %d; run go test ./store -run TestRecordFuzzSeedsCheckedIn -update", len(files), len(recordDecoders))
	}
}
