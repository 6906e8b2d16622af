package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

// frame wraps a model file body in the header (magic, version, length) and
// the CRC32C, as MarshalBinary does.
func frame(version uint16, body []byte) []byte {
	out := make([]byte, 0, headerLen+len(body)+4)
	out = append(out, fileMagic...)
	out = binary.LittleEndian.AppendUint16(out, version)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
	out = append(out, body...)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

// FuzzUnmarshalBody mutates the body of small valid model files and frames
// it with a correct header and checksum, so that the mutations reach the
// decoder (FuzzUnmarshal's almost all fail the checksum). A body either
// fails with ErrCorrupt or decodes to a model that scores a window, steps,
// and re-encodes to a file that decodes to the same bytes.
func FuzzUnmarshalBody(f *testing.F) {
	sm, data := smallModelFile(f)
	tiny := testModel(f, 1, 1, 1, 1, 0, 3)
	tinyData, err := tiny.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{data, tinyData}
	for _, members := range [][]*Model{{sm, sm}, {tiny, tiny}} {
		e, err := NewEnsemble(members...)
		if err != nil {
			f.Fatal(err)
		}
		ed, err := e.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, ed)
	}
	for _, s := range seeds {
		f.Add(binary.LittleEndian.Uint16(s[len(fileMagic):]) == 2, s[headerLen:len(s)-4])
	}
	f.Fuzz(func(t *testing.T, ensemble bool, body []byte) {
		version := uint16(1)
		if ensemble {
			version = 2
		}
		m, err := Unmarshal(frame(version, body))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		cfg := m.Config()
		// Windows of any size decode; only small ones are run, to keep
		// the executions fast.
		if cfg.Window*len(cfg.Features)*cfg.Hidden <= 1<<12 {
			nf := len(cfg.Features)
			x := make([]float32, cfg.Window*nf)
			for i := range x {
				x[i] = float32(i%7) - 3
			}
			prob := make([]float64, 1)
			if err := m.Predict(x, 1, prob); err != nil {
				t.Fatalf("predict: %v", err)
			}
			score := make([]float64, 1)
			if err := m.AnomalyScores(x, x[:nf], 1, score, make([]float32, nf)); err != nil {
				t.Fatalf("anomaly scores: %v", err)
			}
			st := m.NewState()
			m.Step(st, x[:nf])
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded model does not encode: %v", err)
		}
		m2, err := Unmarshal(again)
		if err != nil {
			t.Fatalf("re-encoded model does not decode: %v", err)
		}
		twice, err := m2.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, twice) {
			t.Fatal("a decoded model's file changes when decoded and encoded again")
		}
	})
}
