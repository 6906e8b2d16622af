package store

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/omen-sre/omen/telemetry"
)

func codecCases() []telemetry.Batch {
	rng := rand.New(rand.NewPCG(1, 2))
	ls := labels.FromStrings("__name__", "up", "job", "node", "pod", "p-1")
	return []telemetry.Batch{
		{},
		{Source: "nats/OMEN/omen", Seq: 42, Received: 1700000000000},
		{Source: "remote-write", Received: -5, Samples: []telemetry.Sample{
			{Labels: ls, T: -1000, V: 1},
			{Labels: ls, T: 0, V: math.Float64frombits(value.StaleNaN)},
			{Labels: labels.EmptyLabels(), T: 5, V: math.Copysign(0, -1)},
			{Labels: ls, T: math.MaxInt64, V: math.MaxFloat64},
			{Labels: ls, T: math.MinInt64, V: math.SmallestNonzeroFloat64},
			{Labels: labels.FromStrings("ünïcode", "välue\x00with nul"), T: 7, V: 3.25},
		}},
		{Source: "k8s", Seq: math.MaxUint64, Events: []telemetry.Event{
			{T: 1700000000123, Source: telemetry.SourceKubernetes, Reason: "BackOff", Type: "Warning", Count: 3,
				Labels: labels.FromStrings("namespace", "ns", "pod", "p"), Message: "Back-off restarting failed container", UID: "abc-123"},
			{T: 1700000000124, Source: telemetry.SourceModule, Reason: "ModuleLoadError", Type: "error", Count: 1,
				Labels: labels.FromStrings("module", "auth")},
		}},
		makeBatch(rng, "bench", 7, 1700000000000, 100, 10),
		func() telemetry.Batch {
			b := makeBatch(rng, "mixed", 8, 1700000000000, 3, 4)
			b.Events = []telemetry.Event{{T: 1699999999000, Source: "kubernetes", Reason: "FailedMount", Type: "Warning", Count: 1,
				Labels: b.Samples[0].Labels, Message: "MountVolume.SetUp failed"}}
			return b
		}(),
	}
}

func sameBatch(t *testing.T, got, want telemetry.Batch) {
	t.Helper()
	if got.Source != want.Source || got.Seq != want.Seq || got.Received != want.Received ||
		len(got.Samples) != len(want.Samples) || len(got.Events) != len(want.Events) {
		t.Fatalf("batch header/lengths differ: got %s/%d/%d %d samples %d events, want %s/%d/%d %d samples %d events",
			got.Source, got.Seq, got.Received, len(got.Samples), len(got.Events),
			want.Source, want.Seq, want.Received, len(want.Samples), len(want.Events))
	}
	for i := range want.Samples {
		g, w := got.Samples[i], want.Samples[i]
		if !labels.Equal(g.Labels, w.Labels) || g.T != w.T || math.Float64bits(g.V) != math.Float64bits(w.V) {
			t.Fatalf("sample %d: got %v %d %v, want %v %d %v", i, g.Labels, g.T, g.V, w.Labels, w.T, w.V)
		}
	}
	for i := range want.Events {
		g, w := got.Events[i], want.Events[i]
		if !labels.Equal(g.Labels, w.Labels) {
			t.Fatalf("event %d labels: got %v, want %v", i, g.Labels, w.Labels)
		}
		g.Labels, w.Labels = labels.EmptyLabels(), labels.EmptyLabels()
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("event %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestBatchCodecRoundTrip(t *testing.T) {
	for i, b := range codecCases() {
		for _, compress := range []bool{false, true} {
			enc := encodeBatch(nil, &b, compress)
			got, err := decodeBatch(enc)
			if err != nil {
				t.Fatalf("case %d compress=%v: decode: %v", i, compress, err)
			}
			sameBatch(t, got, b)
		}
	}
}

// TestBatchCodecSetsByAddress: a batch whose samples share label sets
// (by address, as decoders hand them out, or equal ones at other
// addresses) writes each shared set once and decodes to the same batch.
func TestBatchCodecSetsByAddress(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	b := makeBatch(rng, "bench", 1, 1700000000000, 100, 10)
	// Series 0 also under a copy of its label set (another address).
	b.Samples = append(b.Samples, telemetry.Sample{Labels: b.Samples[0].Labels.Copy(), T: b.Samples[len(b.Samples)-1].T + 15000, V: 1})
	enc := encodeBatch(nil, &b, false)
	got, err := decodeBatch(enc)
	if err != nil {
		t.Fatal(err)
	}
	sameBatch(t, got, b)
	// Header: version, flags, source, seq, received, number of sets.
	r := enc[2:]
	n, k := binary.Uvarint(r)
	r = r[k+int(n):]
	_, k = binary.Uvarint(r)
	r = r[k:]
	_, k = binary.Varint(r)
	r = r[k:]
	if sets, _ := binary.Uvarint(r); sets < 100 || sets > 101 {
		t.Fatalf("%d label sets written for 100 series", sets)
	}
}

func TestBatchCodecCompact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	b := makeBatch(rng, "bench", 1, 1700000000000, 100, 10)
	raw := encodeBatch(nil, &b, false)
	comp := encodeBatch(nil, &b, true)
	perSample := float64(len(comp)) / float64(len(b.Samples))
	t.Logf("1000 samples × 100 series × 10 labels: raw %d bytes, snappy %d bytes (%.1f bytes/sample)", len(raw), len(comp), perSample)
	if perSample > 12 {
		t.Errorf("encoding takes %.1f bytes/sample, want ≤ 12", perSample)
	}
}

func TestDecodeBatchRejectsCorruption(t *testing.T) {
	b := codecCases()[2]
	enc := encodeBatch(nil, &b, false)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{1}},
		{"bad version", append([]byte{9}, enc[1:]...)},
		{"bad flags", append([]byte{1, 0x80}, enc[2:]...)},
		{"truncated", enc[:len(enc)-1]},
		{"trailing", append(append([]byte(nil), enc...), 0)},
		{"bad snappy", []byte{1, flagSnappy, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"huge count", []byte{1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeBatch(tc.data); !errors.Is(err, errCorrupt) {
				t.Fatalf("decode: %v, want errCorrupt", err)
			}
		})
	}
}

