package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func smallModelFile(t testing.TB) (*Model, []byte) {
	t.Helper()
	m := testModel(t, 3, 4, 5, 2, 0.1, 21)
	m.SetThresholds(Thresholds{Failure: 0.7, Anomaly: 3.5, Method: "f1-max"})
	m.SetMeta(Meta{Version: "v1", CreatedAt: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), TrainedOn: "synthetic", Epochs: 3, TrainLoss: 0.5, ValLoss: 0.6, ValScore: 0.9, Extra: map[string]string{"k": "v"}})
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return m, data
}

func TestFileRoundTrip(t *testing.T) {
	m, data := smallModelFile(t)
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("WriteTo and MarshalBinary differ")
	}
	buf.WriteString("trailing stream data")
	m2, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != "trailing stream data" {
		t.Errorf("Read consumed %q more than the model", "trailing stream data"[:20-buf.Len()])
	}
	m3, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []*Model{m2, m3} {
		if g, w := got.Thresholds(), m.Thresholds(); g != w {
			t.Errorf("thresholds %+v, want %+v", g, w)
		}
		if g, w := got.Meta(), m.Meta(); !g.CreatedAt.Equal(w.CreatedAt) || g.Version != w.Version || g.Extra["k"] != "v" || g.ValScore != w.ValScore {
			t.Errorf("meta %+v, want %+v", g, w)
		}
		if err := got.CheckFeatures(m.Config().Features); err != nil {
			t.Error(err)
		}
		if g, w := got.Config(), m.Config(); g.Window != w.Window || g.Hidden != w.Hidden || g.Layers != w.Layers || g.Dropout != w.Dropout || g.Horizon != w.Horizon || g.Seed != w.Seed {
			t.Errorf("config %+v, want %+v", g, w)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		x := randWindows(rng, 7, 5, 3, 0.1)
		p1, p2 := make([]float64, 7), make([]float64, 7)
		f1, f2 := make([]float32, 21), make([]float32, 21)
		if err := m.Forecast(x, 7, p1, f1); err != nil {
			t.Fatal(err)
		}
		if err := got.Forecast(x, 7, p2, f2); err != nil {
			t.Fatal(err)
		}
		for i := range p1 {
			if math.Float64bits(p1[i]) != math.Float64bits(p2[i]) {
				t.Errorf("prob %d: %v after round trip, %v before", i, p2[i], p1[i])
			}
		}
		for i := range f1 {
			if math.Float32bits(f1[i]) != math.Float32bits(f2[i]) {
				t.Errorf("forecast %d: %v after round trip, %v before", i, f2[i], f1[i])
			}
		}
		again, err := got.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, data) {
			t.Error("re-encoding differs")
		}
	}
}

// reseal fixes the checksum after a deliberate edit.
func reseal(b []byte) []byte {
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	return b
}

func TestFileCorruption(t *testing.T) {
	_, data := smallModelFile(t)
	t.Run("every truncation", func(t *testing.T) {
		for n := range len(data) {
			if _, err := Unmarshal(data[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Unmarshal of %d/%d bytes: error %v, want ErrCorrupt", n, len(data), err)
			}
			if _, err := Read(bytes.NewReader(data[:n])); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Read of %d/%d bytes: error %v, want ErrCorrupt", n, len(data), err)
			}
		}
	})
	t.Run("every flipped byte", func(t *testing.T) {
		for i := range data {
			b := bytes.Clone(data)
			b[i] ^= 0x5a
			if _, err := Unmarshal(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d flipped: error %v, want ErrCorrupt", i, err)
			}
		}
	})
	tests := []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"wrong magic", func(b []byte) []byte { b = bytes.Clone(b); copy(b, "NOTOMEN"); return b }, "bad magic"},
		{"wrong version", func(b []byte) []byte {
			b = bytes.Clone(b)
			binary.LittleEndian.PutUint16(b[7:], 99)
			return reseal(b)
		}, "format version 99"},
		{"huge body length", func(b []byte) []byte {
			b = bytes.Clone(b)
			binary.LittleEndian.PutUint32(b[9:], math.MaxUint32)
			return b
		}, "exceeds the limit"},
		{"trailing garbage", func(b []byte) []byte { return append(bytes.Clone(b), 0) }, "header says"},
		{"bad checksum", func(b []byte) []byte {
			b = bytes.Clone(b)
			b[len(b)-1] ^= 1
			return b
		}, "checksum"},
		{"resealed weight edit to NaN", func(b []byte) []byte {
			b = bytes.Clone(b)
			binary.LittleEndian.PutUint32(b[len(b)-8:], math.Float32bits(float32(math.NaN())))
			return reseal(b)
		}, "is NaN"},
		{"resealed hidden size change", func(b []byte) []byte {
			s := strings.Replace(string(b), `"hidden":4`, `"hidden":9`, 1)
			return reseal([]byte(s))
		}, "architecture needs"},
		{"empty", func([]byte) []byte { return nil }, "shorter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Unmarshal(tc.edit(data))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want ErrCorrupt mentioning %q", err, tc.want)
			}
		})
	}
}

