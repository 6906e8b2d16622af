package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"time"
)

// File format (all integers little-endian):
//
//	magic      "OMENMDL" (7 bytes)
//	version    uint16 (formatVersion)
//	length     uint32, length of body
//	body       sections, each uint32 length + payload, in this order:
//	             architecture  JSON of Config without features
//	             features      uint32 count, then per name uint16 length + UTF-8
//	             normalisation F float32 means, then F float32 stds
//	             thresholds    JSON of Thresholds
//	             metadata      JSON of Meta
//	             weights       uint32 count, then per tensor: uint16 name
//	                           length + name, uint8 rank, rank×uint32 dims,
//	                           float32 values
//	             members       (version 2 only: an ensemble) uint32 count,
//	                           then per member network uint32 length + a
//	                           complete version-1 model file
//	checksum   uint32 CRC-32C (Castagnoli) of everything before it
//
// A single network is written as version 1, so that older builds read it;
// an ensemble (NewEnsemble) as version 2.
const (
	fileMagic     = "OMENMDL"
	formatVersion = 2
	headerLen     = len(fileMagic) + 2 + 4
	maxBodyLen    = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by every error about a malformed model file.
var ErrCorrupt = errors.New("corrupt model file")

type archJSON struct {
	Window  int     `json:"window"`
	Horizon int     `json:"horizon"`
	Hidden  int     `json:"hidden"`
	Layers  int     `json:"layers"`
	Dropout float64 `json:"dropout"`
	Seed    int64   `json:"seed"`
	// StepMS is Config.Step in milliseconds; absent (0, unknown) in files
	// written before it was recorded, which older builds read unchanged.
	StepMS int64 `json:"step_ms,omitempty"`
}

// MarshalBinary encodes the model in the omen model file format.
func (m *Model) MarshalBinary() ([]byte, error) {
	var body bytes.Buffer
	section := func(p []byte) {
		body.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(p))))
		body.Write(p)
	}
	arch, err := json.Marshal(archJSON{m.cfg.Window, m.cfg.Horizon, m.cfg.Hidden, m.cfg.Layers, m.cfg.Dropout, m.cfg.Seed, m.cfg.Step.Milliseconds()})
	if err != nil {
		return nil, fmt.Errorf("encode architecture: %w", err)
	}
	section(arch)
	fb := binary.LittleEndian.AppendUint32(nil, uint32(len(m.cfg.Features)))
	for _, name := range m.cfg.Features {
		if len(name) > math.MaxUint16 {
			return nil, fmt.Errorf("feature name of %d bytes is too long", len(name))
		}
		fb = binary.LittleEndian.AppendUint16(fb, uint16(len(name)))
		fb = append(fb, name...)
	}
	section(fb)
	norm := make([]byte, 0, 8*m.nf)
	norm = appendFloats(norm, m.mean)
	norm = appendFloats(norm, m.std)
	section(norm)
	th, err := json.Marshal(m.thresholds)
	if err != nil {
		return nil, fmt.Errorf("encode thresholds: %w", err)
	}
	section(th)
	meta, err := json.Marshal(m.meta)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	section(meta)
	ts := layout(m.nf, m.h, m.cfg.Layers)
	wb := make([]byte, 0, 4+len(m.w)*4+len(ts)*32)
	wb = binary.LittleEndian.AppendUint32(wb, uint32(len(ts)))
	for _, ti := range ts {
		wb = binary.LittleEndian.AppendUint16(wb, uint16(len(ti.name)))
		wb = append(wb, ti.name...)
		wb = append(wb, byte(len(ti.shape)))
		for _, d := range ti.shape {
			wb = binary.LittleEndian.AppendUint32(wb, uint32(d))
		}
		wb = appendFloats(wb, m.w[ti.off:ti.off+ti.size])
	}
	section(wb)
	version := uint16(1)
	if len(m.members) > 0 {
		version = 2
		mb := binary.LittleEndian.AppendUint32(nil, uint32(len(m.members)))
		for _, mem := range m.members {
			b, err := mem.MarshalBinary()
			if err != nil {
				return nil, fmt.Errorf("encode ensemble member: %w", err)
			}
			mb = binary.LittleEndian.AppendUint32(mb, uint32(len(b)))
			mb = append(mb, b...)
		}
		section(mb)
	}
	if body.Len() > maxBodyLen {
		return nil, fmt.Errorf("model of %d bytes exceeds the format limit %d", body.Len(), maxBodyLen)
	}
	out := make([]byte, 0, headerLen+body.Len()+4)
	out = append(out, fileMagic...)
	out = binary.LittleEndian.AppendUint16(out, version)
	out = binary.LittleEndian.AppendUint32(out, uint32(body.Len()))
	out = append(out, body.Bytes()...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
	return out, nil
}

func appendFloats(b []byte, v []float32) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// WriteTo writes the model file to w.
func (m *Model) WriteTo(w io.Writer) (int64, error) {
	data, err := m.MarshalBinary()
	if err != nil {
		return 0, err
	}
	n, err := w.Write(data)
	if err != nil {
		return int64(n), fmt.Errorf("write model: %w", err)
	}
	return int64(n), nil
}

