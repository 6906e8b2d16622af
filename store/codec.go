package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"unsafe"

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
//	  uvarint nsets,  nsets × (uvarint nlabels, nlabels × (ref name, ref value))
//	  uvarint nsamples
//	  varint  baseT                  (only when nsamples > 0)
//	  nsamples × (uvarint set, varint t-prevT, value)
//	  uvarint nevents
//	  nevents × (varint t-baseT, str source, str reason, str type,
//	             varint count, uvarint set, str message, str uid)
//
// Each distinct label set of the batch is written once; samples and events
// refer to it by index. A ref is uvarint 0 when the string equals the one
// at the same position of the previous label set (label names nearly
// always, and values like cluster or job often), else uvarint len+1 and the
// bytes. Snappy then squeezes the remaining repetition (pod names, …).
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

var errCorrupt = errors.New("corrupt record encoding")

// IsCorrupt reports whether err comes from a stored record that does not
// decode or does not match its checksum (damaged data, which reading again
// does not mend), rather than from a failure to read it.
func IsCorrupt(err error) bool { return errors.Is(err, errCorrupt) }

// batchEncoder holds reusable scratch space; it is not goroutine-safe. Use
// encoderPool.
type batchEncoder struct {
	// addr maps the address of a label set's bytes to its set, when
	// labels.Labels is one string (telemetry.LabelsHaveAddress): decoders intern
	// label sets, so the samples of one series share an address. An
	// open-addressing table of at least twice as many slots as samples;
	// an equal label set at another address is written twice, which
	// decodes the same.
	addr      []addrSlot
	addrShift uint8
	sets      map[uint64]uint32   // label hash → index of the first set with it
	coll      map[uint64][]uint32 // label hash → further sets with it (collisions)
	setLst    []labels.Labels
	idx       []uint32 // per sample or event: its set
	last      []uint64 // last value bits per set
	prev      []string // previous set's names and values, interleaved
	cur       []string
	body      []byte
}

var encoderPool = sync.Pool{New: func() any {
	return &batchEncoder{sets: make(map[uint64]uint32), coll: make(map[uint64][]uint32)}
}}

func (e *batchEncoder) reset() {
	clear(e.sets)
	clear(e.coll)
	clear(e.setLst)
	e.setLst = e.setLst[:0]
	e.last = e.last[:0]
	e.prev = e.prev[:0]
	e.body = e.body[:0]
}

type addrSlot struct {
	p   *byte
	n   int
	set uint32
}

// sizeAddr prepares the address table for n label sets.
func (e *batchEncoder) sizeAddr(n int) {
	if !telemetry.LabelsHaveAddress() || n < 16 {
		e.addr = e.addr[:0]
		return
	}
	b := bits.Len(uint(2*n - 1))
	if cap(e.addr) < 1<<b {
		e.addr = make([]addrSlot, 1<<b)
	}
	e.addr = e.addr[:1<<b]
	e.addrShift = uint8(64 - b)
}

// setByAddr is set for encoders with an address table.
func (e *batchEncoder) setByAddr(ls labels.Labels) uint32 {
	p, n := telemetry.LabelsData(&ls)
	mask := uint64(len(e.addr) - 1)
	j := (uint64(uintptr(unsafe.Pointer(p))) * 0x9E3779B97F4A7C15) >> e.addrShift
	sl := &e.addr[j]
	for sl.p != nil { // linear probing; the table is at most half full
		if sl.p == p && sl.n == n {
			return sl.set
		}
		j = (j + 1) & mask
		sl = &e.addr[j]
	}
	i := uint32(len(e.setLst))
	e.setLst = append(e.setLst, ls)
	e.last = append(e.last, 0)
	*sl = addrSlot{p: p, n: n, set: i}
	return i
}

func (e *batchEncoder) set(ls labels.Labels) uint32 {
	h := ls.Hash()
	first, ok := e.sets[h]
	if ok {
		if labels.Equal(e.setLst[first], ls) {
			return first
		}
		for _, i := range e.coll[h] {
			if labels.Equal(e.setLst[i], ls) {
				return i
			}
		}
	}
	i := uint32(len(e.setLst))
	if ok {
		e.coll[h] = append(e.coll[h], i)
	} else {
		e.sets[h] = i
	}
	e.setLst = append(e.setLst, ls)
	e.last = append(e.last, 0)
	return i
}

