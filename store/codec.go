package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// Batch encoding, version 1 (see doc.go for the overview):
//
//	byte    codecVersion (1)
//	byte    flags (bit 0: body is snappy-compressed)
//	body:
//	  str     source                 (str = uvarint length, bytes)
//	  uvarint seq
//	  varint  received
//	  uvarint nsym,   nsym × str     symbol table: every label name/value, event source/reason/type
//	  uvarint nsets,  nsets × (uvarint nlabels, nlabels × (uvarint nameSym, uvarint valueSym))
//	  uvarint nsamples
//	  varint  baseT                  (only when nsamples > 0)
//	  nsamples × (uvarint set, varint t-prevT, value)
//	  uvarint nevents
//	  nevents × (varint t-baseT, uvarint sourceSym, uvarint reasonSym, uvarint typeSym,
//	             uvarint count, uvarint set, str message, str uid)
//
// A value is XOR-ed with the previous value of the same label set in the
// batch (0 for the first) and written as one tag byte, high nibble = number
// of leading zero bytes, low nibble = number of trailing zero bytes, followed
// by the remaining middle bytes, most significant first; tag 0x88 means 0.
const (
	codecVersion   = 1
	flagSnappy     = 1 << 0
	maxDecodedBody = 256 << 20 // refuse to inflate absurd snappy payloads
	snappyMinBody  = 512       // smaller bodies are stored raw
)

var errCorrupt = errors.New("corrupt batch encoding")

// batchEncoder holds reusable scratch space; it is not goroutine-safe. Use
// encoderPool.
type batchEncoder struct {
	syms   map[string]uint32
	symLst []string
	sets   map[uint64][]setRef // label hash → candidate sets (collision-checked)
	setLst []labels.Labels
	last   []uint64 // last value bits per set
	refs   []uint32 // per set: nlabels, then name/value symbol refs
	body   []byte
	head   []byte
}

type setRef struct {
	idx uint32
}

var encoderPool = sync.Pool{New: func() any {
	return &batchEncoder{syms: make(map[string]uint32), sets: make(map[uint64][]setRef)}
}}

func (e *batchEncoder) reset() {
	clear(e.syms)
	clear(e.sets)
	e.symLst = e.symLst[:0]
	clear(e.setLst)
	e.setLst = e.setLst[:0]
	e.last = e.last[:0]
	e.refs = e.refs[:0]
	e.body = e.body[:0]
}

func (e *batchEncoder) sym(s string) uint32 {
	if i, ok := e.syms[s]; ok {
		return i
	}
	i := uint32(len(e.symLst))
	e.syms[s] = i
	e.symLst = append(e.symLst, s)
	return i
}

func (e *batchEncoder) set(ls labels.Labels) uint32 {
	h := ls.Hash()
	for _, r := range e.sets[h] {
		if labels.Equal(e.setLst[r.idx], ls) {
			return r.idx
		}
	}
	i := uint32(len(e.setLst))
	e.sets[h] = append(e.sets[h], setRef{idx: i})
	e.setLst = append(e.setLst, ls)
	e.last = append(e.last, 0)
	return i
}