func TestCheckFeatures(t *testing.T) {
	m, err := New(Config{Features: []string{"a", "b", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		names []string
		want  []string // substrings of the error; nil = no error
	}{
		{[]string{"a", "b", "c"}, nil},
		{[]string{"a", "b"}, []string{`the model's features missing from those in use: ["c"]`}},
		{[]string{"a", "b", "c", "d"}, []string{`features in use the model lacks: ["d"]`}},
		{[]string{"a", "x", "c"}, []string{`the model's features missing from those in use: ["b"]; features in use the model lacks: ["x"]`}},
		{[]string{"b", "a", "c"}, []string{`order differs from position 0: in use "b", the model's "a"`}},
		{[]string{"a", "b", "c", "c"}, []string{"duplicates"}},
		{nil, []string{`the model's features missing from those in use: ["a" "b" "c"]`}},
	}
	for _, tc := range tests {
		err := m.CheckFeatures(tc.names)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%v: %v", tc.names, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%v: no error", tc.names)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not mention %q", tc.names, err, w)
			}
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	sm, data := smallModelFile(f)
	f.Add(data)
	f.Add(data[:len(data)/2])
	if e, err := NewEnsemble(sm, sm); err == nil {
		if ed, err := e.MarshalBinary(); err == nil {
			f.Add(ed)
		}
	}
	f.Add([]byte(fileMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Unmarshal(again); err != nil {
			t.Fatalf("re-encoded model does not decode: %v", err)
		}
	})
}

// TestFileStep: the step a model was trained at survives the file, and
// CheckStep refuses another one (its window and horizon would last other
// durations); a model without a step (0: unknown, as every file written
// before the step was recorded) fits any step and is written without the
// field, as before.
func TestFileStep(t *testing.T) {
	for _, tc := range []struct {
		step     time.Duration
		check    time.Duration
		wantFail bool
	}{
		{30 * time.Second, 30 * time.Second, false},
		{30 * time.Second, 15 * time.Second, true},
		{1500 * time.Millisecond, time.Second, true},
		{0, 15 * time.Second, false},
		{0, time.Minute, false},
	} {
		m, err := New(Config{Features: featureNames(3), Window: 4, Hidden: 2, Seed: 1, Step: tc.step})
		if err != nil {
			t.Fatal(err)
		}
		data, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if has := bytes.Contains(data, []byte(`"step_ms"`)); has != (tc.step != 0) {
			t.Errorf("step %v: file has step_ms %v", tc.step, has)
		}
		got, err := Unmarshal(data)
		if err != nil {
			t.Fatal(err)
		}
		if got.Config().Step != tc.step {
			t.Errorf("step %v read back as %v", tc.step, got.Config().Step)
		}
		err = got.CheckStep(tc.check)
		if (err != nil) != tc.wantFail {
			t.Errorf("step %v: CheckStep(%v) = %v, want failure %v", tc.step, tc.check, err, tc.wantFail)
		}
		if err != nil && !strings.Contains(err.Error(), "trained at a step of "+tc.step.String()) {
			t.Errorf("CheckStep error %q does not name the model's step", err)
		}
	}
	for _, bad := range []time.Duration{-time.Second, 1500 * time.Microsecond} {
		if _, err := New(Config{Features: featureNames(3), Window: 4, Hidden: 2, Step: bad}); err == nil {
			t.Errorf("New accepted step %v", bad)
		}
	}
}