// encodeBatch appends the encoding of b to dst and returns it. compress
// selects snappy for bodies of at least snappyMinBody bytes.
func encodeBatch(dst []byte, b *telemetry.Batch, compress bool) []byte {
	e := encoderPool.Get().(*batchEncoder)
	defer encoderPool.Put(e)
	e.reset()

	e.idx = slices.Grow(e.idx[:0], len(b.Samples)+len(b.Events))
	if e.sizeAddr(len(b.Samples)); len(e.addr) > 0 {
		for i := range b.Samples {
			e.idx = append(e.idx, e.setByAddr(b.Samples[i].Labels))
		}
		clear(e.addr) // drop references to the caller's label sets
	} else {
		for i := range b.Samples {
			e.idx = append(e.idx, e.set(b.Samples[i].Labels))
		}
	}
	for i := range b.Events {
		e.idx = append(e.idx, e.set(b.Events[i].Labels))
	}
	sampleSets, eventSets := e.idx[:len(b.Samples)], e.idx[len(b.Samples):]

	body := e.body
	body = appendStr(body, b.Source)
	body = binary.AppendUvarint(body, b.Seq)
	body = binary.AppendVarint(body, b.Received)
	body = binary.AppendUvarint(body, uint64(len(e.setLst)))
	for _, ls := range e.setLst {
		e.cur = e.cur[:0]
		ls.Range(func(l labels.Label) { e.cur = append(e.cur, l.Name, l.Value) })
		body = binary.AppendUvarint(body, uint64(len(e.cur)/2)) // ls.Len() would decode ls again
		for j, str := range e.cur {
			body = appendRef(body, str, e.prev, j)
		}
		e.prev, e.cur = e.cur, e.prev
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
		body = appendStr(body, ev.Source)
		body = appendStr(body, ev.Reason)
		body = appendStr(body, ev.Type)
		body = binary.AppendVarint(body, int64(ev.Count))
		body = binary.AppendUvarint(body, uint64(eventSets[i]))
		body = appendStr(body, ev.Message)
		body = appendStr(body, ev.UID)
	}
	e.body = body
	clear(e.prev) // drop references to the caller's strings
	clear(e.cur)

	if compress && len(body) >= snappyMinBody {
		start := len(dst)
		dst = append(dst, codecVersion, flagSnappy)
		dst = slices.Grow(dst, snappy.MaxEncodedLen(len(body)))
		enc := snappy.Encode(dst[start+2:cap(dst)], body)
		return dst[:start+2+len(enc)]
	}
	dst = append(dst, codecVersion, 0)
	return append(dst, body...)
}

// appendRef writes s as 0 when it equals prev[j], else as len+1 and bytes.
func appendRef(b []byte, s string, prev []string, j int) []byte {
	if j < len(prev) && prev[j] == s {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(s))+1)
	return append(b, s...)
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
			return b, fmt.Errorf("%w: snappy: %w", errCorrupt, err)
		}
		if n > maxDecodedBody {
			return b, fmt.Errorf("%w: body of %d bytes", errCorrupt, n)
		}
		body, err = snappy.Decode(nil, body)
		if err != nil {
			return b, fmt.Errorf("%w: snappy: %w", errCorrupt, err)
		}
	default:
		return b, fmt.Errorf("%w: unknown flags %#x", errCorrupt, flags)
	}
	// Label strings are sliced from one copy of the body (ScratchBuilder
	// copies them into the Labels), saving an allocation per string.
	r := reader{b: body, s: string(body)}
	b.Source = r.str()
	b.Seq = r.uvarint()
	b.Received = r.varint()
	nsets := r.count(1)
	sets := make([]labels.Labels, nsets)
	sb := labels.NewScratchBuilder(16)
	var prev, cur []string
	for i := range sets {
		n := r.count(2)
		sb.Reset()
		cur = cur[:0]
		for j := 0; j < n && r.err == nil; j++ {
			name := r.ref(prev, 2*j)
			value := r.ref(prev, 2*j+1)
			if j > 0 && name <= cur[2*j-2] {
				r.fail("label names not sorted")
			}
			cur = append(cur, name, value)
			sb.Add(name, value)
		}
		sets[i] = sb.Labels()
		prev, cur = cur, prev
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
		ev.Source = r.str()
		ev.Reason = r.str()
		ev.Type = r.str()
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
	s   string // when set: the full input as a string, so that s[len(s)-len(b):] == string(b)
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

// ref reads a string written by appendRef.
func (r *reader) ref(prev []string, j int) string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n == 0 {
		if j >= len(prev) {
			r.fail("reference to a missing label")
			return ""
		}
		return prev[j]
	}
	n--
	if n > uint64(len(r.b)) {
		r.fail("length exceeds input")
		return ""
	}
	var v string
	if r.s != "" {
		off := len(r.s) - len(r.b)
		v = r.s[off : off+int(n)]
	} else {
		v = string(r.b[:n])
	}
	r.b = r.b[n:]
	return v
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