// encodeBatch appends the encoding of b to dst and returns it. compress
// selects snappy for bodies above snappyMinBody bytes.
func encodeBatch(dst []byte, b *telemetry.Batch, compress bool) []byte {
	e := encoderPool.Get().(*batchEncoder)
	defer encoderPool.Put(e)
	e.reset()

	// First pass: intern label sets and symbols.
	sampleSets := make([]uint32, len(b.Samples))
	for i := range b.Samples {
		sampleSets[i] = e.set(b.Samples[i].Labels)
	}
	eventSets := make([]uint32, len(b.Events))
	for i := range b.Events {
		eventSets[i] = e.set(b.Events[i].Labels)
		e.sym(b.Events[i].Source)
		e.sym(b.Events[i].Reason)
		e.sym(b.Events[i].Type)
	}
	// Label symbols, in set order.
	for _, ls := range e.setLst {
		at := len(e.refs)
		e.refs = append(e.refs, 0)
		ls.Range(func(l labels.Label) {
			e.refs = append(e.refs, e.sym(l.Name), e.sym(l.Value))
		})
		e.refs[at] = uint32(len(e.refs)-at-1) / 2
	}

	body := e.body
	body = appendStr(body, b.Source)
	body = binary.AppendUvarint(body, b.Seq)
	body = binary.AppendVarint(body, b.Received)
	body = binary.AppendUvarint(body, uint64(len(e.symLst)))
	for _, s := range e.symLst {
		body = appendStr(body, s)
	}
	body = binary.AppendUvarint(body, uint64(len(e.setLst)))
	for i := 0; i < len(e.refs); {
		n := int(e.refs[i])
		body = binary.AppendUvarint(body, uint64(n))
		for _, r := range e.refs[i+1 : i+1+2*n] {
			body = binary.AppendUvarint(body, uint64(r))
		}
		i += 1 + 2*n
	}
	body = binary.AppendUvarint(body, uint64(len(b.Samples)))
	var baseT int64
	if len(b.Samples) > 0 {
		baseT = b.Samples[0].T
		body = binary.AppendVarint(body, baseT)
	}
	prevT := baseT
	for i := range b.Samples {
		s := &b.Samples[i]
		set := sampleSets[i]
		body = binary.AppendUvarint(body, uint64(set))
		body = binary.AppendVarint(body, s.T-prevT)
		prevT = s.T
		vb := math.Float64bits(s.V)
		body = appendXOR(body, vb^e.last[set])
		e.last[set] = vb
	}
	body = binary.AppendUvarint(body, uint64(len(b.Events)))
	for i := range b.Events {
		ev := &b.Events[i]
		body = binary.AppendVarint(body, ev.T-baseT)
		body = binary.AppendUvarint(body, uint64(e.syms[ev.Source]))
		body = binary.AppendUvarint(body, uint64(e.syms[ev.Reason]))
		body = binary.AppendUvarint(body, uint64(e.syms[ev.Type]))
		body = binary.AppendVarint(body, int64(ev.Count))
		body = binary.AppendUvarint(body, uint64(eventSets[i]))
		body = appendStr(body, ev.Message)
		body = appendStr(body, ev.UID)
	}
	e.body = body

	if compress && len(body) >= snappyMinBody {
		n := snappy.MaxEncodedLen(len(body))
		dst = append(dst, codecVersion, flagSnappy)
		start := len(dst)
		dst = append(dst, make([]byte, n)...)
		enc := snappy.Encode(dst[start:], body)
		return dst[:start+len(enc)]
	}
	dst = append(dst, codecVersion, 0)
	return append(dst, body...)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendXOR(b []byte, x uint64) []byte {
	if x == 0 {
		return append(b, 0x88)
	}
	lead := bits.LeadingZeros64(x) / 8
	trail := bits.TrailingZeros64(x) / 8
	b = append(b, byte(lead<<4|trail))
	for i := 7 - lead; i >= trail; i-- {
		b = append(b, byte(x>>(8*i)))
	}
	return b
}

// decodeBatch decodes data produced by encodeBatch. It never panics on
// arbitrary input and returns an error wrapping errCorrupt for malformed data.
// The returned batch does not alias data.
func decodeBatch(data []byte) (telemetry.Batch, error) {
	var b telemetry.Batch
	if len(data) < 2 {
		return b, fmt.Errorf("%w: %d bytes", errCorrupt, len(data))
	}
	if data[0] != codecVersion {
		return b, fmt.Errorf("%w: unknown version %d", errCorrupt, data[0])
	}
	flags := data[1]
	body := data[2:]
	switch flags {
	case 0:
	case flagSnappy:
		n, err := snappy.DecodedLen(body)
		if err != nil {
			return b, fmt.Errorf("%w: snappy: %v", errCorrupt, err)
		}
		if n > maxDecodedBody {
			return b, fmt.Errorf("%w: body of %d bytes", errCorrupt, n)
		}
		body, err = snappy.Decode(nil, body)
		if err != nil {
			return b, fmt.Errorf("%w: snappy: %v", errCorrupt, err)
		}
	default:
		return b, fmt.Errorf("%w: unknown flags %#x", errCorrupt, flags)
	}
	r := reader{b: body}
	b.Source = r.str()
	b.Seq = r.uvarint()
	b.Received = r.varint()
	nsym := r.count(1)
	syms := make([]string, nsym)
	for i := range syms {
		syms[i] = r.str()
	}
	nsets := r.count(1)
	sets := make([]labels.Labels, nsets)
	sb := labels.NewScratchBuilder(16)
	for i := range sets {
		n := r.count(2)
		sb.Reset()
		prev := ""
		for j := 0; j < n && r.err == nil; j++ {
			name := r.sym(syms)
			value := r.sym(syms)
			if j > 0 && name <= prev {
				r.fail("label names not sorted")
			}
			prev = name
			sb.Add(name, value)
		}
		sets[i] = sb.Labels()
	}
	nsamples := r.count(3)
	var baseT int64
	if nsamples > 0 {
		baseT = r.varint()
	}
	if r.err == nil && nsamples > 0 {
		b.Samples = make([]telemetry.Sample, nsamples)
	}
	last := make([]uint64, nsets)
	prevT := baseT
	for i := 0; i < nsamples && r.err == nil; i++ {
		set := r.index(nsets)
		prevT += r.varint()
		x := r.xor()
		if r.err != nil {
			break
		}
		last[set] ^= x
		b.Samples[i] = telemetry.Sample{Labels: sets[set], T: prevT, V: math.Float64frombits(last[set])}
	}
	nevents := r.count(8)
	if r.err == nil && nevents > 0 {
		b.Events = make([]telemetry.Event, nevents)
	}
	for i := 0; i < nevents && r.err == nil; i++ {
		ev := &b.Events[i]
		ev.T = baseT + r.varint()
		ev.Source = r.sym(syms)
		ev.Reason = r.sym(syms)
		ev.Type = r.sym(syms)
		c := r.varint()
		if c < math.MinInt32 || c > math.MaxInt32 {
			r.fail("event count out of range")
		}
		ev.Count = int(c)
		if set := r.index(nsets); r.err == nil {
			ev.Labels = sets[set]
		}
		ev.Message = r.str()
		ev.UID = r.str()
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	if r.err != nil {
		return telemetry.Batch{}, r.err
	}
	return b, nil
}

// reader is a sticky-error cursor over a byte slice: after the first error
// every method returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errCorrupt, msg)
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads an element count and checks it against the remaining input,
// given that every element takes at least minSize bytes.
func (r *reader) count(minSize int) int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if v > uint64(len(r.b)/minSize) {
		r.fail("count exceeds input")
		return 0
	}
	return int(v)
}

func (r *reader) index(n int) int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if v >= uint64(n) {
		r.fail("reference out of range")
		return 0
	}
	return int(v)
}

func (r *reader) sym(syms []string) string {
	i := r.index(len(syms))
	if r.err != nil {
		return ""
	}
	return syms[i]
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("length exceeds input")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.bytes()) }

func (r *reader) fixed64() uint64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.fail("short fixed64")
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) byte1() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.fail("short input")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) xor() uint64 {
	tag := r.byte1()
	if r.err != nil {
		return 0
	}
	if tag == 0x88 {
		return 0
	}
	lead, trail := int(tag>>4), int(tag&0x0f)
	if lead+trail >= 8 {
		r.fail("bad value tag")
		return 0
	}
	n := 8 - lead - trail
	if len(r.b) < n {
		r.fail("short value")
		return 0
	}
	var x uint64
	for i := 0; i < n; i++ {
		x = x<<8 | uint64(r.b[i])
	}
	r.b = r.b[n:]
	return x << (8 * trail)
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	return r.err
}
