package probe

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/omen-sre/omen/training/dataset"
)

// Load loads entity name of the data-set folder dataDir and its dump
// (probeDir/name.probe, written by evalrun -dump).
func Load(dataDir, probeDir, name string) (e *dataset.Entity, thr float64, score []float64, perFeature []float32, err error) {
	e, err = dataset.LoadEntity(dataDir, name)
	if err != nil {
		return nil, 0, nil, nil, err
	}
	thr, score, perFeature, err = Read(filepath.Join(probeDir, name+".probe"), len(e.Test.Features))
	return e, thr, score, perFeature, err
}

// Read reads a dump: int64 n, the float64 threshold, n float64 scores and
// n×f float32 per-feature scores, little-endian.
func Read(path string, f int) (thr float64, score []float64, perFeature []float32, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, nil, nil, err
	}
	defer fh.Close()
	var n int64
	if err := binary.Read(fh, binary.LittleEndian, &n); err != nil {
		return 0, nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if n < 0 || n > 1<<28 {
		return 0, nil, nil, fmt.Errorf("read %s: implausible length %d", path, n)
	}
	score = make([]float64, n)
	perFeature = make([]float32, int(n)*f)
	for _, v := range []any{&thr, score, perFeature} {
		if err := binary.Read(fh, binary.LittleEndian, v); err != nil {
			return 0, nil, nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	return thr, score, perFeature, nil
}

// OneBased returns 0-based dimension indices as the 1-based numbers of the
// interpretation files.
func OneBased(d []int) []int {
	out := make([]int, len(d))
	for i, x := range d {
		out[i] = x + 1
	}
	return out
}