// FuzzDecodeBatch checks that decoding arbitrary bytes never panics, fails
// with errCorrupt, and that whatever decodes re-encodes to an equal batch.
func FuzzDecodeBatch(f *testing.F) {
	for _, b := range codecCases() {
		f.Add(encodeBatch(nil, &b, false))
		f.Add(encodeBatch(nil, &b, true))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeBatch(data)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("error %v does not wrap errCorrupt", err)
			}
			return
		}
		again, err := decodeBatch(encodeBatch(nil, &b, true))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		sameBatch(t, again, b)
	})
}

var update = flag.Bool("update", false, "rewrite checked-in fuzz seeds")

// TestFuzzSeedsCheckedIn keeps testdata/fuzz/FuzzDecodeBatch (which `go
// test` runs as part of FuzzDecodeBatch) present and parseable; -update
// regenerates it from codecCases.
func TestFuzzSeedsCheckedIn(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeBatch")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, b := range codecCases() {
			for _, c := range []bool{false, true} {
				data := encodeBatch(nil, &b, c)
				name := filepath.Join(dir, fmt.Sprintf("case%d-snappy-%v", i, c))
				if err := os.WriteFile(name, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		// A corrupt one: truncated mid-sample.
		b := codecCases()[2]
		data := encodeBatch(nil, &b, false)
		if err := os.WriteFile(filepath.Join(dir, "truncated"), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data[:len(data)-3]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no checked-in seeds; run go test ./store -run TestFuzzSeedsCheckedIn -update")
	}
	var valid, corrupt int
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: not a fuzz seed file", f)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := decodeBatch([]byte(s)); err != nil {
			corrupt++
		} else {
			valid++
		}
	}
	if valid == 0 || corrupt == 0 {
		t.Fatalf("seeds: %d valid, %d corrupt; want both kinds", valid, corrupt)
	}
}

func BenchmarkEncodeBatch(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	batch := makeBatch(rng, "bench", 1, 1700000000000, 100, 10)
	var buf []byte
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		buf = encodeBatch(buf[:0], &batch, true)
	}
	b.ReportMetric(float64(b.N)*1000/(cpuTime(b)-cpu0).Seconds(), "samples/cpu-s")
}

func BenchmarkDecodeBatch(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	batch := makeBatch(rng, "bench", 1, 1700000000000, 100, 10)
	enc := encodeBatch(nil, &batch, true)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		if _, err := decodeBatch(enc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/(cpuTime(b)-cpu0).Seconds(), "samples/cpu-s")
}