// Read reads one model file from r, consuming exactly its bytes. Errors
// about malformed input wrap ErrCorrupt.
func Read(r io.Reader) (*Model, error) {
	hdr := make([]byte, headerLen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%w: read header: %w", ErrCorrupt, err)
	}
	if err := checkHeader(hdr); err != nil {
		return nil, err
	}
	bodyLen := int64(binary.LittleEndian.Uint32(hdr[headerLen-4:]))
	// Grow the buffer as bytes arrive rather than trusting the length.
	var buf bytes.Buffer
	buf.Write(hdr)
	if n, err := io.CopyN(&buf, r, bodyLen+4); err != nil {
		return nil, fmt.Errorf("%w: truncated: have %d of %d bytes after the header: %w", ErrCorrupt, n, bodyLen+4, err)
	}
	return Unmarshal(buf.Bytes())
}

func checkHeader(hdr []byte) error {
	if string(hdr[:len(fileMagic)]) != fileMagic {
		return fmt.Errorf("%w: bad magic %q, want %q", ErrCorrupt, hdr[:len(fileMagic)], fileMagic)
	}
	if v := binary.LittleEndian.Uint16(hdr[len(fileMagic):]); v < 1 || v > formatVersion {
		return fmt.Errorf("%w: format version %d, this build reads versions 1 to %d", ErrCorrupt, v, formatVersion)
	}
	if n := binary.LittleEndian.Uint32(hdr[headerLen-4:]); n > maxBodyLen {
		return fmt.Errorf("%w: body length %d exceeds the limit %d", ErrCorrupt, n, maxBodyLen)
	}
	return nil
}

// Unmarshal decodes a model file. Errors about malformed input wrap
// ErrCorrupt; it never panics and allocates at most a small multiple of
// len(data).
func Unmarshal(data []byte) (*Model, error) {
	if len(data) < headerLen+4 {
		if len(data) >= len(fileMagic)+2 {
			if err := checkHeader(append(data[:len(data):len(data)], make([]byte, headerLen)...)[:headerLen]); err != nil {
				return nil, err
			}
		}
		return nil, fmt.Errorf("%w: %d bytes is shorter than the smallest file", ErrCorrupt, len(data))
	}
	if err := checkHeader(data[:headerLen]); err != nil {
		return nil, err
	}
	bodyLen := int(binary.LittleEndian.Uint32(data[headerLen-4:]))
	if want := headerLen + bodyLen + 4; len(data) != want {
		return nil, fmt.Errorf("%w: length %d, header says %d", ErrCorrupt, len(data), want)
	}
	sum := binary.LittleEndian.Uint32(data[len(data)-4:])
	if got := crc32.Checksum(data[:len(data)-4], castagnoli); got != sum {
		return nil, fmt.Errorf("%w: checksum %08x, file says %08x", ErrCorrupt, got, sum)
	}
	d := &decoder{b: data[headerLen : headerLen+bodyLen], version: binary.LittleEndian.Uint16(data[len(fileMagic):])}
	m, err := d.model()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return m, nil
}

type decoder struct {
	b       []byte
	version uint16
}

func (d *decoder) take(n int, what string) ([]byte, error) {
	if n < 0 || n > len(d.b) {
		return nil, fmt.Errorf("%s: need %d bytes, %d left", what, n, len(d.b))
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p, nil
}

func (d *decoder) u32(what string) (int, error) {
	p, err := d.take(4, what)
	if err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint32(p)), nil
}

func (d *decoder) section(what string) (*decoder, error) {
	n, err := d.u32(what + " length")
	if err != nil {
		return nil, err
	}
	p, err := d.take(n, what)
	if err != nil {
		return nil, err
	}
	return &decoder{b: p}, nil
}

func (d *decoder) floats(dst []float32, what string) error {
	p, err := d.take(4*len(dst), what)
	if err != nil {
		return err
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return nil
}

func (d *decoder) model() (*Model, error) {
	sec, err := d.section("architecture")
	if err != nil {
		return nil, err
	}
	var arch archJSON
	if err := json.Unmarshal(sec.b, &arch); err != nil {
		return nil, fmt.Errorf("architecture: %w", err)
	}
	if sec, err = d.section("features"); err != nil {
		return nil, err
	}
	nf, err := sec.u32("feature count")
	if err != nil {
		return nil, err
	}
	if nf > maxFeatures || nf*2 > len(sec.b) {
		return nil, fmt.Errorf("feature count %d does not fit the section", nf)
	}
	names := make([]string, nf)
	for i := range names {
		p, err := sec.take(2, "feature name length")
		if err != nil {
			return nil, err
		}
		s, err := sec.take(int(binary.LittleEndian.Uint16(p)), "feature name")
		if err != nil {
			return nil, err
		}
		names[i] = string(s)
	}
	if len(sec.b) != 0 {
		return nil, fmt.Errorf("features: %d trailing bytes", len(sec.b))
	}
	cfg := Config{Features: names, Window: arch.Window, Horizon: arch.Horizon, Hidden: arch.Hidden, Layers: arch.Layers, Dropout: arch.Dropout, Seed: arch.Seed}
	if arch.StepMS < 0 || arch.StepMS > int64(math.MaxInt64/time.Millisecond) {
		return nil, fmt.Errorf("architecture: step %d ms out of range", arch.StepMS)
	}
	cfg.Step = time.Duration(arch.StepMS) * time.Millisecond
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("architecture: %w", err)
	}
	nparams := paramCount(nf, cfg.Hidden, cfg.Layers)
	if 4*nparams > len(d.b) {
		return nil, fmt.Errorf("architecture needs %d weights, only %d bytes left", nparams, len(d.b))
	}
	m := newEmpty(cfg)
	if sec, err = d.section("normalisation"); err != nil {
		return nil, err
	}
	mean := make([]float32, nf)
	std := make([]float32, nf)
	if err := sec.floats(mean, "means"); err != nil {
		return nil, err
	}
	if err := sec.floats(std, "stds"); err != nil {
		return nil, err
	}
	if len(sec.b) != 0 {
		return nil, fmt.Errorf("normalisation: %d trailing bytes", len(sec.b))
	}
	if err := m.SetNormalization(mean, std); err != nil {
		return nil, err
	}
	if sec, err = d.section("thresholds"); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(sec.b, &m.thresholds); err != nil {
		return nil, fmt.Errorf("thresholds: %w", err)
	}
	// A critical probability not strictly between the failure threshold
	// and 1 is none (as in a file written before it was recorded): the
	// daemon would otherwise make every alert critical, or none.
	m.thresholds.Critical = ValidCritical(m.thresholds)
	if sec, err = d.section("metadata"); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(sec.b, &m.meta); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if sec, err = d.section("weights"); err != nil {
		return nil, err
	}
	ts := layout(nf, cfg.Hidden, cfg.Layers)
	cnt, err := sec.u32("tensor count")
	if err != nil {
		return nil, err
	}
	if cnt != len(ts) {
		return nil, fmt.Errorf("weights: %d tensors, architecture has %d", cnt, len(ts))
	}
	for _, ti := range ts {
		p, err := sec.take(2, "tensor name length")
		if err != nil {
			return nil, err
		}
		name, err := sec.take(int(binary.LittleEndian.Uint16(p)), "tensor name")
		if err != nil {
			return nil, err
		}
		if string(name) != ti.name {
			return nil, fmt.Errorf("weights: tensor %q where %q belongs", name, ti.name)
		}
		p, err = sec.take(1, "tensor rank")
		if err != nil {
			return nil, err
		}
		if int(p[0]) != len(ti.shape) {
			return nil, fmt.Errorf("tensor %s: rank %d, want %d", ti.name, p[0], len(ti.shape))
		}
		for k, want := range ti.shape {
			dim, err := sec.u32("tensor dimension")
			if err != nil {
				return nil, err
			}
			if dim != want {
				return nil, fmt.Errorf("tensor %s: dimension %d is %d, want %d", ti.name, k, dim, want)
			}
		}
		if err := sec.floats(m.w[ti.off:ti.off+ti.size], "tensor "+ti.name); err != nil {
			return nil, err
		}
	}
	if len(sec.b) != 0 {
		return nil, fmt.Errorf("weights: %d trailing bytes", len(sec.b))
	}
	for i, v := range m.w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("weights: value %d is %v", i, v)
		}
	}
	if d.version >= 2 {
		if m.members, err = d.members(m); err != nil {
			return nil, err
		}
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes after the weights", len(d.b))
	}
	return m, nil
}

// members decodes an ensemble's members section: complete single-network
// model files with m's features, window and horizon.
func (d *decoder) members(m *Model) ([]*Model, error) {
	sec, err := d.section("members")
	if err != nil {
		return nil, err
	}
	cnt, err := sec.u32("member count")
	if err != nil {
		return nil, err
	}
	if cnt < 1 || cnt > len(sec.b)/(headerLen+4) {
		return nil, fmt.Errorf("member count %d does not fit the section", cnt)
	}
	out := make([]*Model, 0, cnt)
	for i := range cnt {
		n, err := sec.u32("member length")
		if err != nil {
			return nil, err
		}
		b, err := sec.take(n, "member")
		if err != nil {
			return nil, err
		}
		if len(b) < headerLen || binary.LittleEndian.Uint16(b[len(fileMagic):]) != 1 {
			return nil, fmt.Errorf("member %d is not a single-network (version 1) model file", i)
		}
		mem, err := Unmarshal(b)
		if err != nil {
			return nil, fmt.Errorf("member %d: %w", i, err)
		}
		if len(mem.members) > 0 || !slices.Equal(mem.cfg.Features, m.cfg.Features) || mem.cfg.Window != m.cfg.Window || mem.cfg.Horizon != m.cfg.Horizon {
			return nil, fmt.Errorf("member %d does not match the model (features, window, horizon) or is itself an ensemble", i)
		}
		out = append(out, mem)
	}
	if len(sec.b) != 0 {
		return nil, fmt.Errorf("members: %d trailing bytes", len(sec.b))
	}
	return out, nil
}
